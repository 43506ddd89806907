"""Shadows and reflections drawn on a scene's backdrop before the product goes over it (see `skucore.imaging.scene`):
the drawn contact shadow, the photo's own shadow layer (`Cutout.shadow`) mapped onto the canvas, a floor
reflection. Each one darkens or paints the backdrop only; the product is composited afterwards."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

SHADOW_MODES = ("drawn", "original", "none")


def to_u8(x: np.ndarray) -> np.ndarray:
    """Round half up and saturate to uint8 (float input; may be modified in place)."""
    x = np.asarray(x, np.float32)
    np.add(x, 0.5, out=x)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def apply_contact_shadow(bg: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int],
                          strength: float = 0.38) -> None:
    """Darken the backdrop under the product: a soft ellipse from the product's footprint plus a tighter contact
    core, both blurred. Drawn on the backdrop only; the product is composited over it afterwards. The shadow is
    smooth, so it is computed on a grid `ds` times coarser and scaled up (bilinear)."""
    H, W = bg.shape[:2]
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    # footprint: columns where the bottom 12% of the silhouette has product
    band = alpha[max(0, h - max(2, int(h * 0.12))):, :]
    cols = np.nonzero(band.max(axis=0) > 32)[0]
    if cols.size == 0:
        cols = np.nonzero(alpha.max(axis=0) > 32)[0]
        if cols.size == 0:
            return
    fx0, fx1 = x0 + int(cols[0]), x0 + int(cols[-1]) + 1
    cx = (fx0 + fx1) / 2.0
    half_w = max(2.0, (fx1 - fx0) / 2.0 * 1.06)
    soft_h = max(2.0, min(h, w) * 0.045)
    pad = int(half_w * 0.5 + soft_h * 4) + 4
    rx0, rx1 = max(0, int(cx - half_w - pad)), min(W, int(cx + half_w + pad) + 1)
    ry0, ry1 = max(0, int(y1 - soft_h * 3 - pad // 4)), min(H, int(y1 + soft_h * 3 + pad // 2) + 1)
    if rx1 <= rx0 or ry1 <= ry0:
        return
    ds = max(1, int(soft_h // 3))
    gw, gh = max(1, -(-(rx1 - rx0) // ds)), max(1, -(-(ry1 - ry0) // ds))
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    yy = ry0 + (yy + 0.5) * ds - 0.5
    xx = rx0 + (xx + 0.5) * ds - 0.5
    cy = y1 - soft_h * 0.15
    soft = np.clip(1.0 - ((xx - cx) / half_w) ** 2 - ((yy - cy) / soft_h) ** 2, 0, 1).astype(np.float32)
    core_h = max(1.0, soft_h * 0.35)
    core = np.clip(1.0 - ((xx - cx) / (half_w * 0.92)) ** 2 - ((yy - (y1 - core_h * 0.3)) / core_h) ** 2,
                   0, 1).astype(np.float32)
    soft = cv2.GaussianBlur(soft, (0, 0), max(0.5, soft_h * 0.9 / ds))
    core = cv2.GaussianBlur(core, (0, 0), max(0.5, core_h * 0.8 / ds))
    shade = np.clip(0.55 * soft / max(float(soft.max()), 1e-6) + 0.45 * core / max(float(core.max()), 1e-6), 0, 1)
    shade = cv2.resize(shade * strength, (gw * ds, gh * ds), interpolation=cv2.INTER_LINEAR)
    shade = shade[:ry1 - ry0, :rx1 - rx0]
    roi = bg[ry0:ry1, rx0:rx1].astype(np.float32)
    roi *= (1.0 - shade)[..., None]
    bg[ry0:ry1, rx0:rx1] = to_u8(roi)


def shadow_mode(shadow: Any) -> str:
    """A template's `shadow` value as one of `SHADOW_MODES` (true = "drawn", false = "none")."""
    if shadow is True or shadow is None:
        return "drawn"
    if shadow is False:
        return "none"
    if shadow in SHADOW_MODES:
        return str(shadow)
    raise ValueError(f"shadow={shadow!r} unknown; valid: true, false, {', '.join(SHADOW_MODES)}")


def template_shadow(template: Any) -> str:
    """The shadow mode of a scene template (object or dict): its `shadow` (true / false / a mode) and, for a true
    one, its `shadow_source` ("drawn" or "original", see `skucore.prompting.templates.SceneTemplate`)."""
    def get(name: str, default: Any) -> Any:
        v = template.get(name, default) if isinstance(template, dict) else getattr(template, name, default)
        return default if v is None else v

    mode = shadow_mode(get("shadow", True))
    return shadow_mode(get("shadow_source", "drawn")) if mode == "drawn" else mode


def original_shadow_layer(cutout: Any, box: tuple[int, int, int, int], canvas_size: tuple[int, int]
                          ) -> np.ndarray | None:
    """The photo's own shadow (`Cutout.shadow`, uint8 opacity in the photo's frame) mapped onto the canvas the way
    the product was: its bounding box onto `box`. Float32 HxW opacity 0..1, or None when the cutout has none."""
    layer = getattr(cutout, "shadow", None)
    bbox = getattr(cutout, "bbox", None)
    if layer is None or bbox is None:
        return None
    layer = np.asarray(layer)
    if layer.ndim != 2 or layer.shape != np.asarray(cutout.mask).shape[:2]:
        raise ValueError(f"cutout shadow of shape {layer.shape} does not match its mask "
                         f"{np.asarray(cutout.mask).shape}")
    W, H = canvas_size
    sx = (box[2] - box[0]) / float(bbox[2] - bbox[0])
    sy = (box[3] - box[1]) / float(bbox[3] - bbox[1])
    # photo (x, y) -> canvas (box0 + (x - bbox0) * s); the layer is smooth, so area resampling then a shift
    ph, pw = layer.shape
    tw, th = max(1, int(round(pw * sx))), max(1, int(round(ph * sy)))
    scaled = cv2.resize(layer, (tw, th), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
    ox, oy = int(round(box[0] - bbox[0] * sx)), int(round(box[1] - bbox[1] * sy))
    out = np.zeros((H, W), np.float32)
    cx0, cy0, cx1, cy1 = max(0, ox), max(0, oy), min(W, ox + tw), min(H, oy + th)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = scaled[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox].astype(np.float32) / 255.0
    return out


def apply_opacity_shadow(bg: np.ndarray, opacity: np.ndarray) -> None:
    """Darken `bg` in place: I = B x (1 - opacity), the model the photo's shadow layer was measured with."""
    ys, xs = np.nonzero(opacity > 0)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    roi = bg[y0:y1, x0:x1].astype(np.float32)
    roi *= (1.0 - opacity[y0:y1, x0:x1])[..., None]
    bg[y0:y1, x0:x1] = to_u8(roi)


def reflection_rgba(scaled: np.ndarray, opacity: float = 0.28, fade: float = 0.35) -> np.ndarray:
    """The product flipped top-bottom with its alpha faded from `opacity` to 0 over `fade` of its height."""
    flipped = scaled[::-1].copy()
    h = flipped.shape[0]
    n = max(1, int(h * fade))
    ramp = np.zeros(h, np.float32)
    ramp[:n] = opacity * (1.0 - np.arange(n, dtype=np.float32) / n) ** 1.5
    flipped[..., 3] = to_u8(flipped[..., 3].astype(np.float32) * ramp[:, None])
    return flipped
