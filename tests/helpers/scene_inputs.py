"""Inputs for the scene tests: products cut at the frame edge (a drawn model shot whose legs run off the bottom of
its photo, or whose head runs off the top; a real packshot cropped so its product is cut) and sample packshots
cut out with a crude alpha (what a layout test needs, independent of the cutout algorithm)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from skucore.base.types import Cutout
from tests.helpers.cutout import packshot
from tests.helpers.imaging import cutout_from_rgba

SKIN, SHIRT, TROUSERS = (224, 172, 140), (200, 40, 60), (30, 40, 90)


def model_shot(size: tuple[int, int] = (600, 800), cut: str = "bottom") -> np.ndarray:
    """RGBA of a standing figure (head, shirt, trousers, shoes) on a transparent canvas, cut at `cut` ("bottom":
    the photo ends at the thighs, like a half-body shot; "top": the photo starts at the chin, feet in frame)."""
    w, h = size
    k = 4  # drawn 4x larger, then reduced: anti-aliased outlines as a cutout has
    full_h = int(h * 1.6)  # the whole figure is taller than the photo; the photo is a crop of it
    big = Image.new("RGBA", (w * k, full_h * k), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    cx = w * k // 2

    def rect(x0, y0, x1, y1, colour):
        d.rounded_rectangle((cx + x0 * w * k, y0 * full_h * k, cx + x1 * w * k, y1 * full_h * k),
                            radius=w * k * 0.04, fill=colour + (255,))

    d.ellipse((cx - 0.09 * w * k, 0.02 * full_h * k, cx + 0.09 * w * k, 0.15 * full_h * k), fill=SKIN + (255,))
    rect(-0.03, 0.13, 0.03, 0.18, SKIN)  # neck
    rect(-0.30, 0.17, 0.30, 0.52, SHIRT)  # shirt with sleeves
    rect(-0.19, 0.50, -0.01, 0.96, TROUSERS)
    rect(0.01, 0.50, 0.19, 0.96, TROUSERS)
    rect(-0.22, 0.95, -0.01, 0.99, (20, 20, 20))  # shoes
    rect(0.01, 0.95, 0.22, 0.99, (20, 20, 20))
    figure = np.asarray(big.resize((w, full_h), Image.Resampling.LANCZOS))
    if cut == "bottom":
        return np.ascontiguousarray(figure[:h])
    if cut == "top":
        return np.ascontiguousarray(figure[full_h - h:])
    raise ValueError(f"cut={cut!r}: 'bottom' or 'top'")


def cropped_packshot(name: str = "solidus_tshirt_blue.jpg", keep: float = 0.62) -> Image.Image:
    """A real packshot with its bottom cropped off: the top `keep` of the photo, so the product runs off the
    bottom edge (a garment photographed too close)."""
    im = packshot(name).convert("RGB")
    im = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    return im.crop((0, 0, im.width, int(im.height * keep)))


def crude_cutout(name: str, scale: float = 0.5) -> Cutout:
    """A sample packshot at `scale` with alpha = any channel below 245 (median-filtered): the product's own pixels
    on a transparent canvas, without the cutout algorithm."""
    im = packshot(name).convert("RGB")
    im = im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.LANCZOS)
    a = np.asarray(im)
    alpha = np.where((a < 245).any(axis=2), 255, 0).astype(np.uint8)
    alpha = np.asarray(Image.fromarray(alpha).filter(ImageFilter.MedianFilter(5)))
    return cutout_from_rgba(np.dstack([a, alpha]))


class CastGenerator:
    """A stand-in for a diffusion backend whose scenes drift in tone from one request to the next: it returns the
    init canvas (product placed on the template backdrop) with a colour cast that depends on the request's seed
    (warm, cool, dark, green ...), over the product too; the renderer pastes the product back."""

    model_id = "fake/tone-drift"
    backend_name = "diffusers"
    CASTS = [(1.10, 1.00, 0.84), (0.86, 0.95, 1.12), (0.80, 0.80, 0.80), (0.95, 1.08, 0.92), (1.06, 0.97, 1.02)]

    def generate(self, requests):
        out = []
        for r in requests:
            cast = np.array(self.CASTS[r.seed % len(self.CASTS)], np.float32)
            arr = np.asarray(r.init_image.convert("RGB")).astype(np.float32) * cast
            out.append(Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB"))
        return out
