"""Compositing a product onto a background that was generated without it (text-to-image, e.g. on a server
that cannot inpaint), with the scene matched to the product's own light and shadow.

The product's pixels are never changed (they are pasted back exactly, `compose.paste_product`); the scene is
adjusted to them instead:
- light direction: a plane fitted to the product's luminance (the lit side is brighter) says where the light
  comes from; the contact shadow is moved to the other side, and is darker for a product with hard light
  (a strong luminance gradient);
- exposure: the scene's highlights near the product are brought toward the product's highlights (square root
  of the ratio, within 0.85 to 1.2), so a studio-lit product does not glow in a dim room or sink in a bright
  one.
Everything is recorded (`CompositeInfo`) for the image's lineage.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from .compose import DEFAULT_FEATHER_PX, ShadowSpec, paste_product, product_bbox

GAIN_RANGE = (0.85, 1.2)


@dataclass(frozen=True)
class ProductLight:
    """`from_x`: -1 light from the left .. +1 from the right; `from_y`: -1 from above .. +1 from below;
    `gradient`: how strongly the product's luminance changes across it (0 = flat light); `highlight`: the
    product's 95th-percentile luminance (0..1)."""

    from_x: float
    from_y: float
    gradient: float
    highlight: float


@dataclass(frozen=True)
class CompositeInfo:
    light_from: tuple[float, float]
    light_gradient: float
    exposure_gain: float
    shadow_strength: float
    shadow_dx_frac: float

    def as_dict(self) -> dict:
        d = asdict(self)
        d["light_from"] = [round(v, 3) for v in self.light_from]
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722) / 255.0


def estimate_product_light(original: Image.Image, mask: Image.Image) -> ProductLight | None:
    """Where the light on the product comes from, from its own shading; None when there is no product."""
    m = np.asarray(mask.convert("L"))
    keep = m < 128
    if keep.sum() < 16:
        return None
    lum = _luminance(np.asarray(original.convert("RGB"), dtype=np.float32))
    ys, xs = np.nonzero(keep)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    nx = (xs - (x0 + x1) / 2.0) / max(1.0, (x1 - x0) / 2.0)
    ny = (ys - (y0 + y1) / 2.0) / max(1.0, (y1 - y0) / 2.0)
    values = lum[ys, xs]
    design = np.stack([np.ones_like(nx), nx, ny], axis=1)
    (_, bx, by), *_ = np.linalg.lstsq(design, values, rcond=None)
    gradient = float(np.hypot(bx, by))
    # A gradient below ~0.02 (2% of full scale across the product) is flat light: no direction.
    confidence = min(1.0, gradient / 0.1) if gradient > 0.02 else 0.0
    norm = gradient if gradient > 0 else 1.0
    return ProductLight(from_x=float(bx / norm) * confidence, from_y=float(by / norm) * confidence,
                        gradient=gradient, highlight=float(np.percentile(values, 95)))


def composite_with_light(scene: Image.Image, original: Image.Image, mask: Image.Image,
                         feather_px: float = DEFAULT_FEATHER_PX, shadow: bool = True,
                         match_exposure: bool = True) -> tuple[Image.Image, CompositeInfo]:
    """`scene` (a background generated without the product) with the product of `original`/`mask` pasted
    on, the scene's exposure and the contact shadow matched to the product's light. Product pixels (mask 0)
    come back exactly as in `original`."""
    scene = scene.convert("RGB")
    light = estimate_product_light(original, mask)
    if light is None:
        return scene.copy(), CompositeInfo((0.0, 0.0), 0.0, 1.0, 0.0, 0.0)
    arr = np.asarray(scene, dtype=np.float32)
    gain = 1.0
    box = product_bbox(mask)
    if match_exposure and box is not None:
        x0, y0, x1, y1 = box
        pad_x, pad_y = (x1 - x0) // 2 + 1, (y1 - y0) // 2 + 1
        m = np.asarray(mask.convert("L"))
        near = np.zeros(m.shape, bool)
        near[max(0, y0 - pad_y):y1 + pad_y, max(0, x0 - pad_x):x1 + pad_x] = True
        near &= m == 255
        if near.sum() >= 16:
            scene_high = float(np.percentile(_luminance(arr)[near], 95))
            if scene_high > 1e-3:
                gain = float(np.clip(np.sqrt(light.highlight / scene_high), *GAIN_RANGE))
        arr = np.clip(arr * gain, 0, 255)
    spec = None
    strength = 0.0
    dx = 0.0
    if shadow:
        strength = float(np.clip(0.2 + 1.5 * light.gradient, 0.2, 0.5))
        dx = float(-0.25 * light.from_x)  # the shadow falls away from the light
        spec = ShadowSpec(strength=strength, dx_frac=dx)
    out = paste_product(Image.fromarray(np.rint(arr).astype(np.uint8), "RGB"), original, mask,
                        feather_px=feather_px, shadow=spec)
    return out, CompositeInfo((light.from_x, light.from_y), light.gradient, gain, strength, dx)
