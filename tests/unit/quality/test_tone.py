"""The tone_consistency metric: an image's background tone against the tone its promotion's scenes share, and
what grading does with an outlier (a person looks; no regeneration loop)."""
from __future__ import annotations

import json
from io import BytesIO

import numpy as np
from PIL import Image

from skucore.base.colour import rgb_to_lab
from skucore.base.platforms import get_preset
from skucore.imaging.render import render_sku_images
from skucore.prompting.look import Look
from skucore.quality.grading import grade_set
from skucore.quality.metrics import ok_result
from skucore.quality.tone import (image_background_tone, tone_consistency_for, tone_consistency_results,
                                  tone_spread)
from tests.helpers.imaging import SKU_ROW, TEMPLATES, FakePromotion, cutout_from_rgba, drawn_product, prompt_row
from tests.helpers.scene_inputs import CastGenerator


def generated_row(img) -> dict:
    return {"slot": img.slot, "backend": img.backend, "template_id": img.lineage["template_id"],
            "platform": img.platform, "product_box": list(img.product_box),
            "text_regions": json.dumps([{"kind": r.kind, "text": r.text, "box": list(r.box)}
                                        for r in img.text_regions])}


def render(look, template="t_gen", seed=2, platforms=("taobao",), role="detail"):
    promo = FakePromotion()
    promo.look = look
    bottle = cutout_from_rgba(drawn_product())
    return render_sku_images(bottle, SKU_ROW, [prompt_row(role, template, seed)], promo, platforms=list(platforms),
                             templates_by_id=TEMPLATES, scene_generator=CastGenerator(), source_sha256="3" * 64), promo


def metric(img, promo):
    return tone_consistency_for(img.data, generated_row(img), template=TEMPLATES[img.lineage["template_id"]],
                                promotion=promo, preset=get_preset(img.platform), category=SKU_ROW["category"])


def test_a_drifted_generated_background_fails_a_matched_one_passes():
    (drifted,), promo = render(Look(strength=0.0))
    bad = metric(drifted, promo)
    assert bad.metric == "tone_consistency" and bad.status == "fail" and bad.value > 6
    assert "reference" in json.loads(bad.detail)
    (matched,), promo = render(None)
    good = metric(matched, promo)
    assert good.status == "pass" and good.value < 2


def test_studio_renders_are_judged_against_their_template_backdrop_and_white_mains_are_left_out():
    (studio,), promo = render(Look(reference_tone="#303030"), template="t_detail")  # the look is for generated
    assert studio.backend == "studio" and metric(studio, promo).status == "pass"
    (main,), promo = render(None, template="t_hero", role="hero", platforms=("amazon_main",))
    assert main.slot == "main"
    res = metric(main, promo)
    assert res.status == "excluded" and "pure-white" in res.detail
    broken = tone_consistency_for(b"not an image", generated_row(studio), template=TEMPLATES["t_detail"],
                                  promotion=promo, preset=get_preset("taobao"), category="drinkware")
    assert broken.status == "error"
    unknown = tone_consistency_for(studio.data, generated_row(studio), template=None, promotion=promo,
                                   preset=get_preset("taobao"), category="drinkware")
    assert unknown.status == "error" and "unknown" in unknown.detail


def test_promotion_wide_results_against_the_group_median():
    tones = {("A", 1): [90, 0, 5], ("B", 1): [90.5, 0.2, 5.5], ("C", 1): [89.8, -0.1, 4.8], ("D", 1): [70, 12, 30]}
    res = tone_consistency_results(tones)
    assert [res[k].status for k in tones] == ["pass", "pass", "pass", "fail"]
    s = tone_spread(res)
    assert s["images"] == 4 and s["failed"] == 1 and s["max"] > 6 > s["median"]
    grouped = tone_consistency_results(tones, group_of=lambda k: k[0] == "D")
    assert all(r.status == "pass" for r in grouped.values())


def test_a_tone_outlier_goes_to_review_not_to_regeneration():
    passing = [ok_result(m, 1.0, 1.0, ">=", True) for m in ("resolution", "sharpness", "fidelity", "text")]
    outlier = ok_result("tone_consistency", 14.0, 6.0, "<=", False)
    graded = grade_set([{"image_key": "k", "attempt": 0, "generated": True, "metrics": passing + [outlier]}])
    (g,) = graded.images
    assert g.final.grade == "B" and g.action == "review"
    assert any("tone_consistency" in r for r in g.final.reasons)


def test_background_tone_ignores_product_and_text_plates():
    im = Image.new("RGB", (400, 400), (240, 235, 225))
    im.paste((10, 10, 10), (30, 20, 370, 330))  # the product, most of the frame
    im.paste((200, 20, 40), (20, 345, 200, 385))  # a price plate around a text box
    buf = BytesIO()
    im.save(buf, "PNG")
    tone = image_background_tone(buf.getvalue(), (30, 20, 370, 330), [(40, 355, 180, 375)])
    assert np.allclose(tone, rgb_to_lab(np.array([240, 235, 225])), atol=0.5)
    whole = image_background_tone(buf.getvalue(), None)
    assert not np.allclose(whole, tone, atol=5)
