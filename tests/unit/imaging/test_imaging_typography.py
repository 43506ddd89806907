"""Typography: CJK glyphs (not tofu), tight text boxes, prices, wrapping, contrast, brand font fallback."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skucore.imaging.fonts import NOTDEF_PROBE, brand_face, default_cjk_face, font_for_text, load_font, missing_glyphs
from skucore.base.colour import parse_colour
from skucore.imaging.scene import render_scene
from skucore.imaging.typography import (apply_overlays, contrast_ratio, draw_badge, draw_price_tag, format_price,
                                normalise_for_ocr, overlay_layout, pick_text_colour, wrap_text)


def glyph(font, ch: str) -> np.ndarray:
    im = Image.new("L", (80, 80), 0)
    from PIL import ImageDraw

    ImageDraw.Draw(im).text((8, 4), ch, font=font, fill=255)
    return np.asarray(im)


def test_default_face_is_simplified_chinese_from_the_wheels():
    face = default_cjk_face()
    assert "SC" in face.name
    assert "site-packages" in face.path or "dist-packages" in face.path


def test_chinese_glyphs_are_not_tofu():
    font = load_font(48)
    notdef = glyph(font, NOTDEF_PROBE)
    assert notdef.any()  # the .notdef box has ink: it is what tofu looks like
    bitmaps = [glyph(font, ch) for ch in "限时特惠"]
    for i, b in enumerate(bitmaps):
        assert b.any()
        assert not np.array_equal(b, notdef)
        for other in bitmaps[i + 1:]:
            assert not np.array_equal(b, other)
    face = default_cjk_face()
    assert missing_glyphs(face, "限时特惠 ¥1,039 保温12小时 Dishwasher safe") == []
    assert missing_glyphs(face, "限" + NOTDEF_PROBE) == [NOTDEF_PROBE]


def test_brand_font_override_and_fallback(tmp_path):
    try:
        from pylopdf_fonts_zh_cn import serif_path
    except ImportError:
        pytest.skip("pylopdf-fonts-zh-cn not installed")
    serif = str(serif_path())
    f = font_for_text("限时特惠", 30, serif)
    assert f.path == serif  # a brand font that covers the text is used
    f = font_for_text("限时特惠", 30, tmp_path / "missing.otf")
    assert f.path == default_cjk_face().path  # a missing brand font falls back
    bad = tmp_path / "bad.otf"
    bad.write_bytes(b"not a font")
    assert brand_face(bad) is None
    assert brand_face("Noto Sans CJK SC") is None  # a family name, not a path: falls back


def test_format_price():
    assert format_price(1039, "CNY") == "¥1,039"
    assert format_price(1039.0) == "¥1,039"
    assert format_price(99.9, "CNY") == "¥99.90"
    assert format_price(12.5, "USD") == "$12.50"
    assert format_price(5, "XYZ") == "XYZ 5"
    assert normalise_for_ocr("￥1,039") == normalise_for_ocr("¥1,039")


def test_contrast_choice():
    yellow = "#FFD100"
    c = pick_text_colour(yellow, ["#FFFFFF"])
    assert c == (0, 0, 0) and contrast_ratio(c, yellow) >= 4.5
    assert pick_text_colour("#C8102E", ["#FFFFFF"]) == (255, 255, 255)
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)


def test_wrap_keeps_words_and_width():
    font = load_font(20)
    lines = wrap_text("Dishwasher safe and BPA-free lid for everyday use", font, 150)
    assert len(lines) > 1
    assert all(font.getlength(ln) <= 150 for ln in lines)
    assert " ".join(lines).split() == "Dishwasher safe and BPA-free lid for everyday use".split()
    zh = wrap_text("304不锈钢内胆，保温12小时长效锁温，轻巧便携", font, 120)
    assert "".join(zh) == "304不锈钢内胆，保温12小时长效锁温，轻巧便携"
    assert all(font.getlength(ln) <= 120 for ln in zh)
    assert not any(ln[0] in "，。" for ln in zh)


def ink_box_around(img: Image.Image, box, plate) -> tuple[int, int, int, int]:
    """Bounding box of pixels differing from the plate colour, in `box` grown by 3 px."""
    x0, y0, x1, y1 = box
    g = (x0 - 3, y0 - 3, x1 + 3, y1 + 3)
    arr = np.asarray(img.crop(g)).astype(int)
    diff = np.abs(arr - np.array(parse_colour(plate))).sum(axis=2) > 0
    ys, xs = np.nonzero(diff)
    return (g[0] + xs.min(), g[1] + ys.min(), g[0] + xs.max() + 1, g[1] + ys.max() + 1)


def test_badge_box_is_tight():
    img = Image.new("RGB", (600, 300), (255, 255, 255))
    kit = {"accent": "#FFD100", "text": "#1A1A1A"}
    (r,) = draw_badge(img, (20, 20, 400, 140), "限时特惠", kit)
    assert r.kind == "badge" and r.text == "限时特惠"
    assert ink_box_around(img, r.box, "#FFD100") == r.box


def test_price_tag_regions():
    img = Image.new("RGB", (800, 200), (240, 240, 240))
    regions = draw_price_tag(img, (20, 20, 780, 180), 1039, 1299, "CNY", {"primary": "#C8102E"})
    assert [(r.kind, r.text) for r in regions] == [("price", "¥1,039"), ("original_price", "¥1,299")]
    price, orig = regions
    assert ink_box_around(img, price.box, "#C8102E") == price.box
    assert price.box[2] <= orig.box[0]
    # original price struck through: a continuous line across the digits' middle, half-way between the text
    # colour (white) and the plate, so the glyphs stay readable through it
    strike = (np.array(parse_colour("#FFFFFF")) + np.array(parse_colour("#C8102E"))) / 2
    arr = np.asarray(img).astype(int)
    rows = [y for y in range(orig.box[1], orig.box[3])
            if (np.abs(arr[y, orig.box[0]:orig.box[2]] - strike).max(axis=1) <= 2).mean() > 0.6]
    assert rows and len(rows) <= max(2, (orig.box[3] - orig.box[1]) // 8)  # thin
    mid = (orig.box[1] + orig.box[3]) / 2
    assert abs(np.mean(rows) - mid) <= (orig.box[3] - orig.box[1]) * 0.2  # near the middle of the digits
    assert orig.box[3] - orig.box[1] >= 14  # the list price never shrinks below STRUCK_PRICE_MIN_PX
    # no original price when there is no discount
    img2 = Image.new("RGB", (800, 200))
    assert [r.kind for r in draw_price_tag(img2, (0, 0, 800, 200), 1299, 1299, "CNY")] == ["price"]


def test_overlays_avoid_the_product(bottle):
    size = (800, 800)
    layout = overlay_layout(size, ["price", "badge", "selling_points"])
    scene = render_scene(bottle, {"kind": "gradient"}, size, fill=0.55, seed=2, product_area=layout.product_area)
    regions = apply_overlays(scene.image, layout, price=1299, promo_price=1039, currency="CNY",
                             badge_text="限时特惠", selling_points=["304不锈钢内胆，保温12小时", "Dishwasher safe"],
                             brand_kit={"primary": "#C8102E", "accent": "#FFD100"})
    assert {r.kind for r in regions} == {"price", "original_price", "badge", "selling_point"}
    px0, py0, px1, py1 = scene.product_box
    for r in regions:
        x0, y0, x1, y1 = r.box
        assert x1 <= px0 or x0 >= px1 or y1 <= py0 or y0 >= py1, (r, scene.product_box)
        assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 800
    with pytest.raises(ValueError, match="unknown overlay"):
        overlay_layout(size, ["logo"])
