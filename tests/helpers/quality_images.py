"""Image builders for the quality tests: products, canvases and text drawn with PIL and Noto Sans CJK SC."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import noto_cjk_sans_otc
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from skucore.base.types import TextRegion

FONT_PATH = Path(noto_cjk_sans_otc.__file__).parent / "NotoSansCJK-Regular.ttc"
SC_INDEX = 2  # Simplified Chinese face in the collection


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size, index=SC_INDEX)


@dataclass(frozen=True)
class Preset:
    id: str = "test"
    size: tuple[int, int] | None = (800, 800)
    min_side: int | None = 500
    max_side: int | None = 2000
    main_background: str | None = "pure_white"
    min_fill: float | None = 0.5
    max_bytes: int | None = 1_000_000
    format: str = "JPEG"
    allow_text_on_main: bool | None = False


def product(w: int, h: int, seed: int = 0, colour=(40, 90, 160)) -> Image.Image:
    """An RGB 'product': a coloured body with stripes, a label and lettering (edges at many orientations)."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (w, h), colour)
    d = ImageDraw.Draw(im)
    for k in range(0, w, max(6, w // 14)):
        d.line([(k, 0), (k + h // 3, h)], fill=tuple(int(c * 0.6) for c in colour), width=3)
    d.ellipse([w * 0.2, h * 0.2, w * 0.8, h * 0.6], fill=(230, 220, 200), outline=(20, 20, 20), width=4)
    d.text((w * 0.25, h * 0.3), "AQUA", font=font(max(12, h // 8)), fill=(200, 30, 40))
    noise = rng.integers(-6, 7, size=(h, w, 3))
    arr = np.clip(np.asarray(im).astype(int) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def canvas(size=(800, 800), bg=(255, 255, 255), prod: Image.Image | None = None, at=(200, 200)):
    """Canvas with `prod` pasted at `at`; returns (image, product_box)."""
    im = Image.new("RGB", size, bg)
    box = None
    if prod is not None:
        im.paste(prod, at)
        box = (at[0], at[1], at[0] + prod.width, at[1] + prod.height)
    return im, box


def draw_text(im: Image.Image, text: str, xy, size=36, fill=(0, 0, 0), plate=None, kind="price", pad=10):
    """Draw `text` (optionally on a plate of colour `plate`); returns the TextRegion of what was drawn."""
    d = ImageDraw.Draw(im)
    x, y = xy
    l, t, r, b = d.textbbox((x, y), text, font=font(size))
    if plate is not None:
        d.rectangle([l - pad, t - pad, r + pad, b + pad], fill=plate)
        box = (l - pad, t - pad, r + pad + 1, b + pad + 1)
    else:
        box = (l - 2, t - 2, r + 2, b + 2)
    d.text((x, y), text, font=font(size), fill=fill)
    return TextRegion(kind, text, box)


def encode(im: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def blurred(im: Image.Image, radius: float) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(radius))
