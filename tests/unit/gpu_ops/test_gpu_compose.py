"""Paste-back, feathered seam, contact shadow and CPU upscale (no torch needed)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tests.helpers.gpu import product_scene

from gpu_ops.compose import ShadowSpec, contact_shadow_map, paste_product, place_product, product_bbox, upscale_scene


def _noise(size, seed):
    return Image.fromarray((np.random.RandomState(seed).rand(size, size, 3) * 255).astype(np.uint8), "RGB")


def test_paste_is_exact_on_product_and_untouched_far_away():
    init, mask = product_scene()
    gen = _noise(64, 5)
    out = np.asarray(paste_product(gen, init, mask, feather_px=3, shadow=None))
    m, i, g = np.asarray(mask), np.asarray(init), np.asarray(gen)
    assert np.array_equal(out[m == 0], i[m == 0])
    # far from the product (beyond the feather) the generated scene is untouched
    far = np.ones_like(m, bool)
    x0, y0, x1, y1 = product_bbox(mask)
    far[max(0, y0 - 6) : y1 + 6, max(0, x0 - 6) : x1 + 6] = False
    assert np.array_equal(out[far], g[far])


def test_feather_and_shadow_only_touch_background():
    init, mask = product_scene()
    gen = _noise(64, 6)
    m, i = np.asarray(mask), np.asarray(init)
    plain = np.asarray(paste_product(gen, init, mask, feather_px=0))
    fancy = np.asarray(paste_product(gen, init, mask, feather_px=4, feather_strength=1.0, shadow=ShadowSpec(strength=0.8)))
    assert np.array_equal(fancy[m == 0], i[m == 0])
    changed = (plain != fancy).any(axis=-1)
    assert changed.any()  # the seam and the shadow did something...
    assert not changed[m == 0].any()  # ...but never on a kept product pixel


def test_edge_pixels_blend_by_alpha():
    init = Image.new("RGB", (8, 8), (200, 100, 0))
    gen = Image.new("RGB", (8, 8), (0, 100, 200))
    m = np.full((8, 8), 255, np.uint8)
    m[2:6, 2:6] = 0
    m[1, 2:6] = 128
    out = np.asarray(paste_product(gen, init, Image.fromarray(m, "L"), feather_px=0))
    assert tuple(out[3, 3]) == (200, 100, 0)
    assert tuple(out[7, 7]) == (0, 100, 200)
    assert abs(int(out[1, 3, 0]) - 100) <= 1 and abs(int(out[1, 3, 2]) - 100) <= 1


def test_contact_shadow_sits_under_the_product():
    _, mask = product_scene()
    s = contact_shadow_map(mask, ShadowSpec(strength=0.5))
    x0, y0, x1, y1 = product_bbox(mask)
    assert s.max() <= 0.5 + 1e-6
    ys, xs = np.unravel_index(np.argmax(s), s.shape)
    assert y1 - 3 <= ys <= y1 and x0 <= xs < x1
    assert s[: y0 + 2].max() < 0.05  # nothing up at the top of the product


def test_empty_mask_returns_generated():
    gen = _noise(16, 1)
    out = paste_product(gen, Image.new("RGB", (16, 16)), Image.new("L", (16, 16), 255))
    assert out.tobytes() == gen.tobytes()


def test_size_mismatch_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="size mismatch"):
        paste_product(_noise(16, 1), _noise(16, 2), Image.new("L", (8, 8)))


def test_place_product_and_cpu_upscale_paste_back_exactly():
    rng = np.random.RandomState(3)
    prod = np.zeros((30, 20, 4), np.uint8)
    prod[..., :3] = rng.randint(0, 256, (30, 20, 3))
    prod[..., 3] = 255
    prod[:, 0, 3] = 100  # a soft left column
    product = Image.fromarray(prod, "RGBA")
    canvas, mask = place_product((100, 80), product, (10, 20, 30, 50))
    assert np.asarray(mask)[25, 15] == 0 and np.asarray(mask)[0, 0] == 255 and np.asarray(mask)[25, 10] == 155
    small = _noise(50, 4).resize((50, 40))
    big = upscale_scene(small, (100, 80), product, (10, 20, 30, 50), method="cpu")
    assert big.size == (100, 80)
    assert np.array_equal(np.asarray(big)[20:50, 11:30], prod[:, 1:, :3])


def test_upscale_img2img_calls_refiner_then_pastes_again():
    calls = []

    def refiner(im):
        calls.append(im.size)
        return Image.new("RGB", im.size, (0, 255, 0))

    prod = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    out = upscale_scene(_noise(32, 1), (64, 64), prod, (5, 5, 15, 15), method="img2img", refiner=refiner, feather_px=0)
    assert calls == [(64, 64)]
    a = np.asarray(out)
    assert (a[5:15, 5:15] == (255, 0, 0)).all() and (a[40, 40] == (0, 255, 0)).all()


def test_latent_safe_mask_keeps_only_whole_cells_inside_the_product():
    """The inpaint pipelines snap the mask to 8-pixel latent cells; the mask they get keeps nothing within a cell
    of the product's edge, so no kept cell carries canvas from outside the product."""
    from gpu_ops.compose import DEFAULT_FEATHER_PX, LATENT_CELL_PX, latent_safe_mask

    init, mask = product_scene(size=96)
    safe = np.asarray(latent_safe_mask(mask))
    keep_orig = np.asarray(mask) < 128
    keep_safe = safe == 0
    assert keep_safe.any() and not (keep_safe & ~keep_orig).any()
    # every kept pixel's whole neighbourhood of one cell is product
    ys, xs = np.nonzero(keep_safe)
    c = LATENT_CELL_PX
    assert all(keep_orig[y - c : y + c + 1, x - c : x + c + 1].all() for y, x in zip(ys, xs))
    assert DEFAULT_FEATHER_PX > LATENT_CELL_PX


def test_composite_matches_shadow_to_the_products_light():
    """A product lit from the left: the contact shadow falls to the right of it; its pixels stay exact."""
    from gpu_ops.lighting import composite_with_light, estimate_product_light

    size = 96
    canvas = np.zeros((size, size, 3), np.uint8)
    ramp = np.linspace(230, 60, 30).astype(np.uint8)  # bright on the left, dark on the right
    canvas[30:70, 33:63] = ramp[None, :, None]
    mask = np.full((size, size), 255, np.uint8)
    mask[30:70, 33:63] = 0
    init, m = Image.fromarray(canvas, "RGB"), Image.fromarray(mask, "L")
    light = estimate_product_light(init, m)
    assert light.from_x < -0.5  # from the left
    scene = Image.new("RGB", (size, size), (150, 150, 150))
    out, info = composite_with_light(scene, init, m, feather_px=0)
    o = np.asarray(out).astype(int)
    assert np.array_equal(o[mask == 0], canvas[mask == 0])
    assert info.shadow_dx_frac > 0 and info.shadow_strength > 0
    floor = o[62:76, :, 0]
    left, right = floor[:, 20:48].mean(), floor[:, 48:76].mean()
    assert right < left  # darker on the side away from the light


def test_composite_brings_scene_exposure_toward_the_product():
    from gpu_ops.lighting import GAIN_RANGE, composite_with_light

    init, mask = product_scene(size=64)
    dim = Image.new("RGB", (64, 64), (40, 40, 40))
    out, info = composite_with_light(dim, init, mask, shadow=False, feather_px=0)
    assert GAIN_RANGE[0] <= info.exposure_gain <= GAIN_RANGE[1] and info.exposure_gain > 1.0
    assert np.asarray(out)[0, 0, 0] > 40
