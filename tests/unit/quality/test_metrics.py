import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers.quality_images import Preset, blurred, canvas, draw_text, encode, product
from skucore.tables import QUALITY_SCHEMA
from skucore.quality.score import (
    METRICS,
    QualityConfig,
    quality_rows,
    quality_table,
    score_image,
)

FID_OK = {"passed": True, "psnr": 99.0, "max_abs_diff": 0}
SECONDARY = Preset(id="sec", allow_text_on_main=False)


def score(im_or_bytes, **kw):
    data = im_or_bytes if isinstance(im_or_bytes, bytes) else encode(im_or_bytes)
    kw.setdefault("preset", Preset())
    kw.setdefault("slot", "main")
    kw.setdefault("text_regions", [])
    kw.setdefault("fidelity", FID_OK)
    kw.setdefault("backdrop_kind", "white")
    results = score_image(data, **kw)
    assert [r.metric for r in results] == list(METRICS)
    return {r.metric: r for r in results}


def assert_pass(r):
    assert (r.status, r.passed) == ("pass", True), r


def assert_fail(r):
    assert (r.status, r.passed) == ("fail", False), r


def main_image(bg=(255, 255, 255), size=(800, 800), pw=600):
    return canvas(size=size, bg=bg, prod=product(pw, pw), at=((size[0] - pw) // 2, (size[1] - pw) // 2))


# --------------------------------------------------------------------------------------------------- a good image
def test_clean_main_image_passes_everything_that_applies():
    im, box = main_image()
    res = score(im, product_box=box)
    for m in ("resolution", "aspect", "file_size", "sharpness", "exposure", "background_white", "fill_ratio",
              "text_policy", "fidelity"):
        assert_pass(res[m])
    # nothing to check: reported as not applicable, never as a pass
    for m in ("brand_colour", "text"):
        assert res[m].status == "excluded" and res[m].passed is None
        assert res[m].detail.startswith("not_applicable")


# --------------------------------------------------------------------------------------------------- resolution etc.
def test_resolution_and_aspect_fail_against_preset():
    im, box = main_image(size=(800, 600), pw=400)
    res = score(im, product_box=box)
    assert_fail(res["resolution"])
    assert "size 800x600 != preset size 800x800" in res["resolution"].detail
    assert_fail(res["aspect"])
    small, sbox = main_image(size=(400, 400), pw=300)
    r = score(small, product_box=sbox, preset=Preset(size=None, min_side=500))["resolution"]
    assert_fail(r)
    assert r.value == 400 and r.threshold == 500
    ok = score(small, product_box=sbox, preset=Preset(size=None, min_side=300))["resolution"]
    assert_pass(ok)


def test_file_size_limit():
    im, box = main_image()
    data = encode(im, "JPEG", quality=95)
    assert_pass(score(data, product_box=box, preset=Preset(max_bytes=len(data)))["file_size"])
    r = score(data, product_box=box, preset=Preset(max_bytes=len(data) - 1))["file_size"]
    assert_fail(r)
    assert r.value == len(data)


# --------------------------------------------------------------------------------------------------- sharpness
def test_sharp_product_on_big_white_canvas_passes_and_blurred_product_fails():
    p = product(300, 300)
    big, box = canvas(size=(1600, 1600), prod=p, at=(650, 650))  # product is 3.5 % of the canvas
    assert_pass(score(big, product_box=box, preset=Preset(size=None, max_side=2000))["sharpness"])
    soft, box2 = canvas(size=(800, 800), prod=blurred(p, 3), at=(250, 250))
    r = score(soft, slot="secondary", product_box=box2)["sharpness"]
    assert_fail(r)
    assert r.value < QualityConfig().sharpness_min


def test_sharpness_does_not_depend_on_white_area():
    p = product(300, 300)
    a, box_a = canvas(size=(400, 400), prod=p, at=(50, 50))
    b, box_b = canvas(size=(1600, 1600), prod=p, at=(650, 650))
    pre = Preset(size=None, max_side=2000)
    va = score(a, product_box=box_a, preset=pre, slot="secondary")["sharpness"].value
    vb = score(b, product_box=box_b, preset=pre, slot="secondary")["sharpness"].value
    assert va == pytest.approx(vb, rel=0.02)


# --------------------------------------------------------------------------------------------------- exposure
def test_exposure_ignores_white_background_but_catches_blown_product():
    im, box = main_image()
    r = score(im, product_box=box)["exposure"]
    assert_pass(r)
    assert json.loads(r.detail)["clipped_highlights"] == 0.0
    # blow out the middle third of the product (interior: not connected to the backdrop)
    blown = im.copy()
    ImageDraw.Draw(blown).rectangle([250, 250, 550, 550], fill=(255, 255, 255))
    r2 = score(blown, product_box=box)["exposure"]
    assert_fail(r2)
    assert json.loads(r2.detail)["clipped_highlights"] > 0.2
    crushed = im.copy()
    ImageDraw.Draw(crushed).rectangle([250, 250, 550, 550], fill=(0, 0, 0))
    r3 = score(crushed, product_box=box)["exposure"]
    assert_fail(r3)
    assert json.loads(r3.detail)["clipped_shadows"] > 0.2


# --------------------------------------------------------------------------------------------------- background
def test_near_white_250_background_fails_pure_white():
    im, box = main_image(bg=(250, 250, 250))
    r = score(im, product_box=box)["background_white"]
    assert_fail(r)
    assert r.value == 0.0
    assert json.loads(r.detail)["median_non_white"] == [250, 250, 250]


def test_pure_white_judged_on_pixels_not_averages():
    im, box = main_image()
    speckled = np.asarray(im).copy()
    rng = np.random.default_rng(1)
    ys, xs = rng.integers(0, 100, 4000), rng.integers(0, 800, 4000)
    speckled[ys, xs] = (254, 255, 255)  # invisible; the mean stays > 254.98
    assert speckled[:100].mean() > 254.98
    r = score(Image.fromarray(speckled), product_box=box)["background_white"]
    assert_fail(r)


def test_background_rule_applicability():
    im, box = main_image(bg=(250, 250, 250))
    r = score(im, slot="secondary", product_box=box)["background_white"]
    assert r.status == "excluded" and r.detail.startswith("not_applicable")
    apparel = Preset(main_background="white_except_apparel")
    r = score(im, product_box=box, preset=apparel, category="apparel")["background_white"]
    assert r.status == "excluded" and "apparel" in r.detail
    assert_fail(score(im, product_box=box, preset=apparel, category="shoes")["background_white"])
    r = score(im, product_box=box, preset=apparel, category=None)["background_white"]
    assert (r.status, r.passed) == ("error", False)


# --------------------------------------------------------------------------------------------------- fill ratio
def test_fill_ratio_against_min_fill():
    im, box = main_image(pw=600)  # 600 of 800 px: 0.75 of the frame on its longer side
    r = score(im, product_box=box, preset=Preset(min_fill=0.7))["fill_ratio"]
    assert_pass(r)
    assert r.value == pytest.approx(0.75)
    assert_fail(score(im, product_box=box, preset=Preset(min_fill=0.85))["fill_ratio"])
    assert score(im, product_box=box, slot="secondary")["fill_ratio"].status == "excluded"


def test_fill_ratio_of_a_tall_product_uses_its_longer_side():
    im, _ = main_image(pw=600)
    tall_box = (340, 40, 460, 740)  # 120 x 700 on 800 x 800: 13% by area, 0.875 of the frame's height
    assert_pass(score(im, product_box=tall_box, preset=Preset(min_fill=0.85))["fill_ratio"])


# --------------------------------------------------------------------------------------------------- text
def test_text_regions_verified_exactly():
    im, box = canvas(prod=product(400, 400), at=(200, 300))
    regions = [
        draw_text(im, "¥1,039", (40, 40), size=48, fill=(200, 0, 30), kind="price"),
        draw_text(im, "限时特惠", (450, 40), size=44, fill="white", plate=(228, 0, 43), kind="badge"),
        draw_text(im, "Waterproof breathable fabric", (40, 720), size=28, fill=(40, 40, 40), kind="selling_point"),
    ]
    res = score(im, slot="secondary", product_box=box, text_regions=regions, brand_colours={"primary": "#E4002B"})
    assert_pass(res["text"])
    assert res["text"].value == 1.0
    # the same pixels, but we meant ¥1,093: the check must fail and say what it read
    wrong = [regions[0].__class__("price", "¥1,093", regions[0].box), *regions[1:]]
    r = score(im, slot="secondary", product_box=box, text_regions=wrong, brand_colours={"primary": "#E4002B"})["text"]
    assert_fail(r)
    detail = json.loads(r.detail)["regions"]
    assert detail[0]["ok"] is False and detail[0]["intended"] == "¥1,093"
    assert detail[0]["read"].replace("￥", "¥") == "¥1,039"
    assert r.value == pytest.approx(2 / 3)


def test_stray_text_in_a_generated_scene_fails_the_text_check_and_studio_renders_are_not_searched():
    im, box = canvas(size=(800, 800), bg=(240, 236, 230), prod=product(300, 300), at=(250, 250))
    ours = draw_text(im, "¥1,039", (60, 690), size=48, fill=(200, 0, 30))
    kw = dict(slot="secondary", preset=SECONDARY, product_box=box, text_regions=[ours], backdrop_kind="surface")
    clean = score(im.copy(), generated=True, **kw)
    assert_pass(clean["text"])  # our own text is read back, and nothing else is there
    draw_text(im, "OPEN 24 HOURS", (120, 90), size=48, fill=(30, 30, 30))  # a sign the model painted
    res = score(im, generated=True, **kw)
    assert_fail(res["text"])
    detail = json.loads(res["text"].detail)
    assert [r["ok"] for r in detail["regions"]] == [True]
    assert detail["stray_text"] and "OPEN" in detail["stray_text"][0]["read"].upper()
    assert_pass(score(im, generated=False, **kw)["text"])  # only a model puts text where we drew none


def test_text_on_main_image_breaks_policy():
    im, box = main_image()
    region = draw_text(im, "省 ¥260", (20, 10), size=40, fill=(200, 0, 0))
    res = score(im, product_box=box, text_regions=[region])
    assert_fail(res["text_policy"])
    assert_pass(res["text"])  # the text itself is right; it just may not be there
    allowed = score(im, product_box=box, text_regions=[region], preset=Preset(allow_text_on_main=True))
    assert allowed["text_policy"].status == "excluded"


def test_text_box_outside_image_fails():
    im, box = main_image()
    from skucore.base.types import TextRegion

    r = score(im, slot="secondary", product_box=box, text_regions=[TextRegion("price", "¥9", (900, 900, 950, 950))])
    assert_fail(r["text"])
    assert "box_outside_image" in r["text"].detail


# --------------------------------------------------------------------------------------------------- brand colour
def test_brand_colour_on_badge_and_brand_backdrop():
    im, box = canvas(bg=(0, 71, 171), prod=product(300, 300, colour=(200, 200, 60)), at=(250, 300))
    badge = draw_text(im, "限时特惠", (40, 40), size=44, fill="white", plate=(228, 0, 43), kind="badge")
    kit = {"primary": "#E4002B", "secondary": "#0047AB"}
    r = score(encode(im, "JPEG", quality=90), slot="secondary", product_box=box, text_regions=[badge],
              brand_colours=kit, backdrop_kind="brand")["brand_colour"]
    assert_pass(r)
    assert r.value < 3.0
    off = {"primary": "#FF7F00", "secondary": "#0047AB"}  # an orange kit: the red badge is off-brand
    r2 = score(im, slot="secondary", product_box=box, text_regions=[badge], brand_colours=off,
               backdrop_kind="brand")["brand_colour"]
    assert_fail(r2)
    assert r2.value > 10
    elements = json.loads(r2.detail)["elements"]
    assert elements[0]["element"].startswith("badge") and elements[0]["dominant"] == "#E4002B"


def test_brand_elements_without_brand_colours_is_an_error():
    im, box = canvas(bg=(0, 71, 171), prod=product(300, 300), at=(250, 300))
    r = score(im, slot="secondary", product_box=box, backdrop_kind="brand", brand_colours=None)["brand_colour"]
    assert (r.status, r.passed) == ("error", False)
    r = score(im, slot="secondary", product_box=box, backdrop_kind=None, brand_colours={"p": "#0047AB"})["brand_colour"]
    assert (r.status, r.passed) == ("error", False)


# --------------------------------------------------------------------------------------------------- fidelity
def test_fidelity_from_renderer():
    im, box = main_image()
    assert_pass(score(im, product_box=box, fidelity={"passed": True, "psnr": 48.0, "max_abs_diff": 2})["fidelity"])
    r = score(im, product_box=box, fidelity={"passed": False, "psnr": 21.5, "max_abs_diff": 90})["fidelity"]
    assert_fail(r)
    assert r.value == 21.5


# --------------------------------------------------------------------------------------------------- missing inputs
def test_missing_inputs_are_errors_never_passes():
    im, _ = main_image()
    res = score(im, product_box=None, text_regions=None, fidelity=None, preset=None)
    for m in METRICS:
        assert res[m].status == "error", res[m]
        assert res[m].passed is False


def test_undecodable_image_is_an_error_for_every_pixel_metric():
    res = score(b"not an image", product_box=(0, 0, 10, 10))
    for m in METRICS:
        if m in ("file_size", "fidelity"):
            continue
        assert res[m].status == "error" and res[m].passed is False
        assert "does not decode" in res[m].detail


def test_fidelity_without_passed_key_is_an_error():
    im, box = main_image()
    r = score(im, product_box=box, fidelity={"psnr": 40.0})["fidelity"]
    assert (r.status, r.passed) == ("error", False)


def test_excluded_metrics_are_reported_as_excluded():
    im, _ = main_image()
    cfg = QualityConfig(exclude=frozenset({"fidelity", "text", "sharpness"}))
    res = score(im, product_box=None, text_regions=None, fidelity=None, config=cfg)
    for m in ("fidelity", "text", "sharpness"):
        assert (res[m].status, res[m].passed, res[m].detail) == ("excluded", None, "excluded_by_config")
    assert res["exposure"].status == "error"  # not excluded, input missing


def test_unknown_excluded_metric_is_a_config_error():
    with pytest.raises(ValueError, match="unknown metrics"):
        QualityConfig(exclude=frozenset({"sharpnes"}))


# --------------------------------------------------------------------------------------------------- table
def test_quality_rows_fit_schema():
    im, box = main_image()
    results = score_image(encode(im), preset=Preset(), slot="main", product_box=box, text_regions=[],
                          fidelity=FID_OK, backdrop_kind="white")
    rows = quality_rows(results, promotion="double11", sku="SKU-1", role="main", platform="amazon", slot="main",
                        attempt=0, image_key="double11/abc/main.jpg")
    t = quality_table(rows)
    assert t.schema.equals(QUALITY_SCHEMA)
    assert t.num_rows == len(METRICS)
    statuses = dict(zip(t.column("metric").to_pylist(), t.column("status").to_pylist()))
    assert statuses["text"] == "excluded"
    passed = dict(zip(t.column("metric").to_pylist(), t.column("passed").to_pylist()))
    assert passed["text"] is None and passed["resolution"] is True
