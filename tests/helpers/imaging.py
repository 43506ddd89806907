"""Helpers for the imaging tests: cutouts drawn here (mask = alpha), a fake promotion, templates, prompt rows."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from skucore.base.types import Cutout

from tests.helpers.cutout import PACKSHOTS  # noqa: F401  (the sample packshots, for the imaging tests)


def cutout_from_rgba(rgba: np.ndarray) -> Cutout:
    mask = rgba[..., 3].copy()
    ys, xs = np.nonzero(mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    h, w = mask.shape
    edges = tuple(n for n, hit in (("left", bbox[0] == 0), ("top", bbox[1] == 0), ("right", bbox[2] == w),
                                   ("bottom", bbox[3] == h)) if hit)
    return Cutout(rgba=rgba, mask=mask, bbox=bbox, area_ratio=float((mask > 0).mean()), touches_edge=bool(edges),
                  edges_touched=edges)


def drawn_product(size=(300, 400), seed=0) -> np.ndarray:
    """A textured 'bottle' with an anti-aliased silhouette and a white label, on a transparent canvas (RGBA)."""
    w, h = size
    rng = np.random.default_rng(seed)
    big = Image.new("L", (w * 4, h * 4), 0)
    d = ImageDraw.Draw(big)
    d.rounded_rectangle((w * 4 * 0.2, h * 4 * 0.25, w * 4 * 0.8, h * 4 * 0.95), radius=w * 0.4, fill=255)
    d.rectangle((w * 4 * 0.4, h * 4 * 0.08, w * 4 * 0.6, h * 4 * 0.3), fill=255)
    alpha = np.asarray(big.resize((w, h), Image.Resampling.LANCZOS))
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // w), (yy * 200 // h + 30), np.full_like(xx, 140)], axis=-1).astype(np.int16)
    rgb += rng.integers(-20, 21, size=rgb.shape, dtype=np.int16)  # texture, so JPEG has work to do
    rgb[int(h * 0.5):int(h * 0.7), int(w * 0.3):int(w * 0.7)] = 250  # a white label inside the product
    return np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), alpha])


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class FakePromotion:
    id = "double11"
    badge_text = "限时特惠"
    main_role = "hero"
    brand_kit = {"primary": "#C8102E", "secondary": "#FFFFFF", "accent": "#FFD100", "text": "#1A1A1A",
                 "font": None}

    def promo_price(self, price: float) -> float:
        return round(price * 0.8)


TEMPLATES = {
    "t_hero": {"id": "t_hero", "backend": "studio", "overlays": [], "shadow": True, "reflection": False,
               "backdrop": {"kind": "gradient", "colours": ["#F4F1EC", "#DDD8D0"]}},
    "t_life": {"id": "t_life", "backend": "studio", "backdrop": {"kind": "surface", "surface": "marble"},
               "overlays": ["selling_points"], "shadow": True, "reflection": True, "fill": 0.6},
    "t_detail": {"id": "t_detail", "backend": "studio",
                 "backdrop": {"kind": "gradient", "colours": ["brand.secondary", "#FFFFFF"]},
                 "overlays": ["price", "badge", "selling_points"], "fill": 0.55},
    "t_gen": {"id": "t_gen", "backend": "diffusers", "backdrop": {"kind": "brand", "colour": "primary", "tint": 0.5},
              "overlays": ["price", "badge"], "fill": 0.5},
}


def prompt_row(role: str, template_id: str, seed: int, backend: str | None = None) -> dict:
    return {"promotion": "double11", "sku": "SKU-1", "role": role, "template_id": template_id,
            "backend": backend or TEMPLATES[template_id]["backend"], "prompt": f"a {role} scene",
            "negative_prompt": "blurry", "seed": seed, "attempt": 0, "prompt_hash": f"hash-{role}"}


SKU_ROW = {"sku": "SKU-1", "category": "drinkware", "price": 1299.0, "currency": "CNY",
           "selling_points": ["304不锈钢内胆，保温12小时", "Dishwasher safe, BPA-free lid", "轻巧便携"]}
