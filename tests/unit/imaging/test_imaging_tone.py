"""One tone for a promotion's generated backgrounds: the transfer moves the background only, smoothly, and the
scenes of a promotion end up on one tone whatever tone the generator drifted to."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from skucore.base.colour import ciede2000, hex_to_lab
from skucore.imaging.render import render_sku_images
from skucore.imaging.scene import render_scene
from skucore.imaging.tone import backdrop_tone, background_tone, match_background_tone, reference_tone, tone_shift
from skucore.prompting.look import Look
from skucore.quality.tone import image_background_tone
from tests.helpers.imaging import TEMPLATES, SKU_ROW, FakePromotion, prompt_row
from tests.helpers.scene_inputs import CastGenerator

SWEEP = {"kind": "gradient", "colours": ["#F4F1EC", "#D6D0C6"]}


def drifted_scene(bottle, cast=(1.08, 1.0, 0.88)):
    """A studio scene as a generator might return it: the whole picture under a warm cast."""
    scene = render_scene(bottle, SWEEP, (800, 800), fill=0.6, seed=3)
    arr = np.asarray(scene.image).astype(np.float32) * np.array(cast, np.float32)
    return scene, Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def test_transfer_moves_the_background_to_the_reference_and_leaves_the_product(bottle):
    scene, drifted = drifted_scene(bottle)
    mask = np.asarray(scene.product_mask)
    ref = backdrop_tone(SWEEP)
    before = background_tone(np.asarray(drifted), mask)
    assert ciede2000(before, ref) > 8
    out, info = match_background_tone(drifted, scene.product_mask, ref)
    after = background_tone(np.asarray(out), mask)
    assert ciede2000(after, ref) < 1.0
    assert info["shift"] > 8 and info["tone_after"] != info["tone_before"]
    solid = mask == 255
    assert np.array_equal(np.asarray(out)[solid], np.asarray(drifted)[solid])  # product pixels untouched
    # smooth: down a background column the sweep still steps by at most a level or two, with no flat bands
    col = np.asarray(out)[:, 20].astype(int).mean(axis=1)
    assert np.abs(np.diff(col)).max() <= 2.0
    runs = max(len(list(g)) for _, g in itertools.groupby(np.round(col).astype(int)))
    orig_runs = max(len(list(g)) for _, g in itertools.groupby(np.round(
        np.asarray(drifted)[:, 20].astype(int).mean(axis=1)).astype(int)))
    assert runs <= orig_runs + 4


def test_strength_and_max_shift_limit_the_move(bottle):
    _scene, drifted = drifted_scene(bottle)
    ref = backdrop_tone(SWEEP)
    same, info = match_background_tone(drifted, None, ref, strength=0.0)
    assert np.array_equal(np.asarray(same), np.asarray(drifted)) and info["shift"] == 0
    _, capped = match_background_tone(drifted, None, ref, max_shift=3.0)
    assert capped["shift"] == pytest.approx(3.0, abs=1e-3)
    assert np.linalg.norm(tone_shift([50, 0, 0], [60, 0, 0], strength=0.5)) == pytest.approx(5.0)


def test_reference_is_the_look_or_the_template_backdrop():
    assert np.allclose(reference_tone(None, "t_gen", SWEEP), backdrop_tone(SWEEP))
    look = Look(reference_tone="#F2EEE8", templates={"t_gen": "#E9DCC9"})
    assert np.allclose(reference_tone(look, "t_gen", SWEEP), hex_to_lab("#E9DCC9"))
    assert np.allclose(reference_tone(look, "t_other", SWEEP), hex_to_lab("#F2EEE8"))


def render_promotion(bottle, look):
    """Five SKUs' generated detail scenes on Taobao; each SKU's generator output has another colour cast."""
    promo = FakePromotion()
    promo.look = look
    out = []
    for seed in range(5):
        row = dict(prompt_row("detail", "t_gen", seed), sku=f"SKU-{seed}")
        (img,) = render_sku_images(bottle, dict(SKU_ROW, sku=f"SKU-{seed}"), [row], promo, platforms=["taobao"],
                                   templates_by_id=TEMPLATES, scene_generator=CastGenerator(), source_sha256="2" * 64)
        assert img.backend == "diffusers" and img.fidelity["passed"], img.fidelity
        out.append(img)
    return out


def spread(images):
    tones = [image_background_tone(i.data, i.product_box, [r.box for r in i.text_regions]) for i in images]
    return max(ciede2000(a, b) for a, b in itertools.combinations(tones, 2)), tones


def test_a_promotion_of_generated_scenes_ends_on_one_tone(bottle):
    drifting, _ = spread(render_promotion(bottle, Look(strength=0.0)))
    matched_imgs = render_promotion(bottle, None)
    matched, tones = spread(matched_imgs)
    assert drifting > 10 and matched < 2.0, (drifting, matched)
    assert all(any("background tone" in n for n in i.notes) for i in matched_imgs)
    ref = hex_to_lab("#E8DCCB")
    _, toned = spread(render_promotion(bottle, Look(reference_tone="#E8DCCB", max_shift=80)))
    assert max(ciede2000(t, ref) for t in toned) < 2.5
