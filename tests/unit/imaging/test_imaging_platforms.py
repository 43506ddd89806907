"""Platform presets: one place, valid values, overrides, and every preset's rules met by real renders."""
from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from tests.helpers.imaging import TEMPLATES, decode, prompt_row
from skucore.imaging.exports import background_is_pure_white
from skucore.base.platforms import PLATFORM_PRESETS, get_preset, main_needs_pure_white, preset_with_overrides
from skucore.imaging.render import render_sku_images

REQUIRED = {"amazon_main", "taobao", "tmall", "jd", "pinduoduo", "shopify"}


def test_presets_cover_the_marketplaces():
    assert REQUIRED <= set(PLATFORM_PRESETS)
    for pid, p in PLATFORM_PRESETS.items():
        assert p.id == pid
        assert p.colour_space == "sRGB"
        assert p.format in ("JPEG", "PNG")
        assert p.min_side <= min(p.size) and max(p.size) <= p.max_side


def test_rule_values_from_platforms_md():
    amazon = get_preset("amazon_main")
    assert amazon.main_background == "pure_white" and amazon.min_fill == 0.85 and not amazon.allow_text_on_main
    assert max(amazon.size) >= 1000
    assert get_preset("pinduoduo").max_bytes == 1024 * 1024
    assert get_preset("pinduoduo").main_background == "white_except_apparel"
    assert get_preset("shopify").max_bytes == 20 * 1024 * 1024 and get_preset("shopify").size == (2048, 2048)


def test_unknown_platform_lists_valid_ids():
    with pytest.raises(KeyError) as e:
        get_preset("ebay")
    msg = str(e.value)
    assert "ebay" in msg and "amazon_main" in msg and "pinduoduo" in msg


def test_presets_are_frozen_and_overridable():
    p = get_preset("taobao")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_bytes = 1  # type: ignore[misc]
    q = preset_with_overrides("taobao", max_bytes=500_000, size=[1000, 1000])
    assert q.max_bytes == 500_000 and q.size == (1000, 1000) and get_preset("taobao").max_bytes != 500_000
    with pytest.raises(KeyError, match="bogus"):
        preset_with_overrides("taobao", bogus=1)
    with pytest.raises(ValueError, match="main_background"):
        preset_with_overrides("taobao", main_background="beige")
    with pytest.raises(ValueError, match="min_side"):
        preset_with_overrides("amazon_main", size=(400, 400))


def test_apparel_exemption():
    pdd = get_preset("pinduoduo")
    assert main_needs_pure_white(pdd, "drinkware")
    assert not main_needs_pure_white(pdd, "apparel")
    assert main_needs_pure_white(get_preset("amazon_main"), "apparel")
    assert not main_needs_pure_white(get_preset("shopify"), "drinkware")


@pytest.mark.parametrize("platform", sorted(PLATFORM_PRESETS))
def test_every_preset_rules_on_rendered_images(platform, bottle, promotion, sku_row):
    preset = get_preset(platform)
    rows = [prompt_row("hero", "t_hero", 11), prompt_row("detail", "t_detail", 12)]
    out = render_sku_images(bottle, sku_row, rows, promotion, platforms=[platform], templates_by_id=TEMPLATES,
                            source_sha256="0" * 64)
    main, detail = out
    assert (main.slot, detail.slot) == ("main", "secondary")
    for img in out:
        assert (img.width, img.height) == preset.size
        assert img.format == preset.format
        assert len(img.data) <= preset.max_bytes
        im = Image.open(io.BytesIO(img.data))
        assert im.format == preset.format and im.size == preset.size and im.mode == "RGB"
        assert img.fidelity["passed"], img.fidelity
    # main image: no text, fill ratio, background rule checked on the decoded pixels
    assert main.text_regions == []
    assert main.fill_ratio >= preset.min_fill
    if main_needs_pure_white(preset, sku_row["category"]):
        rgb = decode(main.data)
        assert background_is_pure_white(rgb, product_box=main.product_box, jpeg_block=8)
        corner = rgb[: preset.size[1] // 20, : preset.size[0] // 20]
        assert (corner == 255).all()
    # secondary image carries the overlays
    kinds = {r.kind for r in detail.text_regions}
    assert {"price", "badge", "selling_point"} <= kinds


def test_amazon_main_fill_for_a_wide_product(wide_product, promotion, sku_row):
    out = render_sku_images(wide_product, sku_row, [prompt_row("hero", "t_hero", 1)], promotion,
                            platforms=["amazon_main"], templates_by_id=TEMPLATES, source_sha256="x")
    x0, y0, x1, y1 = out[0].product_box
    assert (x1 - x0) / 1600 >= 0.85
    assert x0 >= 0.05 * 1600 - 1 and 1600 - x1 >= 0.05 * 1600 - 1
