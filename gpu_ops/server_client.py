"""A client for OpenAI-compatible image servers (SGLang Diffusion, vLLM-Omni) serving Z-Image-Turbo.

text2img: `POST {endpoint}/v1/images/generations`, JSON: prompt, n=1, size "WxH", response_format
"b64_json", seed, num_inference_steps, guidance_scale, negative_prompt (and model when set).
inpaint: `POST {endpoint}/v1/images/edits`, multipart: files `image` (PNG) and `mask` (PNG), form fields as
above. The mask PNG carries both conventions: its RGB is our mask (white = regenerate, as diffusers reads
it) and its alpha is 0 where the server may paint (OpenAI's "transparent = edit" rule).

Retries with exponential backoff on timeouts, connection errors and 5xx (and 429); any other 4xx raises
`ImageServerError` naming the status and the server's message at once. Requests rotate over the endpoints
(a request's preferred endpoint comes from its key; a failed try moves to the next). The API key comes
from the environment variable named by `api_key_env` only and is never logged or put into an error.
Product pixels are pasted back with `gpu_ops.compose.paste_product`, as in the diffusers backend.
"""
from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import time

from PIL import Image

from skucore.base.types import SceneRequest

from .base import validate_request
from .compose import ShadowSpec, paste_product

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class ImageServerError(RuntimeError):
    """The image server refused a request (4xx) or kept failing after all retries."""

    def __init__(self, message: str, status: int | None = None, endpoint: str | None = None):
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mask_png(mask: Image.Image) -> bytes:
    """Our "L" mask (white = regenerate) as an RGBA PNG whose alpha is 0 where the server may paint."""
    m = mask.convert("L")
    rgba = Image.merge("RGBA", (m, m, m, m.point(lambda v: 255 - v)))
    return _png_bytes(rgba)


def _server_message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:500]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return str(err)[:500]
    return str(body)[:500]


class ImageServerBackend:
    """Scene generation through remote image servers (implements `gpu_ops.base.SceneGenerator`)."""

    backend_name = "server"

    def __init__(
        self,
        endpoints: list[str],
        model: str = "Tongyi-MAI/Z-Image-Turbo",
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        api_key_env: str = "SKUSTUDIO_IMAGE_API_KEY",
        num_inference_steps: int = 9,
        guidance_scale: float = 0.0,
        feather_px: float = 2.0,
        shadow: ShadowSpec | None = None,
        max_backoff_s: float = 30.0,
        session=None,
    ):
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        endpoints = [e.rstrip("/") for e in endpoints if e and e.strip()]
        if not endpoints:
            raise ValueError("ImageServerBackend: at least one endpoint URL is required")
        for e in endpoints:
            if not e.startswith(("http://", "https://")):
                raise ValueError(f"ImageServerBackend: endpoint must start with http:// or https://, got {e!r}")
        if max_retries < 0:
            raise ValueError(f"ImageServerBackend: max_retries must be >= 0, got {max_retries}")
        self.endpoints = endpoints
        self.model = model
        self.model_id = model or "server-default"
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.api_key_env = api_key_env
        self.num_inference_steps = int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.feather_px = float(feather_px)
        self.shadow = shadow
        self._session = session
        self.request_count = 0  # HTTP attempts made, for tests and run metadata

    # ------------------------------------------------------------------ http
    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _headers(self) -> dict:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _fields(self, req: SceneRequest) -> dict:
        fields = {
            "prompt": req.prompt,
            "n": 1,
            "size": f"{int(req.width)}x{int(req.height)}",
            "response_format": "b64_json",
            "seed": int(req.seed),
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
        }
        if req.negative_prompt:
            fields["negative_prompt"] = req.negative_prompt
        if self.model:
            fields["model"] = self.model
        return fields

    def _start_index(self, req: SceneRequest) -> int:
        if len(self.endpoints) == 1 or not req.key:
            return 0
        return int.from_bytes(hashlib.sha256(req.key.encode("utf-8")).digest()[:8], "big") % len(self.endpoints)

    def _post_once(self, endpoint: str, req: SceneRequest):
        fields = self._fields(req)
        if req.mode == "inpaint":
            url = f"{endpoint}/v1/images/edits"
            files = {
                "image": ("image.png", _png_bytes(req.init_image.convert("RGB")), "image/png"),
                "mask": ("mask.png", mask_png(req.mask), "image/png"),
            }
            data = {k: str(v) for k, v in fields.items()}
            return self.session.post(url, data=data, files=files, headers=self._headers(), timeout=self.timeout_s)
        url = f"{endpoint}/v1/images/generations"
        return self.session.post(url, json=fields, headers=self._headers(), timeout=self.timeout_s)

    def _request_image(self, req: SceneRequest) -> Image.Image:
        import requests

        start = self._start_index(req)
        last_problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            endpoint = self.endpoints[(start + attempt) % len(self.endpoints)]
            self.request_count += 1
            try:
                resp = self._post_once(endpoint, req)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = f"{type(exc).__name__} from {endpoint}"
                log.warning("image server %s: %s (attempt %d/%d)", endpoint, type(exc).__name__,
                            attempt + 1, self.max_retries + 1)
            else:
                if resp.status_code == 200:
                    return self._decode(resp, endpoint)
                message = _server_message(resp)
                if resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
                    last_problem = f"HTTP {resp.status_code} from {endpoint}: {message}"
                    log.warning("image server %s: HTTP %d (attempt %d/%d)", endpoint, resp.status_code,
                                attempt + 1, self.max_retries + 1)
                else:
                    raise ImageServerError(
                        f"image server {endpoint} refused the request for {req.key or 'a scene'}: "
                        f"HTTP {resp.status_code}: {message}",
                        status=resp.status_code,
                        endpoint=endpoint,
                    )
            if attempt < self.max_retries:
                time.sleep(min(self.max_backoff_s, self.backoff_s * (2**attempt)))
        raise ImageServerError(
            f"image server gave no image for {req.key or 'a scene'} after {self.max_retries + 1} attempts; "
            f"last problem: {last_problem}"
        )

    @staticmethod
    def _decode(resp, endpoint: str) -> Image.Image:
        try:
            body = resp.json()
            b64 = body["data"][0]["b64_json"]
            img = Image.open(io.BytesIO(base64.b64decode(b64)))
            img.load()
        except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:
            raise ImageServerError(
                f"image server {endpoint} answered 200 without a decodable data[0].b64_json ({type(exc).__name__})",
                status=resp.status_code,
                endpoint=endpoint,
            ) from exc
        return img.convert("RGB")

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]:
        """One RGB image per request, in order, product pixels pasted back exactly."""
        requests = list(requests)
        for r in requests:
            validate_request(r)
        out = []
        for r in requests:
            img = self._request_image(r)
            if img.size != (r.width, r.height):
                img = img.resize((int(r.width), int(r.height)), Image.LANCZOS)
            if r.init_image is not None and r.mask is not None:
                img = paste_product(img, r.init_image, r.mask, feather_px=self.feather_px, shadow=self.shadow)
            out.append(img)
        return out

    def describe(self) -> dict:
        return {
            "backend": self.backend_name,
            "model": self.model_id,
            "endpoints": list(self.endpoints),
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "api_key_env": self.api_key_env,
            "api_key_set": bool(os.environ.get(self.api_key_env or "", "")),
        }

