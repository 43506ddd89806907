"""Scene generation through OpenAI-compatible image servers (SGLang Diffusion, vLLM-Omni) serving Z-Image-Turbo,
doing only what the servers can.

At start each endpoint is probed (`gpu_ops.server_probe`): which models it serves, whether it has an edits
endpoint, whether an edit honours a mask. Then per scene:
- text-to-image scenes (`mode="text2img"`), with or without a product: `POST /v1/images/generations`, then the
  product composited onto the background with the scene matched to the product's light and shadow
  (`gpu_ops.lighting`); lineage method "text2img+composite".
- inpaint scenes (`mode="inpaint"`: the template wants the scene built around the product): `POST
  /v1/images/edits` on endpoints whose edits honour a mask (lineage "inpaint"). Where none does, as
  `inpaint_unsupported` says: "fail" (the default: the scene fails with reason `server_cannot_inpaint` and
  what the probe found), "composite" (text-to-image + composite, lineage says it stood in for an inpaint and
  why) or "in_process" (the in-process backend given as `in_process`, e.g. a ZImageBackend on a local GPU,
  inpaints it; its lineage says so). A scene is never recorded as an inpaint that was not one.

Every request asks for PNG (`output_format`; servers answer JPEG otherwise), at a size rounded up to the
model's multiple of 16 (the image is padded, the answer cropped back, never stretched), and sends a step count
only when one is set (SGLang's own Z-Image default is 9; diffusers' is 8). Seeds: the server draws its noise on
its GPU, so a seed there does not give diffusers' image. A scene that a server refuses or that keeps failing
fails alone (`server_failed`); `generate` raises `SceneGenerationError` naming it.
"""
from __future__ import annotations

import hashlib
import logging
import os

from PIL import Image

from .base import (METHOD_INPAINT, METHOD_TEXT2IMG, METHOD_TEXT2IMG_COMPOSITE, SERVER_CANNOT_INPAINT, SERVER_FAILED,
                   SceneFailure, SceneRequest, SceneResult, images_or_raise, round_up, validate_request)
from .compose import DEFAULT_FEATHER_PX, LATENT_CELL_PX, ShadowSpec, pad_to_multiple, paste_product
from .lighting import composite_with_light
from .server_http import ImageServerError, ImageServerHttp, mask_png, png_bytes
from .server_probe import ServerCapabilities, probe_endpoint

log = logging.getLogger(__name__)

INPAINT_UNSUPPORTED = ("fail", "composite", "in_process")
SIZE_MULTIPLE = 16

__all__ = ["ImageServerBackend", "ImageServerError", "mask_png", "INPAINT_UNSUPPORTED"]


class ImageServerBackend:
    """Scene generation through remote image servers (implements `gpu_ops.base.DetailedSceneGenerator`)."""

    backend_name = "server"

    def __init__(
        self,
        endpoints: list[str],
        model: str = "Tongyi-MAI/Z-Image-Turbo",
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        api_key_env: str = "SKUSTUDIO_IMAGE_API_KEY",
        num_inference_steps: int | None = None,
        guidance_scale: float = 0.0,
        feather_px: float = DEFAULT_FEATHER_PX,
        shadow: ShadowSpec | None = None,
        max_backoff_s: float = 30.0,
        session=None,
        inpaint_unsupported: str = "fail",
        in_process=None,
        probe: bool = True,
        can_inpaint: bool | None = None,
        size_multiple: int = SIZE_MULTIPLE,
        output_format: str = "png",
    ):
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        endpoints = [e.rstrip("/") for e in endpoints if e and e.strip()]
        if not endpoints:
            raise ValueError("ImageServerBackend: at least one endpoint URL is required")
        for e in endpoints:
            if not e.startswith(("http://", "https://")):
                raise ValueError(f"ImageServerBackend: endpoint must start with http:// or https://, got {e!r}")
        if inpaint_unsupported not in INPAINT_UNSUPPORTED:
            raise ValueError(f"ImageServerBackend: inpaint_unsupported must be one of {INPAINT_UNSUPPORTED}, "
                             f"got {inpaint_unsupported!r}")
        if inpaint_unsupported == "in_process" and in_process is None:
            raise ValueError("ImageServerBackend: inpaint_unsupported='in_process' needs an in-process backend")
        if 0 < feather_px <= LATENT_CELL_PX:
            raise ValueError(f"ImageServerBackend: feather_px must be wider than a latent cell ({LATENT_CELL_PX} px) "
                             f"or 0, got {feather_px}")
        if num_inference_steps is not None and int(num_inference_steps) < 1:
            raise ValueError(f"ImageServerBackend: num_inference_steps must be >= 1 or None, got {num_inference_steps}")
        self.endpoints = endpoints
        self.model = model
        self.model_id = model or "server-default"
        self.http = ImageServerHttp(timeout_s, max_retries, backoff_s, max_backoff_s, api_key_env, session)
        self.num_inference_steps = None if num_inference_steps is None else int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.feather_px = float(feather_px)
        self.shadow = shadow
        self.inpaint_unsupported = inpaint_unsupported
        self.in_process = in_process
        self.probe_enabled = bool(probe)
        self.can_inpaint_setting = can_inpaint
        self.size_multiple = int(size_multiple)
        self.output_format = output_format
        self.capabilities: dict[str, ServerCapabilities] = {}

    # ------------------------------------------------------------------ compatibility with the old client
    @property
    def request_count(self) -> int:
        return self.http.request_count

    @property
    def api_key_env(self) -> str:
        return self.http.api_key_env

    # ------------------------------------------------------------------ capabilities
    def probe(self) -> dict[str, ServerCapabilities]:
        """Probe every endpoint not probed yet (or take `can_inpaint` as given); the result is kept."""
        for e in self.endpoints:
            if e in self.capabilities:
                continue
            if self.can_inpaint_setting is not None or not self.probe_enabled:
                caps = ServerCapabilities(endpoint=e, honours_mask=bool(self.can_inpaint_setting))
                caps.notes.append("can_inpaint set in the configuration" if self.can_inpaint_setting is not None
                                  else "not probed (probe off) and can_inpaint not set")
            else:
                caps = probe_endpoint(self.http, e, self.model, self._fields_base())
                log.info("image server %s: %s", e, caps.as_dict())
            self.capabilities[e] = caps
        return self.capabilities

    def _usable(self, inpaint: bool) -> list[str]:
        caps = self.probe()
        ok = [e for e in self.endpoints if caps[e].model_served is not False]
        return [e for e in ok if caps[e].can_inpaint] if inpaint else ok

    # ------------------------------------------------------------------ requests
    def _fields_base(self) -> dict:
        fields: dict = {"n": 1, "response_format": "b64_json", "output_format": self.output_format,
                        "guidance_scale": self.guidance_scale}
        if self.num_inference_steps is not None:
            fields["num_inference_steps"] = self.num_inference_steps
        if self.model:
            fields["model"] = self.model
        return fields

    def _fields(self, req: SceneRequest, size: tuple[int, int]) -> dict:
        fields = {**self._fields_base(), "prompt": req.prompt, "size": f"{size[0]}x{size[1]}", "seed": int(req.seed)}
        if req.negative_prompt:
            fields["negative_prompt"] = req.negative_prompt
        return fields

    def _rotation(self, req: SceneRequest, endpoints: list[str]) -> list[str]:
        if len(endpoints) == 1 or not req.key:
            return list(endpoints)
        start = int.from_bytes(hashlib.sha256(req.key.encode("utf-8")).digest()[:8], "big") % len(endpoints)
        return endpoints[start:] + endpoints[:start]

    def _server_scene(self, req: SceneRequest, inpaint: bool, endpoints: list[str]) -> tuple[Image.Image, dict]:
        """The server's picture at the request's size (before the product goes on) and where it came from."""
        w, h = int(req.width), int(req.height)
        size = (round_up(w, self.size_multiple), round_up(h, self.size_multiple))
        fields = self._fields(req, size)
        if inpaint:
            image = pad_to_multiple(req.init_image.convert("RGB"), self.size_multiple, fill_mask=False)
            mask = pad_to_multiple(req.mask.convert("L"), self.size_multiple, fill_mask=True)
            files = {"image": ("image.png", png_bytes(image), "image/png"),
                     "mask": ("mask.png", mask_png(mask), "image/png"),
                     "mask_image": ("mask.png", mask_png(mask), "image/png")}
            data = {k: str(v) for k, v in fields.items()}

            def send(endpoint):
                return self.http.post_once(f"{endpoint}/v1/images/edits", data=data, files=files)
        else:
            def send(endpoint):
                return self.http.post_once(f"{endpoint}/v1/images/generations", json=fields)
        img, endpoint, fmt = self.http.request_image(req.key or "a scene", self._rotation(req, endpoints), send)
        if img.size != size:  # the server rounded differently: scale its picture to what was asked, then crop
            img = img.resize(size, Image.LANCZOS)
        return img.crop((0, 0, w, h)), {"endpoint": endpoint, "size_sent": f"{size[0]}x{size[1]}",
                                        "format_received": fmt}

    def _lineage(self, method: str, where: dict, **extra) -> dict:
        out = {"backend": self.backend_name, "method": method, "model": self.model_id,
               "device_class": f"image server {where.get('endpoint')}", "dtype": None, "attention_backend": None,
               "steps": self.num_inference_steps if self.num_inference_steps is not None else "server default",
               "guidance_scale": self.guidance_scale, "feather_px": self.feather_px, "fallback": None}
        out.update(where)
        out.update(extra)
        return out

    def _composite_scene(self, req: SceneRequest, endpoints: list[str], **extra) -> SceneResult:
        scene, where = self._server_scene(req, inpaint=False, endpoints=endpoints)
        if req.init_image is None or req.mask is None:
            return SceneResult(req.key, scene, self._lineage(METHOD_TEXT2IMG, where, **extra))
        image, info = composite_with_light(scene, req.init_image, req.mask, feather_px=self.feather_px)
        return SceneResult(req.key, image, self._lineage(METHOD_TEXT2IMG_COMPOSITE, where, light_match=info.as_dict(),
                                                         **extra))

    def _inpaint_scene(self, req: SceneRequest, endpoints: list[str]) -> SceneResult:
        scene, where = self._server_scene(req, inpaint=True, endpoints=endpoints)
        image = paste_product(scene, req.init_image, req.mask, feather_px=self.feather_px, shadow=self.shadow)
        return SceneResult(req.key, image, self._lineage(METHOD_INPAINT, where))

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]:
        """One RGB image per request, in order, product pixels pasted back exactly; SceneGenerationError
        when any scene failed."""
        return images_or_raise(self.generate_scenes(requests))

    def generate_scenes(self, requests: list[SceneRequest]) -> list[SceneResult]:
        requests = list(requests)
        for r in requests:
            validate_request(r)
        if not requests:
            return []
        t2i_endpoints = self._usable(inpaint=False)
        inpaint_endpoints = self._usable(inpaint=True)
        results: list[SceneResult | None] = [None] * len(requests)
        local: list[int] = []
        for i, r in enumerate(requests):
            if r.mode == "inpaint" and not inpaint_endpoints:
                why = self._why_no_inpaint()
                if self.inpaint_unsupported == "in_process":
                    local.append(i)
                    continue
                if self.inpaint_unsupported == "fail":
                    results[i] = SceneResult(r.key, error=SceneFailure(r.key, SERVER_CANNOT_INPAINT, (
                        f"the template asks for an inpaint around the product and no image server can do one "
                        f"({why}); set inpaint_unsupported to 'composite' (a text-to-image background with the "
                        f"product composited) or 'in_process' (inpaint on a local GPU)")))
                    continue
            results[i] = self._one(r, t2i_endpoints, inpaint_endpoints)
        if local:
            self._in_process_scenes([requests[i] for i in local], local, results)
        return results  # type: ignore[return-value]

    def _why_no_inpaint(self) -> str:
        return "; ".join(f"{e}: {c.why_not_inpaint()}" for e, c in self.capabilities.items())

    def _one(self, r: SceneRequest, t2i_endpoints: list[str], inpaint_endpoints: list[str]) -> SceneResult:
        if not t2i_endpoints:
            return SceneResult(r.key, error=SceneFailure(r.key, SERVER_FAILED,
                                                         f"no image server serves {self.model!r}: {self._why_no_inpaint()}"))
        try:
            if r.mode == "inpaint" and inpaint_endpoints:
                return self._inpaint_scene(r, inpaint_endpoints)
            if r.mode == "inpaint":  # inpaint_unsupported == "composite"
                return self._composite_scene(r, t2i_endpoints, requested_method=METHOD_INPAINT,
                                             substituted_because=f"no image server can inpaint: {self._why_no_inpaint()}")
            return self._composite_scene(r, t2i_endpoints)
        except ImageServerError as exc:
            return SceneResult(r.key, error=SceneFailure(r.key, SERVER_FAILED, str(exc)))

    def _in_process_scenes(self, reqs: list[SceneRequest], where: list[int], results: list) -> None:
        inner = self.in_process
        if hasattr(inner, "generate_scenes"):
            got = inner.generate_scenes(reqs)
        else:
            got = [SceneResult(r.key, im, {"backend": getattr(inner, "backend_name", "in_process"), "method": METHOD_INPAINT})
                   for r, im in zip(reqs, inner.generate(reqs))]
        for i, res in zip(where, got):
            if res.ok:
                res.generation = {**res.generation, "served_in_process": True,
                                  "why_not_server": f"no image server can inpaint: {self._why_no_inpaint()}"}
            results[i] = res

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "model": self.model_id,
            "endpoints": list(self.endpoints),
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "inpaint_unsupported": self.inpaint_unsupported,
            "capabilities": {e: c.as_dict() for e, c in self.capabilities.items()},
            "api_key_env": self.http.api_key_env,
            "api_key_set": bool(os.environ.get(self.http.api_key_env or "", "")),
        }

    def unload(self) -> None:
        if self.in_process is not None and hasattr(self.in_process, "unload"):
            self.in_process.unload()
