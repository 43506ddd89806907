"""Z-Image-Turbo through diffusers, in process.

`ZImageBackend(model).generate(requests)` inpaints the background around each product (mask white =
regenerate) or generates a text-to-image scene, then pastes the product's own pixels back exactly
(`gpu_ops.compose.paste_product`). torch and diffusers are imported inside methods, so importing this
module costs nothing on a machine without them.

Loading: `from_pretrained` of a local folder or a hub id, never blocking on the network unless
`allow_download=True` (a hub id is then looked up in the local Hugging Face cache only). The components
are loaded once (`ZImageInpaintPipeline`); the text-to-image, img2img and ControlNet pipelines share them
through `from_pipe`. `load_count` (per instance) and `total_loads()` (per process) count real loads.

Determinism: one `torch.Generator` per image seeded from the request's seed. Generators live on
`generator_device` ("cpu" by default: the initial noise is then the same on every machine; diffusers
moves it to the execution device). Same requests in the same batches give the same bytes. A batch of N and
N single calls agree to float rounding only (about 1e-6 before quantisation on the CPU, i.e. at most one
8-bit level in a few background pixels); product pixels are identical either way because they are pasted
back. Set `max_batch=1` where byte-identity across different batchings matters more than throughput.
"""
from __future__ import annotations

import logging
import dataclasses
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from skucore.base.types import SceneRequest

from .base import ModelNotFoundError, group_requests, validate_request
from .compose import ShadowSpec, paste_product, upscale_cpu
from .compose import upscale_scene as _upscale_scene
from .control import CONTROL_MODES, control_image

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Tongyi-MAI/Z-Image-Turbo"
UPSCALE_METHODS = ("cpu", "img2img")

_LOAD_LOCK = threading.Lock()
_TOTAL_LOADS = 0


def total_loads() -> int:
    """Model loads performed by any ZImageBackend in this process."""
    return _TOTAL_LOADS


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub always ships with diffusers
        return os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")


def _looks_like_path(model: str) -> bool:
    if model.startswith(("/", ".", "~")) or "\\" in model:
        return True
    return model.count("/") != 1


def _how_to_get(model: str) -> str:
    hub_id = model if not _looks_like_path(model) else DEFAULT_MODEL
    return (
        f"Download the weights on a machine with internet access, e.g. "
        f"`huggingface-cli download {hub_id} --local-dir /models/Z-Image-Turbo`, copy the folder here and "
        f"point the model setting at it (or pre-fill the Hugging Face cache and set allow_download only "
        f"where the network is reachable)."
    )


def _pad_to_multiple(img: Image.Image, multiple: int, fill_mask: bool) -> Image.Image:
    w, h = img.size
    pw, ph = math.ceil(w / multiple) * multiple, math.ceil(h / multiple) * multiple
    if (pw, ph) == (w, h):
        return img
    arr = np.asarray(img)
    pad = ((0, ph - h), (0, pw - w)) + (((0, 0),) if arr.ndim == 3 else ())
    if fill_mask:
        out = np.pad(arr, pad, mode="constant", constant_values=255)
    else:
        out = np.pad(arr, pad, mode="edge")
    return Image.fromarray(out, img.mode)


class ZImageBackend:
    """In-process Z-Image-Turbo generator (implements `gpu_ops.base.SceneGenerator`)."""

    backend_name = "diffusers"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        dtype: str = "auto",
        enable_cpu_offload: bool = False,
        enable_vae_tiling: bool = False,
        num_inference_steps: int = 9,
        guidance_scale: float = 0.0,
        max_batch: int = 4,
        controlnet: str | None = None,
        control_mode: str | None = None,
        controlnet_conditioning_scale: float = 0.75,
        upscale: str | None = None,
        upscale_strength: float = 0.3,
        feather_px: float = 2.0,
        shadow: ShadowSpec | None = None,
        allow_download: bool = False,
        max_sequence_length: int = 512,
        generator_device: str = "cpu",
        native_max_side: int = 1024,
    ):
        if not model:
            raise ValueError("ZImageBackend: model (a local folder or a hub id) is required")
        if num_inference_steps < 1:
            raise ValueError(f"ZImageBackend: num_inference_steps must be >= 1, got {num_inference_steps}")
        if max_batch < 1:
            raise ValueError(f"ZImageBackend: max_batch must be >= 1, got {max_batch}")
        if control_mode is not None and control_mode not in CONTROL_MODES:
            raise ValueError(f"ZImageBackend: control_mode must be one of {CONTROL_MODES} or None, got {control_mode!r}")
        if control_mode is not None and not controlnet:
            raise ValueError(f"ZImageBackend: control_mode={control_mode!r} needs a controlnet model (path or hub id)")
        if controlnet and control_mode is None:
            control_mode = "canny"
        if upscale is not None and upscale not in UPSCALE_METHODS:
            raise ValueError(f"ZImageBackend: upscale must be one of {UPSCALE_METHODS} or None, got {upscale!r}")
        if not 0.0 < upscale_strength <= 1.0:
            raise ValueError(f"ZImageBackend: upscale_strength must be in (0, 1], got {upscale_strength}")
        if str(dtype) in ("float16", "fp16", "half"):
            raise ValueError("ZImageBackend: float16 is not supported by Z-Image (complex RoPE); use bfloat16")
        self.model = str(model)
        self.model_id = self.model
        self.device = device
        self.dtype = dtype
        self.enable_cpu_offload = bool(enable_cpu_offload)
        self.enable_vae_tiling = bool(enable_vae_tiling)
        self.num_inference_steps = int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.max_batch = int(max_batch)
        self.controlnet = controlnet
        self.control_mode = control_mode
        self.controlnet_conditioning_scale = float(controlnet_conditioning_scale)
        self.upscale = upscale
        self.upscale_strength = float(upscale_strength)
        if native_max_side < 64:
            raise ValueError(f"ZImageBackend: native_max_side must be >= 64, got {native_max_side}")
        # Scenes larger than this are generated at the model's native size and enlarged afterwards (upscale
        # "cpu": Lanczos + unsharp; "img2img": plus a low-strength refinement), then the product is pasted back
        # at full size from the request's own pixels.
        self.native_max_side = int(native_max_side)
        self.feather_px = float(feather_px)
        self.shadow = shadow
        self.allow_download = bool(allow_download)
        self.max_sequence_length = int(max_sequence_length)
        self.generator_device = generator_device
        self.load_count = 0
        self._lock = threading.RLock()
        self._pipes: dict[str, Any] = {}
        self._device = None
        self._torch_dtype = None
        self._multiple = 16

    # ------------------------------------------------------------------ loading
    @property
    def loaded(self) -> bool:
        return "inpaint" in self._pipes

    def _resolve_device(self):
        import torch

        dev = self.device
        if dev in (None, "", "auto"):
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(dev)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"ZImageBackend: device {dev} requested but torch sees no CUDA device")
        return dev

    def _resolve_dtype(self, device):
        import torch

        name = str(self.dtype).replace("torch.", "")
        if name in ("auto", "", "None"):
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
        if name not in table:
            raise ValueError(f"ZImageBackend: dtype must be auto, bfloat16 or float32, got {self.dtype!r}")
        return table[name]

    def _resolve_source(self, what: str, name: str, marker: str) -> tuple[str, bool]:
        """(source, is_local). Raises ModelNotFoundError for a path that does not hold a model."""
        p = Path(name).expanduser()
        if p.exists():
            if not (p / marker).is_file():
                raise ModelNotFoundError(
                    f"{what} folder {p.resolve()} has no {marker}: it is not a diffusers {what} folder. "
                    + _how_to_get(self.model)
                )
            return str(p), True
        if _looks_like_path(name):
            raise ModelNotFoundError(
                f"{what} not found: looked for the local folder {p.resolve()} (does not exist). " + _how_to_get(self.model)
            )
        return name, False

    def _hub_error(self, what: str, name: str, exc: Exception) -> ModelNotFoundError:
        mode = "the local cache only (allow_download is off)" if not self.allow_download else "the hub and the local cache"
        return ModelNotFoundError(
            f"{what} {name!r} could not be loaded: looked in {mode}, Hugging Face cache dir {_hf_cache_dir()} "
            f"({type(exc).__name__}: {exc}). " + _how_to_get(name)
        )

    def load(self) -> None:
        """Load the weights once (idempotent). Raises ModelNotFoundError when they are missing."""
        global _TOTAL_LOADS
        with self._lock:
            if self.loaded:
                return
            import torch  # noqa: F401
            from diffusers import ZImageInpaintPipeline

            device = self._resolve_device()
            torch_dtype = self._resolve_dtype(device)
            source, local = self._resolve_source("model", self.model, "model_index.json")
            kwargs: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": local or not self.allow_download}
            try:
                pipe = ZImageInpaintPipeline.from_pretrained(source, **kwargs)
            except (OSError, ValueError) as exc:
                if local:
                    raise
                raise self._hub_error("model", source, exc) from exc

            cn_model = None
            if self.controlnet:
                from diffusers import ZImageControlNetModel

                cn_source, cn_local = self._resolve_source("controlnet", self.controlnet, "config.json")
                try:
                    cn_model = ZImageControlNetModel.from_pretrained(
                        cn_source, dtype=torch_dtype, local_files_only=cn_local or not self.allow_download
                    )
                except (OSError, ValueError) as exc:
                    if cn_local:
                        raise
                    raise self._hub_error("controlnet", cn_source, exc) from exc

            pipe.set_progress_bar_config(disable=True)
            offload = self.enable_cpu_offload and device.type == "cuda"
            if cn_model is not None and not offload:
                cn_model.to(device)
            if offload:
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)
            if self.enable_vae_tiling:
                pipe.vae.enable_tiling()
            self._device = device
            self._torch_dtype = torch_dtype
            self._multiple = int(getattr(pipe, "vae_scale_factor", 8)) * 2
            self._pipes = {"inpaint": pipe}
            if cn_model is not None:
                from diffusers import ZImageControlNetInpaintPipeline

                # from_pipe casts every shared module to its `dtype` argument (float32 when omitted): pass ours.
                cn_pipe = ZImageControlNetInpaintPipeline.from_pipe(pipe, controlnet=cn_model, dtype=torch_dtype)
                cn_pipe.set_progress_bar_config(disable=True)
                if offload:
                    cn_pipe.enable_model_cpu_offload(device=device)
                self._pipes["controlnet_inpaint"] = cn_pipe
            self.load_count += 1
            with _LOAD_LOCK:
                _TOTAL_LOADS += 1
            log.info("loaded %s on %s (%s), load #%d", self.model, device, torch_dtype, self.load_count)

    def _pipe(self, kind: str):
        """The pipeline for `kind` ("inpaint", "text2img", "img2img", "controlnet_inpaint"), sharing components."""
        self.load()
        with self._lock:
            if kind in self._pipes:
                return self._pipes[kind]
            base = self._pipes["inpaint"]
            if kind == "text2img":
                from diffusers import ZImagePipeline as cls
            elif kind == "img2img":
                from diffusers import ZImageImg2ImgPipeline as cls
            else:
                raise KeyError(kind)
            # from_pipe casts the shared modules to `dtype` (float32 when omitted, which would undo bf16).
            pipe = cls.from_pipe(base, dtype=self._torch_dtype)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[kind] = pipe
            return pipe

    def unload(self) -> None:
        """Drop the pipelines (frees device memory once nothing else holds them)."""
        with self._lock:
            self._pipes = {}
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "model": self.model,
            "device": str(self._device) if self._device is not None else str(self.device),
            "dtype": str(self._torch_dtype).replace("torch.", "") if self._torch_dtype is not None else str(self.dtype),
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "max_batch": self.max_batch,
            "cpu_offload": self.enable_cpu_offload,
            "vae_tiling": self.enable_vae_tiling,
            "controlnet": self.controlnet,
            "control_mode": self.control_mode,
            "upscale": self.upscale,
            "load_count": self.load_count,
        }

    # ------------------------------------------------------------------ generation
    def _generators(self, seeds: list[int]):
        import torch

        dev = self.generator_device or "cpu"
        if dev == "device":
            dev = self._device
        return [torch.Generator(device=dev).manual_seed(int(s)) for s in seeds]

    def _common_kwargs(self, reqs: list[SceneRequest], width: int, height: int) -> dict:
        kw: dict[str, Any] = {
            "prompt": [r.prompt for r in reqs],
            "height": height,
            "width": width,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "generator": self._generators([r.seed for r in reqs]),
            "max_sequence_length": self.max_sequence_length,
        }
        if self.guidance_scale > 0:
            kw["negative_prompt"] = [r.negative_prompt or "" for r in reqs]
        return kw

    def _run_batch(self, reqs: list[SceneRequest]) -> list[Image.Image]:
        import torch

        w, h = int(reqs[0].width), int(reqs[0].height)
        m = self._multiple
        pw, ph = math.ceil(w / m) * m, math.ceil(h / m) * m
        kw = self._common_kwargs(reqs, pw, ph)
        mode = reqs[0].mode
        with torch.inference_mode():
            if mode == "inpaint":
                inits = [_pad_to_multiple(r.init_image.convert("RGB"), m, fill_mask=False) for r in reqs]
                masks = [_pad_to_multiple(r.mask.convert("L"), m, fill_mask=True) for r in reqs]
                if "controlnet_inpaint" in self._pipes:
                    ctrls = [control_image(self.control_mode, i, k) for i, k in zip(inits, masks)]
                    images = self._pipes["controlnet_inpaint"](
                        image=inits,
                        mask_image=masks,
                        control_image=ctrls,
                        controlnet_conditioning_scale=self.controlnet_conditioning_scale,
                        **kw,
                    ).images
                else:
                    images = self._pipe("inpaint")(image=inits, mask_image=masks, strength=1.0, **kw).images
            else:
                images = self._pipe("text2img")(**kw).images
        out = []
        for r, im in zip(reqs, images):
            im = im.convert("RGB")
            if im.size != (pw, ph):  # a pipeline that rounded the size differently: never stretch the product
                im = im.resize((pw, ph), Image.LANCZOS)
            im = im.crop((0, 0, w, h))
            if r.init_image is not None and r.mask is not None:
                im = paste_product(im, r.init_image, r.mask, feather_px=self.feather_px, shadow=self.shadow)
            out.append(im)
        return out

    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]:
        """One RGB image per request, in request order; requests are batched by (mode, size) up to max_batch."""
        requests = list(requests)
        for r in requests:
            validate_request(r)
        if not requests:
            return []
        self.load()
        native = [self._at_native_size(r) for r in requests]
        results: list[Image.Image | None] = [None] * len(requests)
        for batch in group_requests(native, self.max_batch):
            images = self._run_batch([native[i] for i in batch])
            for i, im in zip(batch, images):
                results[i] = im if native[i] is requests[i] else self._enlarge(im, requests[i])
        return results  # type: ignore[return-value]

    def _at_native_size(self, r: SceneRequest) -> SceneRequest:
        """`r` itself when it fits the model's native size, else a copy scaled down to it (multiples of 16)."""
        w, h = int(r.width), int(r.height)
        if max(w, h) <= self.native_max_side:
            return r
        scale = self.native_max_side / max(w, h)
        m = self._multiple
        nw, nh = max(m, round(w * scale / m) * m), max(m, round(h * scale / m) * m)
        return dataclasses.replace(
            r,
            width=nw,
            height=nh,
            init_image=r.init_image.convert("RGB").resize((nw, nh), Image.LANCZOS) if r.init_image is not None else None,
            mask=r.mask.convert("L").resize((nw, nh), Image.BILINEAR) if r.mask is not None else None,
        )

    def _enlarge(self, image: Image.Image, r: SceneRequest) -> Image.Image:
        """A native-size scene back to the request's size; the product pasted back from the request's pixels."""
        big = upscale_cpu(image, (int(r.width), int(r.height)))
        if self.upscale == "img2img":
            big = self.refine(big, prompt=r.prompt, seed=r.seed)
        if r.init_image is not None and r.mask is not None:
            big = paste_product(big, r.init_image, r.mask, feather_px=self.feather_px, shadow=self.shadow)
        return big

    # ------------------------------------------------------------------ detail
    def refine(self, image: Image.Image, prompt: str = "", seed: int = 0, strength: float | None = None) -> Image.Image:
        """A low-strength img2img pass over `image` (same size back)."""
        import torch

        strength = self.upscale_strength if strength is None else float(strength)
        pipe = self._pipe("img2img")
        w, h = image.size
        padded = _pad_to_multiple(image.convert("RGB"), self._multiple, fill_mask=False)
        steps = max(self.num_inference_steps, math.ceil(1.0 / strength))
        with torch.inference_mode():
            out = pipe(
                prompt=prompt,
                image=padded,
                strength=strength,
                height=padded.size[1],
                width=padded.size[0],
                num_inference_steps=steps,
                guidance_scale=self.guidance_scale,
                generator=self._generators([seed]),
                max_sequence_length=self.max_sequence_length,
            ).images[0]
        return out.convert("RGB").crop((0, 0, w, h))

    def upscale_scene(
        self,
        image: Image.Image,
        target_size: tuple[int, int],
        product_rgba: Image.Image | None,
        product_box: tuple[int, int, int, int] | None,
        method: str | None = None,
        prompt: str = "",
        seed: int = 0,
    ) -> Image.Image:
        """Enlarge to `target_size` with `method` (default: this backend's `upscale` setting, else "cpu")
        and paste the product back at that scale (see `gpu_ops.compose.upscale_scene`)."""
        method = method or self.upscale or "cpu"
        refiner = (lambda im: self.refine(im, prompt=prompt, seed=seed)) if method == "img2img" else None
        return _upscale_scene(image, target_size, product_rgba, product_box, method=method, refiner=refiner,
                              feather_px=self.feather_px)
