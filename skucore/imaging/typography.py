"""Overlay text: price tag, promotion badge, selling points (Chinese and English).

Rules kept here:
- Text is drawn at the export resolution on the final canvas (never resized after drawing).
- Every piece a shopper reads is returned as `TextRegion(kind, text, box)`, with `box` the tight ink box of exactly
  that text in the image's pixels (measured from the rendered glyph mask), so OCR on the crop can verify it.
  Kinds: "price" (promo price), "original_price" (struck through), "badge", "selling_point" (one region per line).
  Decorations (plates, bullets, the strike line) stay inside or outside those boxes but are not text.
- Colours come from the brand kit (duck-typed object or dict: primary, secondary, accent, text as "#RRGGBB",
  font as a path); text colour against its plate is chosen for a WCAG contrast ratio of at least 4.5.
- The caller decides *whether* text may go on an image (`skucore.base.platforms`: never on marketplace main images).

Layout: `overlay_layout(canvas_size, overlays)` reserves a top band (badge left, selling points right) and a bottom
band (price tag, right-aligned) and returns the product area in between, which `scene.render_scene(...,
product_area=...)` fills, so text never covers the product. A product cut at its photo's frame moves the bands off
its cut sides (`overlay_layout(..., flush=...)`), so its cut edge still meets the frame.

The struck-through list price is drawn to stay readable at the smallest export (`draw_price_tag`,
`strike_through`: a floor on its size, a thin strike at the digits' middle, half-way between text and plate).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from skucore.imaging.fonts import font_for_text
from skucore.base.colour import parse_colour
from skucore.base.types import TextRegion

DEFAULT_BRAND = {"primary": "#E1251B", "secondary": "#FFFFFF", "accent": "#FFD100", "text": "#1A1A1A",
                 "font": None}
CURRENCY_SYMBOLS = {"CNY": "¥", "RMB": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$",
                    "TWD": "NT$", "SGD": "S$", "MYR": "RM", "THB": "฿", "KRW": "₩", "AUD": "A$", "CAD": "C$"}
OVERLAY_KINDS = ("price", "badge", "selling_points")
MIN_CONTRAST = 4.5


# --------------------------------------------------------------------------------------------------- colours
def _brand(brand_kit: Any) -> dict:
    out = dict(DEFAULT_BRAND)
    if brand_kit is None:
        return out
    for k in DEFAULT_BRAND:
        v = brand_kit.get(k) if isinstance(brand_kit, dict) else getattr(brand_kit, k, None)
        if v:
            out[k] = v
    return out


def relative_luminance(c) -> float:
    r, g, b = (x / 255.0 for x in parse_colour(c))

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast_ratio(a, b) -> float:
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def pick_text_colour(plate, candidates: Iterable = (), min_ratio: float = MIN_CONTRAST) -> tuple[int, int, int]:
    """The first candidate with at least `min_ratio` contrast against `plate`, else black or white (the higher)."""
    for c in candidates:
        if c is None:
            continue
        try:
            if contrast_ratio(c, plate) >= min_ratio:
                return parse_colour(c)
        except ValueError:
            continue
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast_ratio(black, plate) >= contrast_ratio(white, plate) else white


# ----------------------------------------------------------------------------------------------------- prices
def format_price(amount: float, currency: str | None = "CNY") -> str:
    """1039 -> "¥1,039"; 99.9 -> "¥99.90"; unknown currency code -> "ABC 12.00"."""
    amount = float(amount)
    cents = int(round(amount * 100))
    whole, frac = divmod(abs(cents), 100)
    num = f"{whole:,}" if frac == 0 else f"{whole:,}.{frac:02d}"
    if cents < 0:
        num = "-" + num
    code = (currency or "CNY").upper()
    sym = CURRENCY_SYMBOLS.get(code)
    return f"{sym}{num}" if sym else f"{code} {num}"


# ---------------------------------------------------------------------------------------------------- drawing
_INK_PAD = 2


def _ink_box(font: ImageFont.FreeTypeFont, text: str) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The text's glyph mask cropped to its ink, and that ink box in a layer drawn at (pad - l, pad - t)."""
    l, t, r, b = font.getbbox(text)
    pad = _INK_PAD
    layer = Image.new("L", (max(1, r - l) + 2 * pad, max(1, b - t) + 2 * pad), 0)
    ImageDraw.Draw(layer).text((pad - l, pad - t), text, font=font, fill=255)
    ink = layer.getbbox()
    if ink is None:
        raise ValueError(f"text {text!r} renders no ink")
    return layer.crop(ink), ink


def text_size(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    layer, _ = _ink_box(font, text)
    return layer.size


def draw_text(image: Image.Image, xy: tuple[int, int], text: str, font: ImageFont.FreeTypeFont, fill,
              kind: str) -> TextRegion:
    """Draw `text` with its ink's top-left at `xy`; returns the tight ink box (clipped to the image)."""
    layer, _ = _ink_box(font, text)
    x, y = int(xy[0]), int(xy[1])
    image.paste(Image.new("RGB", layer.size, parse_colour(fill)), (x, y), layer)
    W, H = image.size
    box = (max(0, x), max(0, y), min(W, x + layer.width), min(H, y + layer.height))
    return TextRegion(kind, text, box)


def _plate(image: Image.Image, box, colour, radius: int, opacity: float = 1.0) -> None:
    colour = parse_colour(colour)
    x0, y0, x1, y1 = (int(v) for v in box)
    if opacity >= 1.0:
        ImageDraw.Draw(image).rounded_rectangle((x0, y0, x1 - 1, y1 - 1), radius=radius, fill=colour)
        return
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, x1 - x0 - 1, y1 - y0 - 1), radius=radius,
                                           fill=int(round(255 * opacity)))
    image.paste(Image.new("RGB", mask.size, colour), (x0, y0), mask)


def _fit_font(text: str, size: int, max_w: int, brand_font, min_size: int = 10) -> ImageFont.FreeTypeFont:
    size = max(min_size, int(size))
    while True:
        font = font_for_text(text, size, brand_font)
        if text_size(font, text)[0] <= max_w or size <= min_size:
            return font
        size = max(min_size, int(size * 0.9))


# The struck-through list price. OCR (and a shopper on a phone) could not read short list prices ("$7", "$19")
# through a full-strength strike across the middle of the ink box: the line merged with the glyphs ("$19" read
# "$出9", "$7" read "$"). `bench/bench_struck_prices.py` (20 list prices x 6 export sizes x 3 plates, JPEG q85,
# read by the project's OCR): that strike (text colour, 1/9 of the ink height, list price at half the promo size)
# read back 305 of 360 exactly; the one below 359 (the miss is the recogniser's own trouble with "¥"). Under
# 20 px even unstruck prices misread ("¥129" -> "Y129"), hence the floor.
STRUCK_PRICE_MIN_PX = 20  # font size floor of the list price, whatever the canvas
STRUCK_PRICE_SCALE = 0.55  # list price font size / promo price font size
STRIKE_THICKNESS = 1 / 12  # of the digit height, at least 1 px
STRIKE_OPACITY = 0.5  # the strike is the text colour mixed half-way towards the plate


def digit_band(font: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """(top, bottom) of the digits' ink in the font's own coordinates (anchor "la", as `_ink_box` draws)."""
    return _ink_top_bottom(font, "0")


def _ink_top_bottom(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    _, ink = _ink_box(font, text)
    t = font.getbbox(text)[1]
    return ink[1] - _INK_PAD + t, ink[3] - _INK_PAD + t


def strike_through(image: Image.Image, region: TextRegion, font: ImageFont.FreeTypeFont, colour, plate) -> None:
    """A strike across `region` (text drawn by `draw_text` with `font`): thin, at the middle of the digits, in the
    text colour mixed half-way towards `plate`, so the glyphs stay readable through it."""
    d_top, d_bottom = digit_band(font)
    ink_top, _ = _ink_top_bottom(font, region.text)
    lw = max(1, int(round((d_bottom - d_top) * STRIKE_THICKNESS)))
    ymid = region.box[1] + (d_top + d_bottom) / 2.0 - ink_top
    y0 = int(round(ymid - lw / 2.0))
    c, p = parse_colour(colour), parse_colour(plate)
    mixed = tuple(int(round(a + (b - a) * STRIKE_OPACITY)) for a, b in zip(c, p))
    ImageDraw.Draw(image).rectangle((region.box[0], y0, region.box[2] - 1, y0 + lw - 1), fill=mixed)


def draw_price_tag(image: Image.Image, box: tuple[int, int, int, int], promo_price: float,
                   original_price: float | None, currency: str | None = "CNY", brand_kit: Any = None,
                   align: str = "right") -> list[TextRegion]:
    """A plate in the brand's primary colour with the promo price, and the original price struck through when it
    is higher (`strike_through`, never smaller than `STRUCK_PRICE_MIN_PX`). Fitted inside `box`."""
    bk = _brand(brand_kit)
    x0, y0, x1, y1 = box
    bh, bw = y1 - y0, x1 - x0
    promo = format_price(promo_price, currency)
    orig = format_price(original_price, currency) if original_price is not None and \
        float(original_price) > float(promo_price) + 1e-9 else None
    pad = max(4, int(bh * 0.16))
    size = int(bh * 0.62)
    while True:
        f_main = font_for_text(promo, size, bk["font"])
        f_orig = font_for_text(orig, max(STRUCK_PRICE_MIN_PX, int(size * STRUCK_PRICE_SCALE)), bk["font"]) \
            if orig else None
        mw, mh = text_size(f_main, promo)
        ow, oh = text_size(f_orig, orig) if orig else (0, 0)
        gap = int(size * 0.3) if orig else 0
        plate_w = mw + gap + ow + 2 * pad
        plate_h = max(mh, oh) + 2 * pad
        if (plate_w <= bw and plate_h <= bh) or size <= 10:
            break
        size = max(10, int(size * 0.9))
    px0 = x1 - plate_w if align == "right" else (x0 if align == "left" else x0 + (bw - plate_w) // 2)
    py0 = y0 + (bh - plate_h) // 2
    plate = bk["primary"]
    _plate(image, (px0, py0, px0 + plate_w, py0 + plate_h), plate, radius=max(2, plate_h // 5))
    colour = pick_text_colour(plate, (bk["secondary"], bk["text"]))
    base = py0 + pad + max(mh, oh)  # bottoms aligned
    regions = [draw_text(image, (px0 + pad, base - mh), promo, f_main, colour, "price")]
    if orig:
        r = draw_text(image, (px0 + pad + mw + gap, base - oh), orig, f_orig, colour, "original_price")
        strike_through(image, r, f_orig, colour, plate)
        regions.append(r)
    return regions


def draw_badge(image: Image.Image, box: tuple[int, int, int, int], text: str, brand_kit: Any = None
               ) -> list[TextRegion]:
    """A promotion badge (e.g. 限时特惠) on a plate in the brand's accent colour, top-left of `box`."""
    if not text or not text.strip():
        return []
    bk = _brand(brand_kit)
    text = text.strip()
    x0, y0, x1, y1 = box
    bh, bw = y1 - y0, x1 - x0
    pad = max(4, int(bh * 0.14))
    font = _fit_font(text, int(bh * 0.5), bw - 2 * pad, bk["font"])
    tw, th = text_size(font, text)
    while th + 2 * pad > bh and font.size > 10:
        font = font_for_text(text, max(10, int(font.size * 0.9)), bk["font"])
        tw, th = text_size(font, text)
    plate = bk["accent"]
    _plate(image, (x0, y0, x0 + tw + 2 * pad, y0 + th + 2 * pad), plate, radius=max(2, (th + 2 * pad) // 4))
    colour = pick_text_colour(plate, (bk["text"], bk["primary"]))
    return [draw_text(image, (x0 + pad, y0 + pad), text, font, colour, "badge")]


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-.,%/+&]*|\s+|.", re.S)
_NO_LINE_START = set("，。、！？；：）》」』】,.!?;:)%")


def _tokens(text: str) -> list[str]:
    toks: list[str] = []
    for t in _TOKEN.findall(text):
        if toks and t in _NO_LINE_START:
            toks[-1] += t
        else:
            toks.append(t)
    return toks


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy wrap: Latin words stay whole (split only when a word alone is too wide), CJK breaks between
    characters, closing punctuation never starts a line."""
    lines: list[str] = []
    cur = ""
    for tok in _tokens(" ".join(text.split())):
        cand = cur + tok
        if not cur.strip() or font.getlength(cand.strip()) <= max_width:
            cur = cand
            continue
        lines.append(cur.strip())
        cur = "" if tok.isspace() else tok
    if cur.strip():
        lines.append(cur.strip())
    # a single over-wide token: split it by characters
    out: list[str] = []
    for line in lines:
        if font.getlength(line) <= max_width or len(line) == 1:
            out.append(line)
            continue
        piece = ""
        for ch in line:
            if piece and font.getlength(piece + ch) > max_width:
                out.append(piece.strip())
                piece = ch
            else:
                piece += ch
        if piece.strip():
            out.append(piece.strip())
    return [ln for ln in out if ln]


def draw_selling_points(image: Image.Image, box: tuple[int, int, int, int], points: Sequence[str],
                        brand_kit: Any = None, max_points: int = 3) -> list[TextRegion]:
    """Bulleted selling points wrapped to the box width on a light plate; one `TextRegion` per drawn line.
    The font shrinks to fit; points that still do not fit are left out (never clipped mid-line)."""
    pts = [" ".join(str(p).split()) for p in points if p is not None and str(p).strip()][:max_points]
    if not pts:
        return []
    bk = _brand(brand_kit)
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    pad = max(4, int(min(bw, bh) * 0.06))
    size = max(10, int(bh / (len(pts) * 1.6 + 0.4)))
    min_size = max(10, int(bh * 0.09))
    while True:
        font = font_for_text("".join(pts), size, bk["font"])
        bullet = max(3, size // 4)
        text_w = bw - 2 * pad - bullet * 3
        wrapped = [wrap_text(p, font, text_w) for p in pts]
        line_h = int(round(size * 1.3))
        total = sum(len(w) for w in wrapped) * line_h + (len(pts) - 1) * int(size * 0.25)
        if total <= bh - 2 * pad or size <= min_size:
            break
        size = max(min_size, int(size * 0.92))
    # drop whole points that do not fit at the smallest size
    while len(wrapped) > 1 and total > bh - 2 * pad:
        wrapped.pop()
        total = sum(len(w) for w in wrapped) * line_h + (len(wrapped) - 1) * int(size * 0.25)
    plate = "#FFFFFF"
    widest = max(text_size(font, ln)[0] for lines in wrapped for ln in lines)
    px1 = min(x1, x0 + 2 * pad + bullet * 3 + widest + 2)
    _plate(image, (x0, y0, px1, min(y1, y0 + total + 2 * pad)), plate, radius=max(2, pad), opacity=0.88)
    # effective plate colour: white at 88% over what is behind it
    behind = np.asarray(image.crop(box)).reshape(-1, 3).mean(axis=0)
    eff = tuple(int(round(0.88 * 255 + 0.12 * v)) for v in behind)
    colour = pick_text_colour(eff, (bk["text"], bk["primary"]))
    regions = []
    draw = ImageDraw.Draw(image)
    y = y0 + pad
    for lines in wrapped:
        for i, line in enumerate(lines):
            ink_w, ink_h = text_size(font, line)
            ty = y + (line_h - ink_h) // 2
            if i == 0:
                cy = y + line_h // 2
                bx = x0 + pad + bullet
                draw.ellipse((bx - bullet // 2, cy - bullet // 2, bx + bullet // 2, cy + bullet // 2),
                             fill=parse_colour(bk["primary"]))
            regions.append(draw_text(image, (x0 + pad + bullet * 3, ty), line, font, colour, "selling_point"))
            y += line_h
        y += int(size * 0.25)
    return regions


# ------------------------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class OverlayLayout:
    product_area: tuple[int, int, int, int]
    badge_box: tuple[int, int, int, int] | None
    points_box: tuple[int, int, int, int] | None
    price_box: tuple[int, int, int, int] | None
    bars: tuple[tuple[int, int, int, int], ...] = ()  # bands painted solid: the frame edge of a cut product


def overlay_layout(canvas_size: tuple[int, int], overlays: Iterable[str], flush: Iterable[str] = ()
                   ) -> OverlayLayout:
    """Reserve bands for the overlays; the product goes in what is left. The badge and selling points share a
    head band (21 % of the height), the price a band of its own (16 %): head at the top, price at the bottom.

    `flush` names the sides of a product cut at its photo's frame (`placement.cut_sides`), which must meet the
    frame: a product cut at the bottom gets both bands at the top (head, then price), one cut at the top gets both
    at the bottom; one cut at both keeps the bands where they are and they become solid bars (`bars`, painted in
    the brand's text colour by `apply_overlays`) that its cut edges meet."""
    ov = set(overlays or ())
    unknown = ov - set(OVERLAY_KINDS)
    if unknown:
        raise ValueError(f"unknown overlay(s) {sorted(unknown)}; valid: {', '.join(OVERLAY_KINDS)}")
    flush = set(flush or ())
    W, H = canvas_size
    m = int(round(min(W, H) * 0.04))
    head = int(H * 0.21) if ov & {"badge", "selling_points"} else 0
    foot = int(H * 0.16) if "price" in ov else 0
    if "bottom" in flush and "top" not in flush:
        head_row, price_row, area = (0, head), (head, head + foot), (0, head + foot, W, H)
    elif "top" in flush and "bottom" not in flush:
        head_row, price_row, area = (H - foot - head, H - foot), (H - foot, H), (0, 0, W, H - foot - head)
    else:
        head_row, price_row, area = (0, head), (H - foot, H), (0, head, W, H - foot)
    badge_box = points_box = price_box = None
    if "badge" in ov:
        badge_box = (m, head_row[0] + m, int(W * 0.42), head_row[1] - m // 2)
    if "selling_points" in ov:
        points_box = (int(W * 0.46) if "badge" in ov else m, head_row[0] + m, W - m, head_row[1] - m // 2)
    if "price" in ov:
        price_box = (m, price_row[0] + m // 2, W - m, price_row[1] - m)
    bars: tuple = ()
    if {"top", "bottom"} <= flush:
        bars = tuple((0, r0, W, r1) for r0, r1 in (head_row, price_row) if r1 > r0)
    return OverlayLayout(area, badge_box, points_box, price_box, bars)


def apply_overlays(image: Image.Image, layout: OverlayLayout, *, price: float | None = None,
                   promo_price: float | None = None, currency: str | None = "CNY", badge_text: str | None = None,
                   selling_points: Sequence[str] = (), brand_kit: Any = None) -> list[TextRegion]:
    """Draw the overlays `layout` reserved room for (in place, on the export-sized RGB image)."""
    if image.mode != "RGB":
        raise ValueError("apply_overlays draws on an RGB image")
    for bar in layout.bars:
        _plate(image, bar, _brand(brand_kit)["text"], radius=0)
    regions: list[TextRegion] = []
    if layout.badge_box and badge_text:
        regions += draw_badge(image, layout.badge_box, badge_text, brand_kit)
    if layout.points_box and selling_points:
        regions += draw_selling_points(image, layout.points_box, selling_points, brand_kit)
    if layout.price_box and (promo_price is not None or price is not None):
        shown = promo_price if promo_price is not None else price
        regions += draw_price_tag(image, layout.price_box, shown, price, currency, brand_kit)
    return regions


def normalise_for_ocr(text: str) -> str:
    """NFKC and no whitespace: how OCR output and `TextRegion.text` should be compared ("￥" == "¥")."""
    return "".join(unicodedata.normalize("NFKC", text).split())
