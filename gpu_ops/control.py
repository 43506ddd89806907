"""Control images for ControlNet conditioning, computed from the placed product (CPU, numpy + OpenCV).

Both return an RGB image of the canvas size:
- `canny_control`: Canny edges of the product only (the background is regenerated, so its edges say nothing),
  which pins the product's silhouette and perspective lines.
- `depth_control`: a depth proxy (bright = near): a floor-like vertical ramp for the background (far at the
  top, near at the bottom) and a rounded bulge for the product standing in front of it, so generated scenes
  put a surface under the product and light it from a plausible direction.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

CONTROL_MODES = ("canny", "depth")


def canny_control(init_image: Image.Image, mask: Image.Image, low: int = 50, high: int = 150) -> Image.Image:
    import cv2

    rgb = np.asarray(init_image.convert("RGB"), dtype=np.uint8)
    m = np.asarray(mask.convert("L"), dtype=np.uint8)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, low, high)
    product = (m < 128).astype(np.uint8)
    # The silhouette itself is an edge too, whatever the canvas under the product was.
    outline = cv2.morphologyEx(product, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) * 255
    near = cv2.dilate(product, np.ones((5, 5), np.uint8), iterations=1).astype(bool)
    out = np.where(near, np.maximum(edges, outline), 0).astype(np.uint8)
    return Image.fromarray(np.repeat(out[:, :, None], 3, axis=2), "RGB")


def depth_control(init_image: Image.Image, mask: Image.Image) -> Image.Image:
    import cv2

    m = np.asarray(mask.convert("L"), dtype=np.uint8)
    h, w = m.shape
    ramp = np.linspace(0.15, 0.6, h, dtype=np.float32)[:, None].repeat(w, axis=1)
    product = (m < 128).astype(np.uint8)
    depth = ramp
    if product.any():
        dist = cv2.distanceTransform(product, cv2.DIST_L2, 5).astype(np.float32)
        bulge = np.sqrt(dist / max(float(dist.max()), 1e-6))
        depth = np.where(product.astype(bool), 0.65 + 0.35 * bulge, ramp)
    out = np.clip(np.rint(depth * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(out[:, :, None], 3, axis=2), "RGB")


def control_image(mode: str, init_image: Image.Image, mask: Image.Image) -> Image.Image:
    if mode == "canny":
        return canny_control(init_image, mask)
    if mode == "depth":
        return depth_control(init_image, mask)
    raise ValueError(f"control_mode must be one of {CONTROL_MODES}, got {mode!r}")
