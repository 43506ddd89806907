"""Products cut at the frame edge meet the frame (or the floor) in every export, and the photo's own shadow layer."""
from __future__ import annotations

import numpy as np
import pytest

from skucore.base.platforms import PLATFORM_PRESETS, main_needs_pure_white
from skucore.imaging.cutout import cut_out
from skucore.imaging.placement import cut_sides, placement_box
from skucore.imaging.render import render_sku_images
from skucore.imaging.scene import render_scene
from skucore.imaging.typography import overlay_layout
from tests.helpers.imaging import TEMPLATES, FakePromotion, cutout_from_rgba, decode, prompt_row
from tests.helpers.scene_inputs import TROUSERS, cropped_packshot, model_shot

ALL_PRESETS = list(PLATFORM_PRESETS)
SKU = {"sku": "SKU-9", "category": "apparel", "price": 399.0, "currency": "CNY", "selling_points": ["Soft cotton"]}


def render_everywhere(cutout):
    """The main image (template backdrop or pure white) and the detail card (price, badge and selling points
    bands) on every platform preset."""
    rows = [prompt_row("hero", "t_hero", 1), prompt_row("detail", "t_detail", 2)]
    return render_sku_images(cutout, SKU, rows, FakePromotion(), platforms=ALL_PRESETS, templates_by_id=TEMPLATES,
                             source_sha256="f" * 64)


def assert_meets_bottom_edge(img, product_rgb):
    """The product box ends on the last row and the product's own colour is there: the cut edge is on the
    frame, not floating above it."""
    arr = decode(img.data)
    h = arr.shape[0]
    x0, y0, x1, y1 = img.product_box
    assert y1 == h == img.height, (img.platform, img.slot, img.product_box)
    last = arr[h - 1, x0:x1].astype(int)
    near = np.abs(last - np.array(product_rgb)).max(axis=1) <= 40
    assert near.sum() >= 0.2 * (x1 - x0), (img.platform, img.slot, near.mean())
    for r in img.text_regions:  # the bands moved off the cut side: text never covers the product
        assert r.box[3] <= y0, (img.platform, r)
    assert img.fidelity["passed"], img.fidelity
    preset = PLATFORM_PRESETS[img.platform]
    if img.slot == "main" and preset.min_fill:
        assert img.fill_ratio >= preset.min_fill


def test_cropped_model_shot_stands_on_the_bottom_edge_in_every_export():
    cutout = cutout_from_rgba(model_shot(cut="bottom"))
    assert cutout.edges_touched == ("bottom",)
    out = render_everywhere(cutout)
    assert len(out) == 2 * len(ALL_PRESETS)
    for img in out:
        assert_meets_bottom_edge(img, TROUSERS)
        white = img.slot == "main" and main_needs_pure_white(PLATFORM_PRESETS[img.platform], SKU["category"])
        if white:  # the pure-white rule still holds with the product on the edge
            arr = decode(img.data)
            assert (arr[:20] == 255).all() and (arr[:, :20] == 255).all()
    detail = [i for i in out if i.role == "detail"][0]
    assert {r.kind for r in detail.text_regions} >= {"price", "original_price", "badge"}


def test_cropped_packshot_cut_by_cut_out_meets_the_bottom_edge():
    photo = cropped_packshot()
    cutout = cut_out(photo)
    assert "bottom" in cutout.edges_touched
    x0, y0, x1, y1 = cutout.bbox
    bottom_row = cutout.rgba[y1 - 1, x0:x1]
    tee = np.median(bottom_row[bottom_row[:, 3] == 255][:, :3], axis=0)  # the garment's colour at the cut
    for img in render_everywhere(cutout):
        assert_meets_bottom_edge(img, tee)


def test_model_cut_at_the_top_hangs_from_the_top_with_feet_on_the_floor():
    cutout = cutout_from_rgba(model_shot(cut="top"))
    assert cutout.edges_touched == ("top",)
    for pid in ("amazon_main", "taobao"):
        preset = PLATFORM_PRESETS[pid]
        W, H = preset.size
        scene = render_scene(cutout, {"kind": "white"}, preset.size, fill=preset.target_fill, seed=0,
                             shadow=False, margin=preset.margin)
        x0, y0, x1, y1 = scene.product_box
        assert y0 == 0  # the cut edge on the frame
        assert abs(y1 - (H - preset.margin * H)) <= 1  # the feet on the floor line
        assert np.asarray(scene.image)[0, (x0 + x1) // 2].tolist() != [255, 255, 255]


@pytest.mark.parametrize("product, flush, expect", [
    ((300, 400), ("bottom",), lambda b, W, H: b[3] == H and b[0] + b[2] in (W - 1, W, W + 1)),
    ((300, 400), ("left",), lambda b, W, H: b[0] == 0 and b[1] + b[3] in (H - 1, H, H + 1)),
    ((300, 400), ("right",), lambda b, W, H: b[2] == W),
    ((400, 300), ("left", "right"), lambda b, W, H: (b[0], b[2]) == (0, W)),  # spans the width
    ((300, 400), ("left", "right"), lambda b, W, H: b[0] == 0 and b[3] - b[1] == 900),  # too tall: fitted, left
    ((300, 400), ("top", "bottom"), lambda b, W, H: (b[1], b[3]) == (0, H)),  # spans the height
    ((300, 400), (), lambda b, W, H: b[0] > 0 and b[1] > 0 and b[2] < W and b[3] < H),
])
def test_placement_box_keeps_cut_sides_flush(product, flush, expect):
    W, H = 1000, 1000
    box = placement_box(product, (W, H), fill=0.8, margin=0.05, flush=flush)
    assert expect(box, W, H), box
    with pytest.raises(ValueError, match="flush side"):
        placement_box((300, 400), (W, H), fill=0.8, flush=("middle",))


def test_cut_sides_modes(wide_product):
    cut = cutout_from_rgba(model_shot(cut="bottom"))
    assert cut_sides(cut) == ("bottom",) and cut_sides(cut, "ignore") == ()
    assert cut_sides(model_shot(cut="bottom")) == ("bottom",)  # an RGBA array: read from its alpha
    assert cut_sides(wide_product) == ()
    with pytest.raises(ValueError, match="cut_edges"):
        cut_sides(cut, "float")
    scene = render_scene(cut, {"kind": "white"}, (800, 800), fill=0.8, seed=0, cut_edges="ignore")
    assert scene.product_box[3] < 800  # ignore: centred as if whole


def test_overlay_bands_move_off_the_cut_side():
    ov = ["price", "badge", "selling_points"]
    plain = overlay_layout((800, 800), ov)
    assert plain.price_box[1] > plain.product_area[3] and plain.bars == ()
    up = overlay_layout((800, 800), ov, flush=("bottom",))
    assert up.product_area[3] == 800 and up.price_box[3] <= up.product_area[1] and up.badge_box[3] <= up.price_box[1]
    down = overlay_layout((800, 800), ov, flush=("top",))
    assert down.product_area[1] == 0 and down.badge_box[1] >= down.product_area[3]
    both = overlay_layout((800, 800), ov, flush=("top", "bottom"))
    assert both.product_area == plain.product_area and len(both.bars) == 2  # bars frame the cut edges
    assert both.bars[0][3] == both.product_area[1] and both.bars[1][1] == both.product_area[3]


def photo_shadow_cutout():
    """A product with the photo's own floor shadow as a layer: a soft ellipse under it, zero under the product."""
    rgba = np.zeros((400, 300, 4), np.uint8)
    rgba[60:320, 90:210] = (40, 90, 160, 255)
    cutout = cutout_from_rgba(rgba)
    yy, xx = np.mgrid[0:400, 0:300]
    ell = np.clip(1.0 - ((xx - 150) / 110.0) ** 2 - ((yy - 322) / 14.0) ** 2, 0, 1)
    layer = (ell * 140).astype(np.uint8)
    layer[rgba[..., 3] > 0] = 0
    cutout.shadow = layer  # Cutout.shadow from cut_out(keep_shadow=True)
    return cutout


def test_original_shadow_is_reused_under_the_product_never_over_it():
    cutout = photo_shadow_cutout()
    size = (800, 800)
    kw = dict(fill=0.7, seed=0, margin=0.05)
    orig = render_scene(cutout, {"kind": "white"}, size, shadow="original", **kw)
    none = render_scene(cutout, {"kind": "white"}, size, shadow="none", **kw)
    a, b = np.asarray(orig.image).astype(int), np.asarray(none.image).astype(int)
    x0, y0, x1, y1 = orig.product_box
    below = a[y1:y1 + 10, x0:x1]
    assert below.mean() < 235 and (b[y1:y1 + 10, x0:x1] == 255).all()  # the photo's shadow under the product
    solid = np.asarray(orig.scaled_product)[..., 3] == 255
    assert np.array_equal(a[y0:y1, x0:x1][solid], np.asarray(orig.scaled_product)[..., :3][solid])
    assert (a[:y0 - 5] == 255).all()  # nothing above: the layer maps with the product, not elsewhere
    # a cutout without a shadow layer gets the drawn shadow
    del cutout.shadow
    fallback = render_scene(cutout, {"kind": "white"}, size, shadow="original", **kw)
    drawn = render_scene(cutout, {"kind": "white"}, size, shadow="drawn", **kw)
    assert np.array_equal(np.asarray(fallback.image), np.asarray(drawn.image))
    with pytest.raises(ValueError, match="shadow"):
        render_scene(cutout, {"kind": "white"}, size, shadow="soft", **kw)


def test_a_downscaled_export_keeps_the_cut_edge_on_the_frame():
    from skucore.base.platforms import preset_with_overrides
    from skucore.imaging.exports import export_image

    cutout = cutout_from_rgba(model_shot(cut="bottom"))
    scene = render_scene(cutout, {"kind": "surface", "surface": "concrete"}, (1600, 1600), fill=0.8, seed=2)
    fixed = dict(size=(1600, 1600), quality_range=(90, 90))  # one quality: only a smaller canvas can fit
    full = export_image(scene, preset_with_overrides("shopify", **fixed), slot="secondary")
    preset = preset_with_overrides("shopify", **fixed, min_side=500, max_bytes=full.byte_size // 2)
    exp = export_image(scene, preset, slot="secondary")
    assert exp.downscaled and exp.height < 1600
    assert exp.product_box[3] == exp.height
    arr = decode(exp.data)
    x0, _, x1, _ = exp.product_box
    near = np.abs(arr[-1, x0:x1].astype(int) - np.array(TROUSERS)).max(axis=1) <= 40
    assert near.mean() >= 0.2
