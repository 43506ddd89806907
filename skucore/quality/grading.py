"""A/B/C grading of scored images, and what happens next to each.

- A: publish. B: a person reviews (the review queue, `skucore.publish.review`). C: regenerate with a new seed and a prompt
  adjustment chosen from the failed metrics (`prompt_adjustment`), up to `max_attempts` attempts; a C on its last
  attempt becomes B with the reason "max_attempts_reached".
- Score: the weighted share of passed metrics, over the metrics that were computed or errored (status "pass",
  "fail" or "error"; "excluded" metrics leave both numerator and denominator). An "error" counts as a failure.
- Hard rules (configurable):
  * a metric in `never_a` that failed (or errored) caps the grade at B: by default text, fidelity and the
    platform-compliance metrics, which a marketplace would reject;
  * any metric in error caps the grade at B (an image is never A on a metric that was not computed);
  * on a generated scene (`generated=True`), a failed text or fidelity check gives C, so the image regenerates
    (`c_on_generated_fail`). On a studio render these are deterministic, so a new seed would not help: B.

Attempts count from 0: attempt 0 is the first render, and `max_attempts=3` allows attempts 0, 1 and 2.
Metric results are read duck-typed (`MetricResult` objects or rows of `skucore.quality.score.QUALITY_SCHEMA`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from skucore.tables import GRADES_SCHEMA
from skucore.prompting.prompts import PROMPT_ADJUSTMENTS

__all__ = [
    "GradingConfig",
    "Grade",
    "GradedImage",
    "GradedSet",
    "GRADES_SCHEMA",
    "grade_image",
    "finalise_grade",
    "next_action",
    "grade_set",
    "prompt_adjustment",
]

DEFAULT_WEIGHTS: dict[str, float] = {
    "resolution": 2.0,
    "aspect": 1.0,
    "file_size": 1.0,
    "sharpness": 2.0,
    "exposure": 1.0,
    "background_white": 2.0,
    "fill_ratio": 1.0,
    "text_policy": 2.0,
    "brand_colour": 1.0,
    "text": 3.0,
    "fidelity": 3.0,
    "near_duplicate": 1.0,
    # background tone off the promotion's (skucore.quality.tone): a person looks; never A, never a regeneration
    # (a new seed of the same prompt drifts the same way), so it sits in `never_a` and not in `c_on_generated_fail`
    "tone_consistency": 1.0,
}

ACTIONS = ("publish", "review", "regenerate", "review_after_max_attempts")



@dataclass(frozen=True)
class GradingConfig:
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    default_weight: float = 1.0  # for a metric missing from `weights`
    a_threshold: float = 0.9
    b_threshold: float = 0.6
    never_a: frozenset[str] = frozenset(
        {"text", "fidelity", "text_policy", "resolution", "aspect", "file_size", "background_white",
         "tone_consistency"}
    )
    c_on_generated_fail: frozenset[str] = frozenset({"text", "fidelity"})
    max_attempts: int = 3

    def __post_init__(self):
        if not (0.0 <= self.b_threshold <= self.a_threshold <= 1.0):
            raise ValueError(
                f"GradingConfig: need 0 <= b_threshold <= a_threshold <= 1, got b={self.b_threshold}, "
                f"a={self.a_threshold}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"GradingConfig.max_attempts must be >= 1, got {self.max_attempts}")
        bad = {k: v for k, v in self.weights.items() if v < 0}
        if bad:
            raise ValueError(f"GradingConfig.weights must be >= 0, got {bad}")


@dataclass(frozen=True)
class Grade:
    grade: str  # "A" | "B" | "C"
    score: float
    reasons: list[str]
    failed_metrics: list[str]


@dataclass(frozen=True)
class GradedImage:
    image_key: str
    attempt: int
    raw: Grade  # as the metrics say
    final: Grade  # after the max-attempts rule
    action: str
    prompt_adjustment: str | None
    info: Mapping  # the caller's passthrough fields (promotion, sku, role, platform, slot, ...)

    def row(self) -> dict:
        return {
            "promotion": self.info.get("promotion"), "sku": self.info.get("sku"), "role": self.info.get("role"),
            "platform": self.info.get("platform"), "slot": self.info.get("slot"), "attempt": self.attempt,
            "image_key": self.image_key, "grade": self.final.grade, "raw_grade": self.raw.grade,
            "score": self.final.score, "action": self.action, "reasons": list(self.final.reasons),
            "failed_metrics": list(self.final.failed_metrics), "prompt_adjustment": self.prompt_adjustment,
        }


@dataclass(frozen=True)
class GradedSet:
    images: list[GradedImage]
    counts: dict[str, int]  # final grade -> count

    @property
    def to_regenerate(self) -> list[GradedImage]:
        return [g for g in self.images if g.action == "regenerate"]

    @property
    def to_review(self) -> list[GradedImage]:
        return [g for g in self.images if g.action in ("review", "review_after_max_attempts")]

    @property
    def to_publish(self) -> list[GradedImage]:
        return [g for g in self.images if g.action == "publish"]

    def table(self) -> pa.Table:
        return pa.Table.from_pylist([g.row() for g in self.images], schema=GRADES_SCHEMA)


def _get(obj, name, default=None):
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def grade_image(metric_results: Iterable, config: GradingConfig = GradingConfig(), *, generated: bool = False,
                stand_in: str | None = None) -> Grade:
    """Grade one image from its metric results (see the module docstring for the rules). `stand_in` says why the
    scene is not what its template asked for (a studio render standing in for a generator that failed, a
    composite standing in for an inpaint): such an image is never better than B, so a person sees it."""
    total = 0.0
    passed_w = 0.0
    failed: list[str] = []
    errored: list[str] = []
    reasons: list[str] = []
    seen = 0
    for r in metric_results:
        metric = str(_get(r, "metric"))
        status = _get(r, "status")
        if status == "excluded":
            continue
        seen += 1
        w = float(config.weights.get(metric, config.default_weight))
        total += w
        if status == "pass" and _get(r, "passed") is True:
            passed_w += w
            continue
        failed.append(metric)
        detail = _get(r, "detail")
        if status == "error":
            errored.append(metric)
            reasons.append(f"{metric}: not computed ({detail})" if detail else f"{metric}: not computed")
        else:
            value, thr, cmp_ = _get(r, "value"), _get(r, "threshold"), _get(r, "comparator")
            fig = f" value {value:.4g} vs {cmp_} {thr:.4g}" if value is not None and thr is not None else ""
            reasons.append(f"{metric}: failed{fig}" + (f" ({detail})" if detail else ""))
    if seen == 0:
        return Grade("C", 0.0, ["no metric was computed"], [])
    score = passed_w / total if total > 0 else (1.0 if not failed else 0.0)

    if score >= config.a_threshold:
        grade = "A"
    elif score >= config.b_threshold:
        grade = "B"
    else:
        grade = "C"
        reasons.append(f"score {score:.3f} < B threshold {config.b_threshold}")
    if grade == "B":
        reasons.append(f"score {score:.3f} < A threshold {config.a_threshold}")
    if grade == "A":
        blockers = [m for m in failed if m in config.never_a]
        if blockers:
            grade = "B"
            reasons.append(f"never A with a failed {', '.join(blockers)}")
        elif errored:
            grade = "B"
            reasons.append(f"never A with metrics not computed: {', '.join(errored)}")
        elif stand_in:
            grade = "B"
            reasons.append(f"stand-in scene, never A: {stand_in}")
    if generated and grade != "C":
        hard = [m for m in failed if m in config.c_on_generated_fail]
        if hard:
            grade = "C"
            reasons.append(f"generated scene with a failed {', '.join(hard)}: regenerate")
    return Grade(grade, round(score, 6), reasons, failed)


def finalise_grade(grade: Grade, attempt: int, config: GradingConfig = GradingConfig()) -> Grade:
    """A C on its last allowed attempt becomes B with the reason "max_attempts_reached"; other grades unchanged."""
    if grade.grade == "C" and attempt + 1 >= config.max_attempts:
        return Grade("B", grade.score, [*grade.reasons, "max_attempts_reached"], list(grade.failed_metrics))
    return grade


def next_action(grade: Grade | str, attempt: int, config: GradingConfig = GradingConfig()) -> str:
    """"publish" (A), "review" (B), "regenerate" (C with attempts left), "review_after_max_attempts" (C on its
    last attempt, or a B that `finalise_grade` made from such a C)."""
    g = grade if isinstance(grade, str) else grade.grade
    reasons = [] if isinstance(grade, str) else grade.reasons
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if g == "A":
        return "publish"
    if g == "B":
        return "review_after_max_attempts" if "max_attempts_reached" in reasons else "review"
    if g == "C":
        return "regenerate" if attempt + 1 < config.max_attempts else "review_after_max_attempts"
    raise ValueError(f"unknown grade {g!r}; expected 'A', 'B' or 'C'")


def prompt_adjustment(failed_metrics: Sequence[str]) -> str | None:
    """Comma-joined prompt additions for a regeneration, from the failed metrics (None when nothing applies)."""
    parts = [PROMPT_ADJUSTMENTS[m]["prompt"].replace("{brand_colours}", "the brand colours")
             for m in PROMPT_ADJUSTMENTS if m in set(failed_metrics)]
    return ", ".join(parts) if parts else None


def grade_set(images: Iterable[Mapping], config: GradingConfig = GradingConfig()) -> GradedSet:
    """Grade all images of one SKU. Each item is a mapping with "image_key", "metrics" (metric results),
    "attempt" (int, from 0), optionally "generated" (bool), "stand_in" (str: why the scene is a stand-in, see
    `grade_image`) and passthrough fields (promotion, sku, role,
    platform, slot, ...) that end up in the rows of `GradedSet.table()`.

    Only the latest attempt of each (role, platform) should be passed; earlier attempts stay in lineage."""
    out: list[GradedImage] = []
    counts = {"A": 0, "B": 0, "C": 0}
    for item in images:
        key = item.get("image_key")
        if not key:
            raise ValueError(f"grade_set: item without image_key: {sorted(item)}")
        attempt = int(item.get("attempt") or 0)
        raw = grade_image(item.get("metrics") or [], config, generated=bool(item.get("generated", False)),
                          stand_in=item.get("stand_in"))
        final = finalise_grade(raw, attempt, config)
        action = next_action(final, attempt, config)
        adj = prompt_adjustment(raw.failed_metrics) if action == "regenerate" else None
        info = {k: v for k, v in item.items() if k not in ("metrics",)}
        out.append(GradedImage(str(key), attempt, raw, final, action, adj, info))
        counts[final.grade] += 1
    return GradedSet(out, counts)
