"""Studio scenes: exact backdrops, placement by rules, shadow and reflection that never touch product pixels."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skucore.imaging.placement import paste_product, placement_box
from skucore.imaging.scene import SURFACES, make_backdrop, place_product, render_scene, resolve_brand_tokens

SIZE = (480, 480)


def product_pixels_exact(scene) -> bool:
    x0, y0, x1, y1 = scene.product_box
    sp = np.asarray(scene.scaled_product)
    out = np.asarray(scene.image)[y0:y1, x0:x1]
    opaque = sp[..., 3] == 255
    return bool((out[opaque] == sp[..., :3][opaque]).all())


def test_white_backdrop_is_exactly_white(bottle):
    s = render_scene(bottle, {"kind": "white"}, SIZE, fill=0.8, seed=1, shadow=False)
    arr = np.asarray(s.image)
    bg = np.asarray(s.product_mask) == 0
    assert (arr[bg] == 255).all()
    assert product_pixels_exact(s)


@pytest.mark.parametrize("backdrop", [
    {"kind": "gradient", "colours": ["#FFFFFF", "#202020"]},
    {"kind": "gradient", "colours": ["#FFFFFF", "#202020"], "direction": "horizontal"},
    {"kind": "gradient", "colours": ["#FFFFFF", "#202020"], "direction": "radial"},
    {"kind": "brand", "colour": "#C8102E"},
] + [{"kind": "surface", "surface": s} for s in SURFACES])
def test_backdrops_deterministic_and_product_exact(bottle, backdrop):
    a = make_backdrop(backdrop, SIZE, seed=5)
    b = make_backdrop(backdrop, SIZE, seed=5)
    assert a.shape == (SIZE[1], SIZE[0], 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    if backdrop["kind"] == "surface":
        assert a.std() > 2.0  # a texture, not a flat colour
        assert not np.array_equal(a, make_backdrop(backdrop, SIZE, seed=6))
    s1 = render_scene(bottle, backdrop, SIZE, fill=0.7, seed=5, shadow=True, reflection=True)
    s2 = render_scene(bottle, backdrop, SIZE, fill=0.7, seed=5, shadow=True, reflection=True)
    assert s1.image.tobytes() == s2.image.tobytes()
    assert product_pixels_exact(s1)


def test_brand_colour_is_exact():
    a = make_backdrop({"kind": "brand", "colour": "#C8102E"}, (64, 32))
    assert (a == (0xC8, 0x10, 0x2E)).all()


def test_brand_tokens_and_tint():
    kit = {"primary": "#C8102E", "secondary": "#FFE8E0"}
    assert resolve_brand_tokens({"kind": "brand", "colour": "primary", "tint": 0.0}, kit)["colour"] == "#C8102E"
    tinted = resolve_brand_tokens({"kind": "brand", "colour": "primary", "tint": 0.5}, kit)
    assert tinted["colour"] == "#E48896"  # 0x2E + (255 - 0x2E) * 0.5 = 150.5 -> 150
    g = resolve_brand_tokens({"kind": "gradient", "colours": ["brand.secondary", "#FFFFFF"]}, kit)
    assert g["colours"] == ["#FFE8E0", "#FFFFFF"]


def test_placement_fill_centre_margin():
    box = placement_box((300, 400), (1000, 1000), fill=0.8, margin=0.05)
    x0, y0, x1, y1 = box
    assert y1 - y0 == 800 and x1 - x0 == 600
    assert x0 == 200 and y0 == 100
    # fill larger than the margins allow is capped by the margins
    x0, y0, x1, y1 = placement_box((300, 400), (1000, 1000), fill=1.0, margin=0.05)
    assert y0 >= 50 and 1000 - y1 >= 50
    # a product area (overlay bands) bounds and centres the product
    x0, y0, x1, y1 = placement_box((400, 400), (1000, 1000), fill=0.9, margin=0.02, product_area=(0, 200, 1000, 800))
    assert y0 >= 200 + 20 and y1 <= 800 - 20 and abs((y0 + y1) / 2 - 500) <= 1


def test_shadow_darkens_below_product_never_over_it(bottle):
    s_no = render_scene(bottle, {"kind": "white"}, SIZE, fill=0.7, seed=1, shadow=False)
    s_sh = render_scene(bottle, {"kind": "white"}, SIZE, fill=0.7, seed=1, shadow=True)
    assert s_no.product_box == s_sh.product_box
    x0, y0, x1, y1 = s_sh.product_box
    below = np.asarray(s_sh.image)[y1 - 2:min(SIZE[1], y1 + 10), x0:x1]
    assert below.mean() < 250  # a visible contact shadow
    top = np.asarray(s_sh.image)[:y0 - 5]
    assert (top == 255).all()  # nothing above the product
    assert product_pixels_exact(s_sh)


def test_reflection_below_product(bottle):
    bd = {"kind": "brand", "colour": "#808080"}
    a = render_scene(bottle, bd, SIZE, fill=0.6, seed=1, shadow=False, reflection=False)
    b = render_scene(bottle, bd, SIZE, fill=0.6, seed=1, shadow=False, reflection=True)
    x0, y0, x1, y1 = b.product_box
    diff = np.abs(np.asarray(a.image).astype(int) - np.asarray(b.image).astype(int)).sum(axis=2)
    ys = np.nonzero(diff.any(axis=1))[0]
    assert ys.size and ys.min() >= y1 - 1
    assert product_pixels_exact(b)


def test_place_product_and_paste_back(bottle):
    p = place_product(bottle, (256, 320), fill=0.75, margin=0.05, background={"kind": "white"})
    mask = np.asarray(p.mask)
    alpha = np.asarray(p.product_mask)
    assert set(np.unique(mask)) <= {0, 255}
    assert (mask[alpha < 255] == 255).all()  # everything not fully product is regenerated
    assert (mask == 0).sum() > 0.5 * (alpha == 255).sum()  # the product's interior is kept
    x0, y0, x1, y1 = p.product_box
    # a "generated" scene that scribbled over everything, at another size: paste-back restores the product
    rng = np.random.default_rng(0)
    generated = Image.fromarray(rng.integers(0, 256, (400, 320, 3), dtype=np.uint8))
    out = np.asarray(paste_product(generated, p))
    assert out.shape == (320, 256, 3)
    sp = np.asarray(p.scaled_product)
    opaque = sp[..., 3] == 255
    assert (out[y0:y1, x0:x1][opaque] == sp[..., :3][opaque]).all()


def test_cutout_inputs(bottle):
    rgba = Image.fromarray(bottle.rgba, "RGBA")
    a = render_scene(bottle, {"kind": "white"}, SIZE, fill=0.7, seed=0)
    b = render_scene(rgba, {"kind": "white"}, SIZE, fill=0.7, seed=0)
    assert a.image.tobytes() == b.image.tobytes()
    with pytest.raises(ValueError, match="empty"):
        render_scene(Image.new("RGBA", (10, 10)), {"kind": "white"}, SIZE, fill=0.5, seed=0)
    with pytest.raises(ValueError, match="unknown"):
        render_scene(bottle, {"kind": "neon"}, SIZE, fill=0.5, seed=0)
