"""Exports: byte limits met by quality search, downscale or a clear error, rules, determinism."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from skucore.imaging.exports import (ExportRuleViolation, ExportTooLarge, _encode, export_image, srgb_icc_profile)
from skucore.base.platforms import preset_with_overrides
from skucore.imaging.scene import render_scene
from skucore.base.types import TextRegion


def noise(size=(800, 800), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_quality_search_meets_limit_and_is_tight():
    img = noise()
    q95 = len(_encode(img, "JPEG", 95, None))
    limit = q95 // 2
    preset = preset_with_overrides("taobao", max_bytes=limit)
    e = export_image(img, preset, slot="secondary")
    assert e.byte_size == len(e.data) <= limit
    assert 60 <= e.quality < 95
    assert len(_encode(img, "JPEG", e.quality + 1, None)) > limit  # the highest quality that fits
    assert not e.downscaled


def test_floor_too_big_downscales_without_text():
    img = noise((1000, 1000))
    floor = len(_encode(img, "JPEG", 60, None))
    preset = preset_with_overrides("taobao", size=(1000, 1000), min_side=500, max_bytes=floor // 3)
    e = export_image(img, preset, slot="secondary")
    assert e.downscaled and e.byte_size <= preset.max_bytes
    assert 500 <= min(e.width, e.height) < 1000
    assert any("downscaled" in n for n in e.notes)


def test_floor_too_big_with_text_asks_for_a_rerender():
    img = noise((1000, 1000))
    floor = len(_encode(img, "JPEG", 60, None))
    preset = preset_with_overrides("taobao", size=(1000, 1000), min_side=500, max_bytes=floor // 3)
    with pytest.raises(ExportTooLarge) as e:
        export_image(img, preset, slot="secondary", text_regions=[TextRegion("badge", "x", (1, 1, 5, 5))])
    assert e.value.suggested_size is not None and 500 <= e.value.suggested_size[0] < 1000


def test_floor_too_big_at_min_side_is_a_clear_error():
    img = noise((800, 800))
    preset = preset_with_overrides("pinduoduo", min_side=800, max_bytes=20_000)
    with pytest.raises(ExportTooLarge, match="min_side"):
        export_image(img, preset, slot="secondary")


def test_jpeg_settings_and_determinism(bottle):
    scene = render_scene(bottle, {"kind": "white"}, (1600, 1600), fill=0.88, seed=0, shadow=False)
    a = export_image(scene, "amazon_main", slot="main", icc_profile=True)
    b = export_image(scene, "amazon_main", slot="main", icc_profile=True)
    assert a.data == b.data
    im = Image.open(io.BytesIO(a.data))
    assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    assert im.info.get("progressive") or im.info.get("progression")
    assert im.info.get("icc_profile") == srgb_icc_profile()
    assert a.quality == 95 and a.background_ok is True and a.fill_ratio >= 0.85


def test_main_rules_violations(bottle):
    grey = render_scene(bottle, {"kind": "brand", "colour": "#FAFAFA"}, (1600, 1600), fill=0.88, seed=0,
                        shadow=False)
    with pytest.raises(ExportRuleViolation) as e:
        export_image(grey, "amazon_main", slot="main")
    assert e.value.reason == "background_not_pure_white"
    export_image(grey, "amazon_main", slot="secondary")  # secondary images may have any background
    small = render_scene(bottle, {"kind": "white"}, (1600, 1600), fill=0.6, seed=0, shadow=False)
    with pytest.raises(ExportRuleViolation) as e:
        export_image(small, "amazon_main", slot="main")
    assert e.value.reason == "fill_below_minimum"
    ok = render_scene(bottle, {"kind": "white"}, (1600, 1600), fill=0.88, seed=0, shadow=False)
    with pytest.raises(ExportRuleViolation) as e:
        export_image(ok, "amazon_main", slot="main", text_regions=[TextRegion("price", "¥1", (1, 1, 9, 9))])
    assert e.value.reason == "text_on_main"
    lax = export_image(small, "amazon_main", slot="main", strict=False)
    assert any(v.startswith("fill_below_minimum") for v in lax.violations)


def test_size_and_format_handling(bottle):
    scene = render_scene(bottle, {"kind": "white"}, (400, 400), fill=0.8, seed=0, shadow=False)
    e = export_image(scene, "taobao", slot="main")
    assert (e.width, e.height) == (800, 800) and any("resized" in n for n in e.notes)
    assert e.product_box[2] - e.product_box[0] == pytest.approx(2 * (scene.product_box[2] - scene.product_box[0]), abs=20)
    # a bare image resized onto a pure-white main slot still meets the pixel rule (ringing stays in the box)
    scene = render_scene(bottle, {"kind": "white"}, (1000, 1000), fill=0.86, seed=0, shadow=False)
    e = export_image(scene, "amazon_main", slot="main")
    assert (e.width, e.background_ok) == (1600, True)
    with pytest.raises(ExportRuleViolation, match="aspect"):
        export_image(Image.new("RGB", (800, 600), "white"), "taobao", slot="secondary")
    png = export_image(scene.image.resize((800, 800)), preset_with_overrides("taobao", format="PNG"), slot="secondary")
    assert png.format == "PNG" and png.data[:8] == b"\x89PNG\r\n\x1a\n" and png.quality is None


def test_lineage_counts_towards_the_limit():
    img = noise((800, 800), seed=3)
    lineage = {"sku": "S", "note": "x" * 3000}
    q95 = len(_encode(img, "JPEG", 95, None))
    preset = preset_with_overrides("taobao", max_bytes=q95 + 1000)  # fits without lineage, not with it
    e = export_image(img, preset, slot="secondary", lineage=lineage)
    assert e.byte_size <= preset.max_bytes and e.quality < 95
    from skucore.imaging.lineage import read_lineage

    assert read_lineage(e.data) == lineage
