"""How `ZImageBackend` runs the model: batches with the out-of-memory retry, the product put back, and the
enlargement / refine pass of scenes larger than the model's native size. A mixin of `gpu_ops.zimage.ZImageBackend`
(which holds the settings and the loaded pipelines); see that module for the behaviour.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from PIL import Image

from .base import CUDA_OUT_OF_MEMORY, GENERATION_ERROR, SceneFailure, SceneRequest
from .compose import (LATENT_CELL_PX, latent_safe_mask, pad_to_multiple, paste_product, restore_low_frequencies,
                      upscale_cpu)
from .compose import upscale_scene as compose_upscale_scene
from .control import control_image
from .lighting import composite_with_light
from .memory import free_device_memory, is_out_of_memory
from .schedule import refine_sigmas
from .speed import MODEL_TOKEN_MULTIPLE, pad_prompt_embeds

log = logging.getLogger(__name__)


class ZImageRunner:
    """Generation internals of ZImageBackend (settings and `_loaded` live there)."""

    def _steps_for(self, kind: str) -> tuple[int, float | None]:
        preset = self._loaded.controlnet_preset if self._loaded else None
        if kind == "controlnet_inpaint" and preset is not None:
            steps = self.controlnet_steps or preset.steps
            scale = self.controlnet_conditioning_scale
            return steps, preset.conditioning_scale if scale is None else float(scale)
        return self.num_inference_steps, None

    def _generators(self, seeds: list[int]):
        import torch

        dev = self.generator_device or "cpu"
        if dev == "device":
            dev = self._loaded.device  # type: ignore[union-attr]
        return [torch.Generator(device=dev).manual_seed(int(s)) for s in seeds]

    def _run_with_oom_retry(self, reqs: list[SceneRequest], kind: str, bucket: int) -> list[tuple]:
        """[(image, None, info) | (None, SceneFailure, {})] per request; out of memory: free, retry each alone."""
        try:
            images = self._run_batch(reqs, kind, bucket, tiled=self.enable_vae_tiling)
            return [(im, None, {"batch_size": len(reqs), "vae_tiling": self.enable_vae_tiling}) for im in images]
        except Exception as exc:  # noqa: BLE001 - every failure is returned per scene with its reason
            if not is_out_of_memory(exc):
                log.exception("generation failed for %s", [r.key for r in reqs])
                return [(None, SceneFailure(r.key, GENERATION_ERROR, f"{type(exc).__name__}: {exc}"), {}) for r in reqs]
            # Only the message leaves this block: the traceback's frames hold the batch's device tensors.
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        self._after_oom(len(reqs), first)
        out = []
        for r in reqs:
            try:
                (im,) = self._run_batch([r], kind, bucket, tiled=True)
                out.append((im, None, {"batch_size": 1, "vae_tiling": True, "retried_after_oom": True}))
            except Exception as exc:  # noqa: BLE001
                if is_out_of_memory(exc):
                    msg = (f"CUDA out of memory at batch {len(reqs)}, and again alone (batch 1, VAE tiling) after "
                           f"freeing the cache, on {self._loaded.device_class}: {str(exc).splitlines()[0][:300]}")  # type: ignore[union-attr]
                    out.append((None, SceneFailure(r.key, CUDA_OUT_OF_MEMORY, msg), {}))
                else:
                    out.append((None, SceneFailure(r.key, GENERATION_ERROR, f"{type(exc).__name__}: {exc}"), {}))
            if out[-1][1] is not None and out[-1][1].reason == CUDA_OUT_OF_MEMORY:
                free_device_memory()  # outside the except block: its frames are gone
        return out

    def _after_oom(self, batch: int, message: str) -> None:
        self.oom_events += 1
        if self._loaded is not None and self._loaded.offload is not None:
            self._loaded.offload.offload_all()
        free_device_memory()
        self.effective_max_batch = max(1, min(self.effective_max_batch, batch) // 2)
        log.warning("CUDA out of memory at batch %d (%s); cache freed, retrying each scene alone; later batches "
                    "at most %d", batch, message, self.effective_max_batch)

    def call_pipeline(self, pipe: Any, **kwargs) -> list[Image.Image]:
        """One pipeline call (the seam tests use to inject device failures); offloaded modules go back to the
        CPU afterwards, whatever happened."""
        try:
            return pipe(**kwargs).images
        finally:
            if self._loaded is not None and self._loaded.offload is not None:
                self._loaded.offload.offload_all()

    def _prompt_kwargs(self, pipe: Any, reqs: list[SceneRequest], bucket: int) -> dict:
        prompts = [r.prompt for r in reqs]
        negatives = [r.negative_prompt or "" for r in reqs]
        if self.prompt_bucket_tokens <= MODEL_TOKEN_MULTIPLE:  # the model pads to 32 itself: nothing to add
            kw: dict[str, Any] = {"prompt": prompts}
            if self.guidance_scale > 0:
                kw["negative_prompt"] = negatives
            return kw
        embeds, negative = pipe.encode_prompt(prompt=list(prompts), do_classifier_free_guidance=self.guidance_scale > 0,
                                              negative_prompt=list(negatives), max_sequence_length=self.max_sequence_length)
        kw = {"prompt_embeds": pad_prompt_embeds(embeds, bucket)}
        if self.guidance_scale > 0:
            kw["negative_prompt_embeds"] = pad_prompt_embeds(negative, max(bucket, max(e.shape[0] for e in negative)))
        return kw

    def _run_batch(self, reqs: list[SceneRequest], kind: str, bucket: int, tiled: bool) -> list[Image.Image]:
        import torch

        ld = self._loaded
        w, h = int(reqs[0].width), int(reqs[0].height)
        m = ld.multiple  # type: ignore[union-attr]
        pw, ph = math.ceil(w / m) * m, math.ceil(h / m) * m
        pipe = self._pipe(kind)
        steps, scale = self._steps_for(kind)
        kw: dict[str, Any] = {
            **self._prompt_kwargs(pipe, reqs, bucket), "height": ph, "width": pw, "num_inference_steps": steps,
            "guidance_scale": self.guidance_scale, "generator": self._generators([r.seed for r in reqs]),
            "max_sequence_length": self.max_sequence_length,
        }
        if kind != "text2img":
            kw["image"] = [pad_to_multiple(r.init_image.convert("RGB"), m, fill_mask=False) for r in reqs]
            kw["mask_image"] = [pad_to_multiple(latent_safe_mask(r.mask), m, fill_mask=True) for r in reqs]
            if kind == "controlnet_inpaint":
                kw["control_image"] = [control_image(self.control_mode, i, pad_to_multiple(r.mask.convert("L"), m, True))
                                       for r, i in zip(reqs, kw["image"])]
                kw["controlnet_conditioning_scale"] = scale
            else:
                kw["strength"] = 1.0
        vae = pipe.vae
        turn_off = tiled and not self.enable_vae_tiling
        if turn_off:
            vae.enable_tiling()
        try:
            with torch.inference_mode():
                images = self.call_pipeline(pipe, **kw)
        finally:
            if turn_off:
                vae.disable_tiling()
        out = []
        for r, im in zip(reqs, images):
            im = im.convert("RGB")
            if im.size != (pw, ph):  # a pipeline that rounded the size differently: never stretch the product
                im = im.resize((pw, ph), Image.LANCZOS)
            out.append(self._put_product(im.crop((0, 0, w, h)), r, kind))
        return out

    def _put_product(self, scene: Image.Image, r: SceneRequest, kind: str) -> Image.Image:
        if r.init_image is None or r.mask is None:
            return scene
        if kind == "text2img":  # a scene made without the product: match it to the product's light
            return composite_with_light(scene, r.init_image, r.mask, feather_px=self.feather_px)[0]
        return paste_product(scene, r.init_image, r.mask, feather_px=self.feather_px, shadow=self.shadow)


    def _at_native_size(self, r: SceneRequest) -> SceneRequest:
        """`r` itself when it fits the model's native size, else a copy scaled down to it (multiples of 16)."""
        w, h = int(r.width), int(r.height)
        if max(w, h) <= self.native_max_side:
            return r
        scale = self.native_max_side / max(w, h)
        m = self._loaded.multiple if self._loaded else 16
        nw, nh = max(m, round(w * scale / m) * m), max(m, round(h * scale / m) * m)
        return dataclasses.replace(
            r, width=nw, height=nh,
            init_image=r.init_image.convert("RGB").resize((nw, nh), Image.LANCZOS) if r.init_image is not None else None,
            mask=r.mask.convert("L").resize((nw, nh), Image.BILINEAR) if r.mask is not None else None,
        )

    def _enlarge_guarded(self, image: Image.Image, r: SceneRequest, kind: str) -> tuple:
        """(image, None, info) or (None, SceneFailure, {}): the enlargement's refine pass runs the model too,
        so it gets the same out-of-memory treatment (free, retry once, then fail this scene)."""
        message = ""
        for attempt in (1, 2):
            try:
                return self._enlarge(image, r, kind), None, self._enlarge_info(image)
            except Exception as exc:  # noqa: BLE001
                if not is_out_of_memory(exc):
                    return None, SceneFailure(r.key, GENERATION_ERROR, f"enlarging: {type(exc).__name__}: {exc}"), {}
                message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            self._after_oom(1, message)
        return None, SceneFailure(r.key, CUDA_OUT_OF_MEMORY, f"CUDA out of memory in the refine pass, twice: {message}"), {}

    def _enlarge_info(self, native: Image.Image) -> dict:
        info: dict = {"native_size": list(native.size), "upscale": self.upscale or "cpu"}
        if self.upscale == "img2img":
            info.update(refine_sigma=self.refine_sigma, refine_steps=self.refine_steps,
                        refine_keeps_low_frequencies=self.refine_keep_low_frequencies)
        return info

    def _enlarge(self, image: Image.Image, r: SceneRequest, kind: str) -> Image.Image:
        """A native-size scene back to the request's size; the product pasted back from the request's pixels."""
        big = upscale_cpu(image, (int(r.width), int(r.height)))
        if self.upscale == "img2img":
            big = self.refine(big, prompt=r.prompt, seed=r.seed)
        return self._put_product(big, r, kind)

    # ------------------------------------------------------------------ detail
    def refine(self, image: Image.Image, prompt: str = "", seed: int = 0, sigma: float | None = None,
               steps: int | None = None) -> Image.Image:
        """An img2img pass over `image` that starts at noise level `sigma` (default `refine_sigma`) and
        takes `steps` steps; same size back. With `refine_keep_low_frequencies`, the result keeps the input's
        low frequencies (composition, colours, light) and takes only finer detail from the pass.
        `last_refine_sigmas` holds the schedule the scheduler really ran."""
        import torch

        sigma = self.refine_sigma if sigma is None else float(sigma)
        steps = self.refine_steps if steps is None else int(steps)
        pipe = self._pipe("img2img")
        cfg = pipe.scheduler.config
        if cfg.get("use_dynamic_shifting"):
            raise ValueError("refine: a scheduler with dynamic shifting cannot start at a set sigma")
        sigmas = refine_sigmas(sigma, steps, shift=float(cfg.get("shift", 1.0)))
        w, h = image.size
        padded = pad_to_multiple(image.convert("RGB"), self._loaded.multiple, fill_mask=False)  # type: ignore[union-attr]
        with torch.inference_mode():
            (out,) = self.call_pipeline(
                pipe, prompt=prompt, image=padded, strength=1.0, sigmas=sigmas, num_inference_steps=len(sigmas),
                height=padded.size[1], width=padded.size[0], guidance_scale=self.guidance_scale,
                generator=self._generators([seed]), max_sequence_length=self.max_sequence_length)
        self.last_refine_sigmas = [float(s) for s in pipe.scheduler.sigmas]
        out = out.convert("RGB").crop((0, 0, w, h))
        if self.refine_keep_low_frequencies:
            out = restore_low_frequencies(out, image, radius_px=2 * LATENT_CELL_PX)
        return out

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
        return compose_upscale_scene(image, target_size, product_rgba, product_box, method=method, refiner=refiner,
                                     feather_px=self.feather_px)

