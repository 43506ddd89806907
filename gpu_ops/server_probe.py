"""What an image server can do, asked once at start (per endpoint), before any scene relies on it.

- models: `GET /v1/models` (the ids it serves; a server that lists models without ours is not used);
- inpainting: one small edit (`POST /v1/images/edits`) whose mask keeps the left half of a patterned image:
  a server that honours the mask gives the kept half back; SGLang accepts a `mask` but never passes it to the
  pipeline and serves Z-Image as text-to-image only, vLLM-Omni names the field `mask_image` and also serves
  Z-Image text-to-image only, older releases have no edits endpoint at all (404). Both field names are sent.
- output format: whether the server honoured `output_format: "png"` (JPEG otherwise).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from .server_http import ImageServerHttp, decode_image, mask_png, png_bytes, server_message

PROBE_SIZE = 256
# Mean absolute difference (8-bit levels) over the kept half below which the mask counts as honoured: a
# server that keeps the pixels returns them through a VAE round trip (a few levels); one that repaints the
# whole picture moves them by tens.
KEPT_TOLERANCE = 12.0


@dataclass
class ServerCapabilities:
    endpoint: str
    models: list[str] | None = None
    model_served: bool | None = None
    edits_endpoint: bool | None = None
    honours_mask: bool = False
    returns_png: bool | None = None
    notes: list[str] = field(default_factory=list)
    probed_at: float = 0.0

    @property
    def can_inpaint(self) -> bool:
        return bool(self.honours_mask) and self.model_served is not False

    def why_not_inpaint(self) -> str:
        return "; ".join(self.notes) or "not probed"

    def as_dict(self) -> dict:
        return {**asdict(self), "can_inpaint": self.can_inpaint}


def probe_image(size: int = PROBE_SIZE) -> tuple[Image.Image, Image.Image]:
    """(image, mask): a checker pattern whose left half is kept (mask black), right half repainted."""
    yy, xx = np.mgrid[0:size, 0:size]
    checks = ((yy // 16 + xx // 16) % 2).astype(np.uint8)
    rgb = np.stack([np.where(checks, 200, 40), np.where(checks, 60, 180), np.where(checks, 90, 120)], axis=-1)
    mask = np.full((size, size), 255, np.uint8)
    mask[:, : size // 2] = 0
    return Image.fromarray(rgb.astype(np.uint8), "RGB"), Image.fromarray(mask, "L")


def _model_matches(model: str, served: list[str]) -> bool:
    want = model.rstrip("/").split("/")[-1].lower()
    return any(s.rstrip("/").split("/")[-1].lower() == want or s == model for s in served)


def probe_endpoint(http: ImageServerHttp, endpoint: str, model: str | None, fields: dict,
                   size: int = PROBE_SIZE) -> ServerCapabilities:
    """Ask `endpoint` what it serves and whether its edits honour a mask (one small edit)."""
    import requests

    caps = ServerCapabilities(endpoint=endpoint, probed_at=time.time())
    try:
        resp = http.get(f"{endpoint}/v1/models", timeout_s=min(http.timeout_s, 30.0))
        if resp.status_code == 200:
            data = resp.json().get("data", [])
            caps.models = [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]
            if model and caps.models:
                caps.model_served = _model_matches(model, caps.models)
                if not caps.model_served:
                    caps.notes.append(f"serves {caps.models}, not {model!r}")
        else:
            caps.notes.append(f"GET /v1/models: HTTP {resp.status_code}")
    except (requests.RequestException, ValueError, AttributeError) as exc:
        caps.notes.append(f"GET /v1/models failed: {type(exc).__name__}")

    image, mask = probe_image(size)
    data = {k: str(v) for k, v in {**fields, "size": f"{size}x{size}"}.items()}
    files = {"image": ("image.png", png_bytes(image), "image/png"),
             "mask": ("mask.png", mask_png(mask), "image/png"),
             "mask_image": ("mask.png", mask_png(mask), "image/png")}
    try:
        resp = http.post_once(f"{endpoint}/v1/images/edits", data=data, files=files)
    except requests.RequestException as exc:
        caps.notes.append(f"edits probe failed: {type(exc).__name__}")
        return caps
    if resp.status_code in (404, 405):
        caps.edits_endpoint = False
        caps.notes.append(f"no /v1/images/edits (HTTP {resp.status_code})")
        return caps
    if resp.status_code != 200:
        caps.edits_endpoint = True
        caps.notes.append(f"edits refused (HTTP {resp.status_code}: {server_message(resp)[:200]})")
        return caps
    caps.edits_endpoint = True
    try:
        out, fmt = decode_image(resp, endpoint)
    except Exception as exc:  # noqa: BLE001 - any undecodable answer means "cannot inpaint"
        caps.notes.append(f"edits answer not decodable: {exc}")
        return caps
    caps.returns_png = fmt == "png"
    if not caps.returns_png:
        caps.notes.append(f"returned {fmt} although png was asked for")
    if out.size != (size, size):
        out = out.resize((size, size), Image.LANCZOS)
    kept = np.asarray(mask) == 0
    diff = float(np.abs(np.asarray(out, np.float32) - np.asarray(image, np.float32))[kept].mean())
    caps.honours_mask = diff <= KEPT_TOLERANCE
    if not caps.honours_mask:
        caps.notes.append(f"edits ignore the mask (the kept half changed by {diff:.0f} levels on average)")
    return caps
