"""Devices, slots and cross-process leases for GPU work.

A `GpuPool` knows a list of devices (local CUDA devices such as "cuda:0", or image-server endpoint URLs) and
how many concurrent jobs each takes (`slots_per_device`). Every partition key has a stable preferred device
(`device_for`: sha256 of the key mod the device count, so it survives restarts and differs from Python's
salted `hash`). `lease(key)` takes a slot on the preferred device, or spills over to any device with a free
slot, and holds an OS file lock (`fcntl.flock` on `<lease_dir>/<device>.slot<i>.lock`) for as long as the
`with` block runs: concurrent processes, runs and threads sharing a lease_dir never exceed a device's slots,
and a crashed process releases its slots when the OS closes its files.

With `devices="auto"` the CUDA devices are detected lazily (torch imported only then); none found means
["cpu"] with `fallback_reason` saying why, for the run's metadata. Slots per detected GPU come from the model's
memory (`gpu_ops.memory.plan_slots`: weights once per device, activations per slot, from the device check's
profile when there is one); `describe()` shows each device's plan and why. `gb_per_slot` (one slot per that
many GB) is still accepted for configurations that set it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

from .memory import MemoryProfile, SlotPlan, load_profile, plan_slots

GB = 1024**3


class LeaseTimeout(TimeoutError):
    """No slot on any device became free within the timeout."""


class Lease(str):
    """A held slot. It IS the device name (a str, so it can go wherever a device string goes) and also
    carries `.device`, `.slot`, `.preferred`, `.spilled` and `.lock_path`."""

    def __new__(cls, device: str, slot: int, preferred: str, lock_path: str):
        obj = super().__new__(cls, device)
        obj.device = device
        obj.slot = slot
        obj.preferred = preferred
        obj.lock_path = lock_path
        return obj

    @property
    def spilled(self) -> bool:
        return self.device != self.preferred


def default_lease_dir() -> Path:
    return Path(os.environ.get("SKUSTUDIO_LEASE_DIR") or Path(tempfile.gettempdir()) / "skustudio-gpu-leases")


def device_safe_name(device: str) -> str:
    """A file-name-safe, collision-free name for a device string or endpoint URL."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", device).strip("_")[:60] or "device"
    return f"{safe}-{hashlib.sha256(device.encode('utf-8')).hexdigest()[:8]}"


def stable_index(key: str, n: int) -> int:
    if n <= 0:
        raise ValueError("no devices")
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % n


def detect_cuda_devices(gb_per_slot: float | None = None, profile: MemoryProfile | None = None, max_batch: int = 4,
                        max_slots: int = 8, side: int = 1024, extra_weights_gib: float = 0.0,
                        ) -> tuple[list[str], dict[str, int], str | None, dict]:
    """(devices, slots by device, fallback reason or None, SlotPlan by device). Slots come from the memory
    plan, or from `gb_per_slot` when that is set."""
    try:
        import torch
    except ImportError:
        return ["cpu"], {"cpu": 1}, "torch is not installed; no CUDA devices found", {}
    try:
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception as exc:  # a broken driver should degrade to the CPU, not crash the code location
        return ["cpu"], {"cpu": 1}, f"no CUDA devices found (CUDA error: {type(exc).__name__}: {exc})", {}
    if n == 0:
        return ["cpu"], {"cpu": 1}, "no CUDA devices found", {}
    profile = profile or load_profile()
    devices, slots, plans = [], {}, {}
    for i in range(n):
        name = f"cuda:{i}"
        devices.append(name)
        try:
            total = torch.cuda.get_device_properties(i).total_memory
        except Exception:  # noqa: BLE001 - one unreadable device gets one slot
            slots[name] = 1
            continue
        if gb_per_slot:
            slots[name] = max(1, int(total // int(gb_per_slot * GB)))
        else:
            plans[name] = plan_slots(total / GB, profile, max_batch=max_batch, max_slots=max_slots, side=side,
                                     extra_weights_gib=extra_weights_gib)
            slots[name] = plans[name].slots
    return devices, slots, None, plans


class GpuPool:
    def __init__(
        self,
        devices: list[str] | str | None = "auto",
        slots_per_device: int | None = None,
        lease_dir: str | os.PathLike | None = None,
        gb_per_slot: float | None = None,
        poll_s: float = 0.05,
        memory_profile: MemoryProfile | str | None = None,
        max_batch: int = 4,
        max_slots: int = 8,
        plan_side: int = 1024,
        extra_weights_gib: float = 0.0,
    ):
        if isinstance(devices, str) and devices != "auto":
            devices = [d.strip() for d in devices.split(",") if d.strip()]
        if isinstance(devices, list) and not devices:
            raise ValueError("GpuPool: devices must be 'auto' or a non-empty list")
        if isinstance(devices, list) and len(set(devices)) != len(devices):
            raise ValueError(f"GpuPool: devices listed twice in {devices}")
        if slots_per_device is not None and int(slots_per_device) < 1:
            raise ValueError(f"GpuPool: slots_per_device must be >= 1, got {slots_per_device}")
        self._configured = devices if devices not in (None, "auto") else None
        self._slots_cfg = int(slots_per_device) if slots_per_device is not None else None
        self.lease_dir = Path(lease_dir) if lease_dir else default_lease_dir()
        self.gb_per_slot = gb_per_slot or None
        self.poll_s = poll_s
        self.memory_profile = memory_profile
        self.max_batch = int(max_batch)
        self.max_slots = int(max_slots)
        self.plan_side = int(plan_side)
        self.extra_weights_gib = float(extra_weights_gib)
        self._devices: list[str] | None = None
        self._slots: dict[str, int] = {}
        self._plans: dict[str, SlotPlan] = {}
        self._fallback_reason: str | None = None

    # ------------------------------------------------------------------ devices
    def _ensure(self) -> None:
        if self._devices is not None:
            return
        if self._configured is not None:
            devices = list(self._configured)
            slots = {d: (self._slots_cfg or 1) for d in devices}
            reason = None
        else:
            profile = self.memory_profile
            if profile is None or isinstance(profile, str):
                profile = load_profile(profile)
            devices, mem_slots, reason, self._plans = detect_cuda_devices(
                self.gb_per_slot, profile, max_batch=self.max_batch, max_slots=self.max_slots, side=self.plan_side,
                extra_weights_gib=self.extra_weights_gib)
            slots = {d: (self._slots_cfg or mem_slots.get(d, 1)) for d in devices}
        self._slots, self._fallback_reason, self._devices = slots, reason, devices

    @property
    def devices(self) -> list[str]:
        self._ensure()
        return list(self._devices or [])

    @property
    def fallback_reason(self) -> str | None:
        self._ensure()
        return self._fallback_reason

    def slots(self, device: str) -> int:
        self._ensure()
        return self._slots[device]

    def plan(self, device: str) -> SlotPlan | None:
        """The memory plan of a detected GPU (batch, tiling, offload, why), or None."""
        self._ensure()
        return self._plans.get(device)

    def device_for(self, partition_key: str) -> str:
        """The stable preferred device of a partition key."""
        devs = self.devices
        return devs[stable_index(str(partition_key), len(devs))]

    def describe(self) -> dict:
        self._ensure()
        return {
            "devices": self.devices,
            "slots_per_device": dict(self._slots),
            "fallback_reason": self._fallback_reason,
            "auto_detected": self._configured is None,
            "memory_plans": {d: p.as_dict() for d, p in self._plans.items()},
            "lease_dir": str(self.lease_dir),
        }

    # ------------------------------------------------------------------ leases
    def lock_path(self, device: str, slot: int) -> Path:
        return self.lease_dir / f"{device_safe_name(device)}.slot{slot}.lock"

    def _try_slot(self, device: str, slot: int):
        import fcntl

        path = self.lock_path(device, slot)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd, path

    def _candidates(self, partition_key: str) -> list[str]:
        devs = self.devices
        start = stable_index(str(partition_key), len(devs))
        return [devs[(start + k) % len(devs)] for k in range(len(devs))]

    @contextlib.contextmanager
    def lease(self, partition_key: str, timeout_s: float | None = None, spill: bool = True):
        """Hold a slot: the preferred device's if one is free, else (with `spill`) any device's.
        Waits (polling) until one frees up; raises LeaseTimeout after `timeout_s` (None = wait forever)."""
        self.lease_dir.mkdir(parents=True, exist_ok=True)
        order = self._candidates(partition_key)
        preferred = order[0]
        if not spill:
            order = order[:1]
        deadline = None if timeout_s is None else time.monotonic() + float(timeout_s)
        got = None
        while got is None:
            for dev in order:
                for slot in range(self.slots(dev)):
                    res = self._try_slot(dev, slot)
                    if res is not None:
                        got = (dev, slot, res[0], res[1])
                        break
                if got is not None:
                    break
            if got is None:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LeaseTimeout(
                        f"no free slot for {partition_key!r} within {timeout_s}s on {order} "
                        f"(lease dir {self.lease_dir})"
                    )
                time.sleep(self.poll_s)
        dev, slot, fd, path = got
        try:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"pid={os.getpid()} key={partition_key} since={time.time():.3f}\n".encode("utf-8", "replace"))
            except OSError:
                pass
            yield Lease(device=dev, slot=slot, preferred=preferred, lock_path=str(path))
        finally:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
