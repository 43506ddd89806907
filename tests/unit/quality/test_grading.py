import pytest

from skucore.quality.grading import (
    GRADES_SCHEMA,
    Grade,
    GradingConfig,
    finalise_grade,
    grade_image,
    grade_set,
    next_action,
    prompt_adjustment,
)
from skucore.quality.score import METRICS, MetricResult


def results(fail=(), error=(), exclude=()):
    out = []
    for m in METRICS:
        if m in exclude:
            out.append(MetricResult(m, None, None, None, None, "excluded", "excluded_by_config"))
        elif m in error:
            out.append(MetricResult(m, None, None, None, False, "error", "input missing"))
        elif m in fail:
            out.append(MetricResult(m, 1.0, 2.0, ">=", False, "fail", None))
        else:
            out.append(MetricResult(m, 2.0, 1.0, ">=", True, "pass", None))
    return out


def test_all_pass_is_a():
    g = grade_image(results())
    assert (g.grade, g.score, g.failed_metrics) == ("A", 1.0, [])
    assert next_action(g, 0) == "publish"


def test_minor_failure_can_still_be_a_but_text_failure_never():
    cfg = GradingConfig()
    g = grade_image(results(fail=["exposure"]), cfg)
    assert g.grade == "A" and g.score < 1.0
    t = grade_image(results(fail=["text"]), GradingConfig(weights={"text": 0.001}))
    assert t.score > 0.99  # score alone would say A
    assert t.grade == "B"
    assert any("never A" in r for r in t.reasons)
    f = grade_image(results(fail=["fidelity"]), GradingConfig(weights={"fidelity": 0.001}))
    assert f.grade == "B"


def test_error_counts_as_failure_and_blocks_a():
    g = grade_image(results(error=["brand_colour"]), GradingConfig(weights={"brand_colour": 0.001}))
    assert g.grade == "B"
    assert "brand_colour" in g.failed_metrics
    assert any("not computed" in r for r in g.reasons)


def test_excluded_metrics_leave_the_score():
    g = grade_image(results(exclude=["text", "brand_colour"]))
    assert (g.grade, g.score) == ("A", 1.0)
    assert grade_image(results(exclude=METRICS)).grade == "C"  # nothing computed: never publish


def test_low_score_is_c_and_thresholds_from_config():
    bad = results(fail=["sharpness", "exposure", "resolution", "background_white", "fill_ratio", "aspect"])
    assert grade_image(bad).grade == "C"
    assert grade_image(bad, GradingConfig(a_threshold=0.9, b_threshold=0.1)).grade == "B"
    with pytest.raises(ValueError, match="b_threshold"):
        GradingConfig(a_threshold=0.5, b_threshold=0.7)


def test_generated_scene_with_failed_text_regenerates_studio_goes_to_review():
    r = results(fail=["text"])
    assert grade_image(r, generated=True).grade == "C"
    assert grade_image(r, generated=False).grade == "B"


def test_c_after_max_attempts_becomes_b():
    cfg = GradingConfig(max_attempts=3)
    c = Grade("C", 0.3, ["score low"], ["sharpness"])
    assert next_action(c, 0, cfg) == "regenerate"
    assert next_action(c, 1, cfg) == "regenerate"
    assert next_action(c, 2, cfg) == "review_after_max_attempts"
    final = finalise_grade(c, 2, cfg)
    assert final.grade == "B" and final.reasons[-1] == "max_attempts_reached"
    assert next_action(final, 2, cfg) == "review_after_max_attempts"
    assert finalise_grade(c, 1, cfg) is c
    assert next_action(Grade("B", 0.8, [], []), 0, cfg) == "review"
    with pytest.raises(ValueError, match="unknown grade"):
        next_action("D", 0, cfg)


def test_grade_set_rows_and_actions():
    items = [
        {"image_key": "k/a", "attempt": 0, "metrics": results(), "promotion": "p", "sku": "S1", "platform": "amazon"},
        {"image_key": "k/b", "attempt": 0, "metrics": results(fail=["text"]), "generated": True,
         "promotion": "p", "sku": "S1"},
        {"image_key": "k/c", "attempt": 2, "metrics": results(fail=["fidelity"]), "generated": True,
         "promotion": "p", "sku": "S1"},
    ]
    gs = grade_set(items)
    assert [g.action for g in gs.images] == ["publish", "regenerate", "review_after_max_attempts"]
    assert gs.counts == {"A": 1, "B": 1, "C": 1}
    assert gs.images[1].prompt_adjustment == prompt_adjustment(["text"])
    t = gs.table()
    assert t.schema.equals(GRADES_SCHEMA)
    assert t.column("grade").to_pylist() == ["A", "C", "B"]
    assert t.column("raw_grade").to_pylist() == ["A", "C", "C"]
    assert "max_attempts_reached" in t.column("reasons").to_pylist()[2]


def test_grade_set_reads_quality_rows_as_mappings():
    rows = [{"metric": r.metric, "status": r.status, "passed": r.passed, "value": r.value,
             "threshold": r.threshold, "comparator": r.comparator, "detail": r.detail}
            for r in results(fail=["text"])]
    gs = grade_set([{"image_key": "x", "attempt": 0, "metrics": rows}])
    assert gs.images[0].final.grade == "B"


def test_prompt_adjustment_from_failed_metrics():
    assert "sharp focus" in prompt_adjustment(["sharpness"])
    assert prompt_adjustment(["file_size"]) is None


def test_a_stand_in_scene_is_never_better_than_b():
    """A studio render standing in for a failed generator (or a composite for an inpaint) goes to a person."""
    g = grade_image(results(), stand_in="studio fallback (no scene generator)")
    assert g.grade == "B" and any("stand-in scene" in r for r in g.reasons)
    assert next_action(g, 0) == "review"
    # a stand-in that fails a hard rule still regenerates as a C would
    c = grade_image(results(fail=["fidelity"]), generated=True, stand_in="text2img+composite instead of inpaint")
    assert c.grade == "C"


def test_stand_in_reason_is_read_from_the_image_lineage():
    import json

    from skucore.quality.regenerate import grading_item, stand_in_reason

    assert stand_in_reason({"fallback": "studio", "fallback_reason": "CUDA out of memory"}) == \
        "studio fallback (CUDA out of memory)"
    assert stand_in_reason({"generation": {"requested_method": "inpaint", "method": "text2img+composite"}}) == \
        "text2img+composite instead of inpaint"
    assert stand_in_reason({"generation": {"requested_method": "inpaint", "method": "inpaint"}}) is None
    gen = {"image_key": "k", "attempt": 0, "backend": "studio", "promotion": "p", "sku": "s", "role": "r",
           "platform": "amazon_main", "slot": "main", "lineage": json.dumps({"fallback": "studio", "fallback_reason": "x"})}
    graded = grade_set([grading_item(gen, results())]).images[0]
    assert graded.final.grade == "B"
