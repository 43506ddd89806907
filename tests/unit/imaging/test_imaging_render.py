"""render_sku_images: the per-SKU entry point (studio, generated with paste-back, fallback, determinism)."""
from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers.imaging import TEMPLATES, decode, prompt_row
from skucore.imaging.lineage import DST_COMPOSITE_CAPTURE, DST_COMPOSITE_TRAINED, read_labels, read_lineage
from skucore.base.platforms import preset_with_overrides
from skucore.imaging.render import render_sku_images
from skucore.base.types import SceneRequest

PLATFORMS = ["taobao", "pinduoduo"]


def rows():
    return [prompt_row("hero", "t_hero", 101), prompt_row("lifestyle", "t_life", 102),
            prompt_row("detail", "t_detail", 103)]


def test_matrix_slots_overlays_lineage(bottle, promotion, sku_row):
    out = render_sku_images(bottle, sku_row, rows(), promotion, platforms=PLATFORMS, templates_by_id=TEMPLATES,
                            source_sha256="a" * 64, attempt=2)
    assert [(r.role, r.platform) for r in out] == [(ro, p) for ro in ("hero", "lifestyle", "detail") for p in PLATFORMS]
    for r in out:
        assert r.slot == ("main" if r.role == "hero" else "secondary")
        if r.slot == "main":
            assert r.text_regions == []
        assert r.fidelity["passed"]
        assert read_lineage(r.data) == r.lineage
        lin = r.lineage
        assert (lin["sku"], lin["promotion"], lin["role"], lin["platform"], lin["attempt"]) == \
            ("SKU-1", "double11", r.role, r.platform, 2)
        assert lin["source_sha256"] == "a" * 64 and lin["seed"] in (101, 102, 103)
        assert lin["ai_generated"] is False and lin["backend"] == "studio" and r.backend == "studio"
        assert read_labels(r.data)["digital_source_type"] == DST_COMPOSITE_CAPTURE
    detail = [r for r in out if r.role == "detail"][0]
    texts = {(t.kind, t.text) for t in detail.text_regions}
    assert ("price", "¥1,039") in texts and ("original_price", "¥1,299") in texts and ("badge", "限时特惠") in texts
    life = [r for r in out if r.role == "lifestyle"][0]
    assert {t.kind for t in life.text_regions} == {"selling_point"}
    # pinduoduo main for a non-apparel SKU: pure white, pixel-exact
    pdd_main = [r for r in out if r.role == "hero" and r.platform == "pinduoduo"][0]
    assert (decode(pdd_main.data)[:20, :20] == 255).all()


def test_same_inputs_same_bytes(bottle, promotion, sku_row):
    kw = dict(platforms=PLATFORMS, templates_by_id=TEMPLATES, source_sha256="b" * 64)
    a = render_sku_images(bottle, sku_row, rows(), promotion, **kw)
    b = render_sku_images(bottle, sku_row, rows(), promotion, **kw)
    assert [x.data for x in a] == [y.data for y in b]
    c = render_sku_images(bottle, sku_row, [dict(r, seed=r["seed"] + 1) for r in rows()], promotion, **kw)
    assert a[2].data != c[2].data  # the marble texture follows the seed


def test_apparel_main_on_pinduoduo_keeps_template_backdrop(bottle, promotion, sku_row):
    row = dict(sku_row, category="apparel")
    out = render_sku_images(bottle, row, [prompt_row("hero", "t_hero", 1)], promotion, platforms=["pinduoduo"],
                            templates_by_id=TEMPLATES, source_sha256="x")
    assert (decode(out[0].data)[:20, :20] != 255).any()  # the gradient, not forced white


class FakeGenerator:
    """Returns a flat teal scene per request, *without* pasting the product back (render.py must do it)."""

    model_id = "fake/z-image-tiny"

    def __init__(self, fail: bool = False):
        self.calls: list[list[SceneRequest]] = []
        self.fail = fail

    def generate(self, requests):
        self.calls.append(list(requests))
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        return [Image.new("RGB", (r.width, r.height), (20, 140, 140)) for r in requests]


def gen_rows():
    return [prompt_row("hero", "t_gen", 7), prompt_row("detail", "t_gen", 8)]


def test_generated_scenes_batched_and_pasted_back(bottle, promotion, sku_row):
    gen = FakeGenerator()
    out = render_sku_images(bottle, sku_row, gen_rows(), promotion, platforms=["amazon_main", "taobao"],
                            templates_by_id=TEMPLATES, scene_generator=gen, source_sha256="c" * 64)
    # one batched call for every generated scene; the pure-white Amazon main never goes to the model
    assert len(gen.calls) == 1
    keys = [r.key for r in gen.calls[0]]
    assert keys == ["double11|SKU-1|hero|taobao", "double11|SKU-1|detail|amazon_main", "double11|SKU-1|detail|taobao"]
    for req in gen.calls[0]:
        assert req.init_image.size == (req.width, req.height) == req.mask.size
        assert req.mode == "inpaint" and req.prompt and req.seed in (7, 8)
    by = {(r.role, r.platform): r for r in out}
    amazon_main = by[("hero", "amazon_main")]
    assert amazon_main.backend == "studio" and amazon_main.lineage["ai_generated"] is False
    assert any("pure-white" in n for n in amazon_main.notes)
    for key in [("hero", "taobao"), ("detail", "amazon_main"), ("detail", "taobao")]:
        r = by[key]
        assert r.backend == "diffusers" and r.lineage["ai_generated"] is True
        assert r.lineage["model_id"] == "fake/z-image-tiny"
        assert r.fidelity["passed"], r.fidelity  # the product was pasted back over the generated scene
        labels = read_labels(r.data)
        assert labels["digital_source_type"] == DST_COMPOSITE_TRAINED and labels["aigc"]["Label"] == "1"
        assert tuple(decode(r.data)[5, 5]) != (255, 255, 255)


def test_generated_fallback_and_strict(bottle, promotion, sku_row):
    kw = dict(platforms=["taobao"], templates_by_id=TEMPLATES, source_sha256="d" * 64)
    out = render_sku_images(bottle, sku_row, gen_rows(), promotion, scene_generator=None, **kw)
    assert all(r.backend == "studio" and r.lineage["fallback"] == "studio" for r in out)
    assert all(r.lineage["requested_backend"] == "diffusers" and not r.lineage["ai_generated"] for r in out)
    failing = FakeGenerator(fail=True)
    out = render_sku_images(bottle, sku_row, gen_rows(), promotion, scene_generator=failing, **kw)
    assert "out of memory" in out[0].lineage["fallback_reason"]
    with pytest.raises(RuntimeError, match="fallback is off"):
        render_sku_images(bottle, sku_row, gen_rows(), promotion, scene_generator=None,
                          allow_studio_fallback=False, **kw)


def test_text_image_over_the_byte_limit_is_re_rendered_smaller(packshot, promotion, sku_row):
    tpl = dict(TEMPLATES, t_noise={"id": "t_noise", "backend": "studio", "overlays": ["price", "badge"],
                                   "backdrop": {"kind": "surface", "surface": "concrete"}, "fill": 0.5})
    row = [prompt_row("detail", "t_noise", 3, backend="studio")]
    floor = preset_with_overrides("taobao", size=(1200, 1200), quality_range=(60, 60))
    floor_bytes = len(render_sku_images(packshot, sku_row, row, promotion, platforms=[floor], templates_by_id=tpl,
                                        source_sha256="e" * 64)[0].data)
    limit = int(floor_bytes * 0.6)
    preset = preset_with_overrides("taobao", size=(1200, 1200), min_side=480, max_bytes=limit)
    out = render_sku_images(packshot, sku_row, row, promotion, platforms=[preset], templates_by_id=tpl,
                            source_sha256="e" * 64)
    r = out[0]
    assert len(r.data) <= limit
    assert r.width < 1200 and any("re-rendered" in n for n in r.notes)
    assert {t.kind for t in r.text_regions} >= {"price", "badge"}
    assert all(t.box[2] <= r.width and t.box[3] <= r.height for t in r.text_regions)
