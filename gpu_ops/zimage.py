"""Z-Image-Turbo through diffusers, in process.

`ZImageBackend(model).generate(requests)` inpaints the background around each product (mask white =
regenerate) or generates a text-to-image scene and composites the product onto it with the scene matched to
the product's light (`gpu_ops.lighting`); either way the product's own pixels are pasted back exactly
(`gpu_ops.compose.paste_product`, feathered wider than a latent cell). `generate_scenes` returns, per scene,
the image or why it failed, and what made it (for the lineage). torch and diffusers are imported inside
methods, so importing this module costs nothing on a machine without them. Loading: `gpu_ops.zimage_loading`.

Steps: 8 by default (Turbo's distilled schedule in diffusers 0.42.1); with a ControlNet, the inpaint scenes
use the ControlNet version's documented steps and scale (`gpu_ops.controlnet`). Larger-than-native scenes are
generated at `native_max_side`, enlarged, optionally refined by an img2img pass that starts at
`refine_sigma` (`gpu_ops.schedule`), and the product pasted back at full size.

CUDA out of memory: the cache is freed and every scene of the failed batch is retried once alone (batch 1,
VAE tiling on); a scene that fails again fails alone with reason `cuda_out_of_memory`, the others come out.
Later batches are halved. `generate` raises `SceneGenerationError` (which scenes, why) in that case.

Determinism (what the tests hold): one `torch.Generator` per image seeded from the request's seed, on
`generator_device` ("cpu" by default, so the initial noise is the same everywhere). The same requests in the
same batches on the same device class, dtype and attention backend give the same bytes (lineage records
all four). A batch of N and N single calls agree to float rounding only: on a CPU in float32 at most a few
8-bit levels in a few background pixels; in bf16 on a GPU they differ visibly, so byte-identical re-renders
need the same batch composition (or `max_batch=1`). Product pixels are identical either way: pasted back.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from PIL import Image

from .base import (METHOD_CONTROLNET_INPAINT, METHOD_INPAINT, METHOD_TEXT2IMG, METHOD_TEXT2IMG_COMPOSITE,
                   SceneRequest, SceneResult, group_requests, images_or_raise, validate_request)
from .compose import DEFAULT_FEATHER_PX, LATENT_CELL_PX, ShadowSpec
from .control import CONTROL_MODES
from .memory import free_device_memory
from .schedule import (DEFAULT_REFINE_SIGMA, DEFAULT_REFINE_STEPS, DIFFUSERS_TURBO_STEPS, refine_sigmas,
                       strength_start_sigma)
from .speed import MODEL_TOKEN_MULTIPLE, prompt_bucket, prompt_token_count, validate_bucket
from .zimage_loading import DEFAULT_MODEL, LoadedZImage, load_zimage
from .zimage_run import ZImageRunner

log = logging.getLogger(__name__)

UPSCALE_METHODS = ("cpu", "img2img")

_LOAD_LOCK = threading.Lock()
_TOTAL_LOADS = 0


def total_loads() -> int:
    """Model loads performed by any ZImageBackend in this process."""
    return _TOTAL_LOADS


class ZImageBackend(ZImageRunner):
    """In-process Z-Image-Turbo generator (implements `gpu_ops.base.DetailedSceneGenerator`)."""

    backend_name = "diffusers"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        dtype: str = "auto",
        enable_cpu_offload: bool = False,
        enable_vae_tiling: bool = False,
        num_inference_steps: int | None = None,
        guidance_scale: float = 0.0,
        max_batch: int = 4,
        controlnet: str | None = None,
        control_mode: str | None = None,
        controlnet_conditioning_scale: float | None = None,
        upscale: str | None = None,
        upscale_strength: float | None = None,
        feather_px: float = DEFAULT_FEATHER_PX,
        shadow: ShadowSpec | None = None,
        allow_download: bool = False,
        max_sequence_length: int = 512,
        generator_device: str = "cpu",
        native_max_side: int = 1024,
        controlnet_config: str | None = None,
        controlnet_version: str | None = None,
        controlnet_steps: int | None = None,
        refine_sigma: float = DEFAULT_REFINE_SIGMA,
        refine_steps: int = DEFAULT_REFINE_STEPS,
        refine_keep_low_frequencies: bool = True,
        attention_backend: str = "auto",
        compile_blocks: bool = False,
        compile_backend: str = "inductor",
        prompt_bucket_tokens: int = MODEL_TOKEN_MULTIPLE,
        pipeline: Any = None,
    ):
        where = "ZImageBackend"
        if not model:
            raise ValueError(f"{where}: model (a local folder or a hub id) is required")
        steps = DIFFUSERS_TURBO_STEPS if num_inference_steps is None else int(num_inference_steps)
        if steps < 1:
            raise ValueError(f"{where}: num_inference_steps must be >= 1, got {num_inference_steps}")
        if max_batch < 1:
            raise ValueError(f"{where}: max_batch must be >= 1, got {max_batch}")
        if control_mode is not None and control_mode not in CONTROL_MODES:
            raise ValueError(f"{where}: control_mode must be one of {CONTROL_MODES} or None, got {control_mode!r}")
        if control_mode is not None and not controlnet:
            raise ValueError(f"{where}: control_mode={control_mode!r} needs a controlnet model (file, folder or hub id)")
        if upscale is not None and upscale not in UPSCALE_METHODS:
            raise ValueError(f"{where}: upscale must be one of {UPSCALE_METHODS} or None, got {upscale!r}")
        if str(dtype) in ("float16", "fp16", "half"):
            raise ValueError(f"{where}: float16 is not supported by Z-Image (complex RoPE); use bfloat16")
        if native_max_side < 64:
            raise ValueError(f"{where}: native_max_side must be >= 64, got {native_max_side}")
        if 0 < feather_px <= LATENT_CELL_PX:
            raise ValueError(f"{where}: feather_px must be wider than a latent cell ({LATENT_CELL_PX} px) or 0, "
                             f"got {feather_px}: the inpaint mask snaps to {LATENT_CELL_PX}-pixel cells")
        if upscale_strength is not None:
            # What the old setting really meant: strength s starts the img2img pass at this noise level.
            refine_sigma = strength_start_sigma(float(upscale_strength), steps)
            log.warning("%s: upscale_strength=%s is replaced by refine_sigma; it starts at sigma %.3f, which is "
                        "used (0.1 to 0.15 keeps the scene)", where, upscale_strength, refine_sigma)
        refine_sigmas(refine_sigma, refine_steps)  # validates both
        self.model = str(model)
        self.model_id = self.model if pipeline is None else f"{self.model} (adopted pipeline)"
        self.device = device
        self.dtype = dtype
        self.enable_cpu_offload = bool(enable_cpu_offload)
        self.enable_vae_tiling = bool(enable_vae_tiling)
        self.num_inference_steps = steps
        self.guidance_scale = float(guidance_scale)
        self.max_batch = int(max_batch)
        self.effective_max_batch = int(max_batch)  # halved after an out-of-memory
        self.controlnet = controlnet
        self.control_mode = control_mode or ("canny" if controlnet else None)
        self.controlnet_conditioning_scale = controlnet_conditioning_scale
        self.controlnet_config = controlnet_config
        self.controlnet_version = controlnet_version
        self.controlnet_steps = controlnet_steps
        self.upscale = upscale
        self.refine_sigma = float(refine_sigma)
        self.refine_steps = int(refine_steps)
        self.refine_keep_low_frequencies = bool(refine_keep_low_frequencies)
        self.native_max_side = int(native_max_side)
        self.feather_px = float(feather_px)
        self.shadow = shadow
        self.allow_download = bool(allow_download)
        self.max_sequence_length = int(max_sequence_length)
        self.generator_device = generator_device
        self.attention_backend = attention_backend
        self.compile_blocks = bool(compile_blocks)
        self.compile_backend = compile_backend
        self.prompt_bucket_tokens = validate_bucket(prompt_bucket_tokens)
        self.load_count = 0
        self.oom_events = 0
        self.last_refine_sigmas: list[float] = []
        self._lock = threading.RLock()
        self._adopt = pipeline
        self._loaded: LoadedZImage | None = None

    # ------------------------------------------------------------------ loading
    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def pipelines(self) -> dict[str, Any]:
        """The pipelines built so far, by kind ("inpaint", "text2img", "img2img", "controlnet_inpaint")."""
        return dict(self._loaded.pipes) if self._loaded else {}

    def load(self) -> None:
        """Load the weights once (idempotent). Raises ModelNotFoundError when they are missing."""
        global _TOTAL_LOADS
        with self._lock:
            if self._loaded is not None:
                return
            self._loaded = load_zimage(self, pipeline=self._adopt)
            self._adopt = None
            self.load_count += 1
            with _LOAD_LOCK:
                _TOTAL_LOADS += 1
            log.info("loaded %s on %s (%s, attention %s), load #%d", self.model, self._loaded.device,
                     self._loaded.torch_dtype, self._loaded.attention_backend, self.load_count)

    def slot_view(self) -> "ZImageBackend":
        """Another generator over the SAME loaded weights with its own pipelines and schedulers, for a second
        concurrent slot on this device (weights held once; no new load is counted)."""
        self.load()
        if self.enable_cpu_offload:
            raise ValueError("slot_view: with CPU offload every call moves the shared modules; one slot per device")
        view = object.__new__(ZImageBackend)
        view.__dict__.update(self.__dict__)
        view._lock = threading.RLock()
        view._loaded = self._loaded.view()  # type: ignore[union-attr]
        view.last_refine_sigmas = []
        return view

    def _pipe(self, kind: str):
        self.load()
        with self._lock:
            return self._loaded.pipeline(kind)  # type: ignore[union-attr]

    def unload(self) -> None:
        """Drop the pipelines (frees device memory once nothing else holds them)."""
        with self._lock:
            self._loaded = None
        free_device_memory()

    def describe(self) -> dict:
        ld = self._loaded
        return {
            "backend": self.backend_name,
            "model": self.model,
            "device": str(ld.device) if ld else str(self.device),
            "device_class": ld.device_class if ld else None,
            "dtype": str(ld.torch_dtype).replace("torch.", "") if ld else str(self.dtype),
            "attention_backend": ld.attention_backend if ld else self.attention_backend,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "max_batch": self.max_batch,
            "effective_max_batch": self.effective_max_batch,
            "cpu_offload": self.enable_cpu_offload,
            "offload_covers": ld.offload.covered if ld and ld.offload else [],
            "vae_tiling": self.enable_vae_tiling,
            "compiled_blocks": self.compile_blocks,
            "prompt_bucket_tokens": self.prompt_bucket_tokens,
            "controlnet": dict(ld.controlnet_info) if ld and ld.controlnet_info else self.controlnet,
            "control_mode": self.control_mode,
            "upscale": self.upscale,
            "refine_sigma": self.refine_sigma,
            "load_count": self.load_count,
            "oom_events": self.oom_events,
        }

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]:
        """One RGB image per request, in request order; SceneGenerationError when any scene failed."""
        return images_or_raise(self.generate_scenes(requests))

    def generate_scenes(self, requests: list[SceneRequest]) -> list[SceneResult]:
        """Per request: the image and how it was made, or why it failed. Requests are batched by (pipeline,
        size, prompt bucket) up to max_batch."""
        requests = list(requests)
        for r in requests:
            validate_request(r)
        if not requests:
            return []
        self.load()
        native = [self._at_native_size(r) for r in requests]
        kinds = [self._kind(r) for r in native]
        buckets = self._buckets(native)
        keys = [(k, int(r.width), int(r.height), b) for k, r, b in zip(kinds, native, buckets)]
        results: list[SceneResult | None] = [None] * len(requests)
        for batch in group_requests(native, self.effective_max_batch, keys=keys):
            outcomes = self._run_with_oom_retry([native[i] for i in batch], kinds[batch[0]], buckets[batch[0]])
            for i, (image, failure, info) in zip(batch, outcomes):
                if failure is None and native[i] is not requests[i]:
                    image, failure, extra = self._enlarge_guarded(image, requests[i], kinds[i])
                    info.update(extra)
                if failure is not None:
                    results[i] = SceneResult(key=requests[i].key, error=failure)
                else:
                    results[i] = SceneResult(key=requests[i].key, image=image,
                                             generation=self._lineage(requests[i], kinds[i], buckets[i], info))
        return results  # type: ignore[return-value]

    def _kind(self, r: SceneRequest) -> str:
        if r.mode == "inpaint":
            return "controlnet_inpaint" if self.controlnet else "inpaint"
        return "text2img"

    def _buckets(self, reqs: list[SceneRequest]) -> list[int]:
        tokenizer = getattr(self._loaded.pipes["inpaint"], "tokenizer", None)  # type: ignore[union-attr]
        if tokenizer is None:
            return [self.prompt_bucket_tokens] * len(reqs)
        counts = {p: prompt_token_count(tokenizer, p, self.max_sequence_length) for p in {r.prompt for r in reqs}}
        return [prompt_bucket(counts[r.prompt], self.prompt_bucket_tokens) for r in reqs]

    def _lineage(self, r: SceneRequest, kind: str, bucket: int, info: dict) -> dict:
        ld = self._loaded
        steps, scale = self._steps_for(kind)
        method = {"inpaint": METHOD_INPAINT, "controlnet_inpaint": METHOD_CONTROLNET_INPAINT}.get(kind)
        if method is None:
            method = METHOD_TEXT2IMG_COMPOSITE if r.init_image is not None else METHOD_TEXT2IMG
        out = {
            "backend": self.backend_name, "method": method, "model": self.model_id,
            "device_class": ld.device_class, "dtype": str(ld.torch_dtype).replace("torch.", ""),  # type: ignore[union-attr]
            "attention_backend": ld.attention_backend, "steps": steps,  # type: ignore[union-attr]
            "guidance_scale": self.guidance_scale, "prompt_bucket_tokens": bucket,
            "cpu_offload": self.enable_cpu_offload, "compiled_blocks": self.compile_blocks,
            "feather_px": self.feather_px, "fallback": None,
        }
        if kind == "controlnet_inpaint":
            out["controlnet"] = {**ld.controlnet_info, "mode": self.control_mode, "conditioning_scale": scale}  # type: ignore[union-attr]
        out.update(info)
        return out
