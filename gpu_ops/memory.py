"""How many scenes a device can hold at once, from the model's memory, not from a constant; and what to do
when CUDA runs out anyway.

A device process holds the weights ONCE (text encoder, transformer, VAE, ControlNet when used); every slot on
the device adds its activations (the transformer's and the VAE decode's, which grow with batch size and
pixels). So `slots = (usable memory - weights) // activations(batch)`, for the largest batch that fits.

The figures come from the device check (`bench/device_check.py`), which measures peak memory per batch size
on the real architecture and writes a JSON profile; sizing reads it when present (`SKUSTUDIO_DEVICE_PROFILE`,
else `~/.cache/skustudio/device_check.json`). Without one, estimates from the model's published sizes are
used (`ESTIMATED_PROFILE`) and the plan says so. A profile written in the device check's `--tiny` form (a toy
model, for CI) is never used for sizing.

Examples with the estimates, sized for 1024 x 1024 scenes: a 24 GB card gets 1 slot of batch 1 with VAE
tiling; an H200 (~140 GiB) gets batches of 4 in as many slots as fit (capped by `max_slots`).
"""
from __future__ import annotations

import gc
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

GIB = 1024**3
PROFILE_SCHEMA = "skustudio.device_check/1"
REFERENCE_RESOLUTION = (1024, 768)


@dataclass(frozen=True)
class MemoryProfile:
    """Weights (GiB, held once per device process) and activations per batch size (GiB, per slot) at
    `resolution`; `tiled_activation_gib` the same with VAE tiling. `source` says where the figures come from."""

    weights_gib: float
    activation_gib: dict[int, float]
    tiled_activation_gib: dict[int, float]
    resolution: tuple[int, int] = REFERENCE_RESOLUTION
    source: str = "estimate"
    text_encoder_gib: float = 7.5  # the part CPU offload can keep off the device while the transformer runs

    def activations(self, batch: int, pixels: int, tiled: bool) -> float:
        """Activations (GiB) of one slot at `batch` images of `pixels` pixels each; linear in batch beyond
        the measured sizes, linear in pixels."""
        if tiled:
            table = self.tiled_activation_gib or {b: v * _TILED_RATIO for b, v in self.activation_gib.items()}
        else:
            table = self.activation_gib
        scale = pixels / float(self.resolution[0] * self.resolution[1])
        return _interpolate(table, batch) * scale


# What tiling saves when it was not measured: the VAE decode (about half the activations at batch 1 and
# 1024 px) drops to a tile's worth.
_TILED_RATIO = 0.6

# From the published sizes (../shared/reference/zimage-architecture.md): 19.1 GiB of bf16 weights; about
# 1 to 1.5 GiB per image for the VAE decode at 1024 px plus the transformer's activations. Estimates, not
# measurements: the device check replaces them.
ESTIMATED_PROFILE = MemoryProfile(
    weights_gib=19.1,
    activation_gib={1: 2.6, 2: 4.6, 4: 8.6},
    tiled_activation_gib={1: 1.6, 2: 2.6, 4: 4.6},
    source="estimate from the model's published sizes (no device check profile found)",
)


def _interpolate(table: dict[int, float], batch: int) -> float:
    pts = sorted((int(b), float(v)) for b, v in table.items())
    if not pts:
        raise ValueError("empty activation table")
    exact = dict(pts)
    if batch in exact:
        return exact[batch]
    if len(pts) == 1:
        return pts[0][1] * batch / pts[0][0]
    if batch < pts[0][0]:
        (b0, v0), (b1, v1) = pts[0], pts[1]
    elif batch > pts[-1][0]:
        (b0, v0), (b1, v1) = pts[-2], pts[-1]
    else:
        (b0, v0), (b1, v1) = next((lo, hi) for lo, hi in zip(pts, pts[1:]) if lo[0] < batch < hi[0])
    slope = (v1 - v0) / (b1 - b0)
    return max(0.05, v0 + slope * (batch - b0))


def default_profile_path() -> Path:
    env = os.environ.get("SKUSTUDIO_DEVICE_PROFILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "skustudio" / "device_check.json"


def profile_from_check(data: dict, source: str = "device check") -> MemoryProfile:
    """A MemoryProfile from the device check's JSON (see bench/device_check.py). Raises ValueError for a
    file that is not one, or one written in the --tiny form."""
    if data.get("schema") != PROFILE_SCHEMA:
        raise ValueError(f"not a device check profile (schema {data.get('schema')!r}, expected {PROFILE_SCHEMA!r})")
    if data.get("tiny"):
        raise ValueError("a --tiny device check (toy model) says nothing about real memory; run it without --tiny")
    weights = float(data["weights_gib"])
    act = {int(r["batch"]): max(0.05, float(r["peak_gib"]) - weights) for r in data.get("batches", []) if r.get("peak_gib")}
    if not act:
        raise ValueError("the device check profile has no peak memory per batch size")
    tiled = {int(r["batch"]): max(0.05, float(r["peak_gib"]) - weights) for r in data.get("tiled_batches", []) if r.get("peak_gib")}
    res = tuple(int(v) for v in data.get("resolution", REFERENCE_RESOLUTION))
    where = f"{source}: {data.get('device_name', '?')}, {data.get('dtype', '?')}, {data.get('created', '?')}"
    return MemoryProfile(weights_gib=weights, activation_gib=act, tiled_activation_gib=tiled, resolution=res,  # type: ignore[arg-type]
                         source=where, text_encoder_gib=float(data.get("text_encoder_gib", 7.5)))


def load_profile(path: str | os.PathLike | None = None) -> MemoryProfile:
    """The device check's profile at `path` (default: `default_profile_path()`) when it exists and is
    usable, else ESTIMATED_PROFILE (the reason is logged and kept in `source`)."""
    p = Path(path) if path else default_profile_path()
    if not p.is_file():
        return ESTIMATED_PROFILE
    try:
        return profile_from_check(json.loads(p.read_text(encoding="utf-8")), source=f"device check {p}")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        log.warning("device profile %s not used: %s", p, exc)
        return MemoryProfile(**{**asdict(ESTIMATED_PROFILE), "source": f"estimate ({p} not used: {exc})"})


@dataclass(frozen=True)
class SlotPlan:
    """How a device is used: `slots` concurrent batches of up to `batch` scenes, with VAE tiling / model CPU
    offload when needed; `reason` explains the figures."""

    slots: int
    batch: int
    vae_tiling: bool
    cpu_offload: bool
    reason: str
    figures: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def plan_slots(total_gib: float, profile: MemoryProfile = ESTIMATED_PROFILE, max_batch: int = 4, max_slots: int = 8,
               side: int = 1024, extra_weights_gib: float = 0.0, reserve_gib: float | None = None) -> SlotPlan:
    """Slots and batch size for a device with `total_gib` of memory running scenes up to `side` x `side`.

    Prefers the largest batch (up to `max_batch`) that fits without VAE tiling with 10% to spare, then as many
    slots of it as fit (up to `max_slots`); else batch 1 with tiling; else model CPU offload (the text encoder
    leaves the device while the transformer runs). `extra_weights_gib`: a ControlNet's weights, say."""
    if max_batch < 1 or max_slots < 1:
        raise ValueError("max_batch and max_slots must be >= 1")
    reserve = reserve_gib if reserve_gib is not None else 1.0 + 0.03 * total_gib  # CUDA context, fragmentation
    weights = profile.weights_gib + extra_weights_gib
    free = total_gib - reserve - weights
    pixels = side * side
    figures = {"total_gib": round(total_gib, 2), "reserve_gib": round(reserve, 2), "weights_gib": round(weights, 2),
               "free_for_activations_gib": round(free, 2), "side": side, "profile": profile.source}
    for batch in sorted({b for b in (max_batch, 4, 2, 1) if b <= max_batch}, reverse=True):
        need = profile.activations(batch, pixels, tiled=False)
        if need * 1.1 <= free:
            slots = max(1, min(max_slots, int(free // (need * 1.1))))
            figures["activations_per_slot_gib"] = round(need, 2)
            return SlotPlan(slots, batch, False, False,
                            f"weights {weights:.1f} GiB once + {slots} slot(s) x {need:.1f} GiB (batch {batch}) "
                            f"of {total_gib:.1f} GiB", figures)
    tiled = profile.activations(1, pixels, tiled=True)
    figures["activations_per_slot_gib"] = round(tiled, 2)
    if tiled <= free:
        return SlotPlan(1, 1, True, False,
                        f"weights {weights:.1f} GiB leave {free:.1f} GiB: one slot, batch 1, VAE tiling "
                        f"({tiled:.1f} GiB)", figures)
    offload_peak = max(profile.text_encoder_gib, weights - profile.text_encoder_gib) + tiled
    figures["offload_peak_gib"] = round(offload_peak, 2)
    if offload_peak <= total_gib - reserve:
        return SlotPlan(1, 1, True, True,
                        f"weights {weights:.1f} GiB do not fit with activations in {total_gib:.1f} GiB: one slot, "
                        f"batch 1, VAE tiling, model CPU offload (peak about {offload_peak:.1f} GiB)", figures)
    return SlotPlan(1, 1, True, True,
                    f"the model does not fit in {total_gib:.1f} GiB even with CPU offload (needs about "
                    f"{offload_peak:.1f} GiB); expect out-of-memory failures", figures)


def device_total_gib(device: str) -> float | None:
    """Total memory of a CUDA device in GiB, or None for anything else (the CPU, an endpoint URL)."""
    if not str(device).startswith("cuda"):
        return None
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        index = int(str(device).split(":", 1)[1]) if ":" in str(device) else 0
        return torch.cuda.get_device_properties(index).total_memory / GIB
    except Exception:  # noqa: BLE001 - a broken driver: no sizing, the caller keeps its defaults
        return None


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA (or another accelerator's) out-of-memory errors, whatever wraps them."""
    try:
        import torch

        oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                      getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)) if t)
        if oom_types and isinstance(exc, oom_types):
            return True
    except ImportError:  # pragma: no cover - torch ships with the GPU extra
        pass
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and ("out of memory" in text or "outofmemory" in text)


def free_device_memory() -> None:
    """Drop what Python still references from a failed step and hand cached blocks back to the driver."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing memory must never raise over the original error
        pass
