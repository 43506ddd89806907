"""A reviewer's rejection is the way into a new attempt that metrics cannot find: the scene renders again with the
reason's prompt adjustment and goes back to a person; "template wrong" waits for a new template instead."""
from skucore.prompting.review_reasons import REVIEW_REASONS, reason_action
from skucore.quality.grading import GradingConfig
from skucore.quality.regenerate import grade_and_regenerate

PASS = [{"metric": m, "status": "pass", "passed": True} for m in ("resolution", "sharpness", "exposure", "text")]


def gen(attempt: int, role: str = "lifestyle", sha: str | None = None) -> dict:
    return {"image_key": f"img/{role}-a{attempt}.jpg", "sha256": sha or f"{attempt}" * 64, "attempt": attempt,
            "backend": "studio", "promotion": "double11", "sku": "S1", "role": role, "platform": "shopify",
            "slot": "secondary"}


def prompt(role: str = "lifestyle") -> dict:
    return {"promotion": "double11", "sku": "S1", "role": role, "prompt": "a tee on linen", "negative_prompt": "text",
            "seed_base": 7, "attempt": 0, "template_id": "fashion/lifestyle", "adjustments": [],
            "brand_colours": ["#E4393C", "#FFE8E0", "#FFC53D", "#FFFFFF"], "token_budget": 512}


def run(rejected: dict, generated=None, review_regenerated=True):
    rendered = []

    def render(prompt_row, attempt, platform):
        rendered.append(prompt_row)
        return gen(attempt, prompt_row["role"])

    generated = generated or [gen(0)]
    out = grade_and_regenerate(generated, {g["image_key"]: PASS for g in generated}, base_prompts={"lifestyle": prompt(), "studio": prompt("studio")},
                               render=render, score=lambda g: PASS, config=GradingConfig(),
                               rejection=lambda g: rejected.get(g["image_key"]), review_regenerated=review_regenerated)
    return out, rendered


def test_a_rejected_image_regenerates_with_the_reason_and_goes_back_to_review():
    out, rendered = run({"img/lifestyle-a0.jpg": {"reason": "lighting", "note": "too dark"}})
    [p] = rendered
    assert p["attempt"] == 1 and p["adjustments"] == ["review:lighting"]
    assert "soft even light" in p["prompt"] and "harsh shadows" in p["negative_prompt"]
    g, final_gen = out.final[("lifestyle", "shopify")]
    assert final_gen["attempt"] == 1 and g.final.grade == "B" and g.raw.grade == "A" and g.action == "review"
    assert any("reviewer's rejection (review:lighting)" in r for r in g.final.reasons)
    assert [s[1]["attempt"] for s in out.superseded] == [0] and not out.waiting


def test_without_review_regenerated_the_new_image_grades_on_its_metrics():
    out, _ = run({"img/lifestyle-a0.jpg": {"reason": "colour_off"}}, review_regenerated=False)
    g, _ = out.final[("lifestyle", "shopify")]
    assert g.final.grade == "A" and g.action == "publish"


def test_brand_colours_fill_the_colour_adjustment_and_unknown_reasons_only_reseed():
    _, rendered = run({"img/lifestyle-a0.jpg": {"reason": "colour_off"}})
    assert "red (#E4393C)" in rendered[0]["prompt"]
    _, rendered = run({"img/lifestyle-a0.jpg": {"reason": None}})  # a rejection from the CLI without a reason
    assert rendered[0]["prompt"] == "a tee on linen" and rendered[0]["seed"] != 0 and rendered[0]["attempt"] == 1


def test_template_wrong_waits_for_a_new_template_and_other_scenes_are_untouched():
    out, rendered = run({"img/lifestyle-a0.jpg": {"reason": "template_wrong", "reviewer": "mei"}},
                        generated=[gen(0), gen(0, "studio")])
    assert rendered == [] and out.superseded == []
    assert out.waiting == {("lifestyle", "shopify"): {"reason": "template_wrong", "reviewer": "mei"}}
    assert out.final[("studio", "shopify")][0].final.grade == "A"
    assert reason_action("template_wrong") == "await_template"
    assert {r["action"] for r in REVIEW_REASONS.values()} == {"regenerate", "await_template"}


def test_a_rejected_regeneration_regenerates_again_from_the_adjusted_prompt():
    out, rendered = run({"img/lifestyle-a0.jpg": {"reason": "lighting"}, "img/lifestyle-a1.jpg": {"reason": "blurry"}})
    assert [p["adjustments"] for p in rendered] == [["review:lighting"], ["review:lighting", "review:blurry"]]
    assert out.final[("lifestyle", "shopify")][1]["attempt"] == 2
