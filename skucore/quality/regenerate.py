"""The grade-and-regenerate loop for one SKU's images.

Each image's latest attempt is graded; a C (action "regenerate") is rendered again with a new seed and a prompt
adjusted from the metrics it failed, scored, and graded again, until it is no longer a C or the attempts run out
(`GradingConfig.max_attempts`, after which a C goes to review). Adjustments accumulate: each attempt builds on
the last one's prompt. Rendering and scoring are passed in, so this loop knows nothing of storage or devices.

A reviewer's rejection (`rejection(generated_row)`: the review queue's verdict on that exact content) is the other
way into a new attempt: a rejection whose reason regenerates (`skucore.prompting.review_reasons`) renders the scene
again with a new seed and the reason's prompt adjustment; with `review_regenerated`, that new image goes to review
even if it grades A (a person saw a fault the metrics did not). A reason that awaits a new template ("template
wrong") does not regenerate: the scene is listed in `GradingOutcome.waiting` and stays unpublished until its template
changes (a new template renders a new image, which needs a new decision).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from skucore.prompting.prompts import adjust_prompt
from skucore.prompting.review_reasons import DEFAULT_REASON, REVIEW_ADJUSTMENTS, adjustment_key, reason_action
from skucore.quality.grading import Grade, GradedImage, GradingConfig, grade_set

# render(prompt_row, attempt, platform) -> the new image's generated row (already stored)
RenderOne = Callable[[dict, int, str], dict]
# score(generated_row) -> its quality rows (every metric, near duplicates included)
ScoreOne = Callable[[dict], list[dict]]
# rejection(generated_row) -> the reviewer's rejection of that content ({"reason", "note", ...}) or None
RejectionOf = Callable[[dict], "dict | None"]
MAX_REVIEW_REGENERATIONS = 10  # per scene and grading run: a bound on a loop people drive, never reached in practice


@dataclass
class GradingOutcome:
    final: dict[tuple[str, str], tuple[GradedImage, dict]] = field(default_factory=dict)  # (role, platform) ->
    superseded: list[tuple[GradedImage, dict]] = field(default_factory=list)  # attempts replaced by a regeneration
    new_generated: list[dict] = field(default_factory=list)  # generated rows of the regenerated attempts
    new_quality: list[dict] = field(default_factory=list)  # their quality rows
    waiting: dict[tuple[str, str], dict] = field(default_factory=dict)  # (role, platform) -> rejection awaiting a template


def latest_attempts(generated: Iterable[Mapping]) -> list[dict]:
    """The latest attempt of each (role, platform): earlier attempts stay in the tables as lineage."""
    latest: dict[tuple[str, str], dict] = {}
    for r in generated:
        slot = (r["role"], r["platform"])
        if slot not in latest or r["attempt"] > latest[slot]["attempt"]:
            latest[slot] = dict(r)
    return list(latest.values())


def stand_in_reason(lineage: Mapping | str | None) -> str | None:
    """Why an image is not the scene its template asked for, from its lineage: the studio standing in for a
    generator that failed (`fallback`), or a text-to-image composite standing in for an inpaint a server could
    not do (`generation.requested_method`). None when it is what was asked for."""
    if isinstance(lineage, str):
        lineage = json.loads(lineage or "{}")
    lineage = lineage or {}
    if lineage.get("fallback"):
        return f"{lineage['fallback']} fallback ({lineage.get('fallback_reason') or 'no reason recorded'})"
    generation = lineage.get("generation") or {}
    requested, method = generation.get("requested_method"), generation.get("method")
    if requested and method and requested != method:
        return f"{method} instead of {requested}"
    return None


def grading_item(gen: Mapping, metric_rows: Sequence[Mapping]) -> dict:
    """What `grade_set` reads of one generated image and its metrics."""
    return {
        "image_key": gen["image_key"], "metrics": list(metric_rows), "attempt": gen["attempt"],
        "generated": gen["backend"] != "studio", "promotion": gen["promotion"], "sku": gen["sku"],
        "role": gen["role"], "platform": gen["platform"], "slot": gen["slot"],
        "stand_in": stand_in_reason(gen.get("lineage")),
    }


def grade_and_regenerate(generated: Sequence[Mapping], metrics_by_image: Mapping[str, Sequence[Mapping]], *,
                         base_prompts: Mapping[str, Mapping], render: RenderOne, score: ScoreOne,
                         config: GradingConfig, log: Callable[[str], None] | None = None,
                         rejection: RejectionOf | None = None, review_regenerated: bool = True) -> GradingOutcome:
    """Grade the latest attempt of each of a SKU's images and regenerate the C's and the images reviewers
    rejected (see the module docstring). `base_prompts` maps a scene role to its prompt row; an image without one
    is not regenerated."""
    latest = {r["image_key"]: r for r in latest_attempts(generated)}
    graded = grade_set([grading_item(g, metrics_by_image.get(k, [])) for k, g in latest.items()], config)
    out = GradingOutcome()
    for g in graded.images:
        gen = latest[g.image_key]
        base = base_prompts.get(gen["role"])
        by_review = 0
        while True:
            verdict = None
            if g.action == "regenerate":
                causes, table = list(g.raw.failed_metrics), None
            else:
                verdict = rejection(gen) if rejection is not None else None
                if verdict is None:
                    break
                code = verdict.get("reason") or DEFAULT_REASON
                if reason_action(code) != "regenerate" or base is None or by_review >= MAX_REVIEW_REGENERATIONS:
                    out.waiting[(gen["role"], gen["platform"])] = verdict
                    break
                by_review += 1
                causes, table = [adjustment_key(code)], REVIEW_ADJUSTMENTS
            out.superseded.append((g, gen))
            if base is None:
                break
            attempt = g.attempt + 1
            prompt_row = adjust_prompt({**base, "attempt": g.attempt}, causes, attempt, adjustments=table)
            base = prompt_row
            if log:
                why = f"rejected by a reviewer ({causes[0]})" if verdict else f"grade C ({', '.join(causes)})"
                log(f"{gen['promotion']}|{gen['sku']} {gen['role']}/{gen['platform']}: {why}, attempt {attempt}")
            gen = render(prompt_row, attempt, gen["platform"])
            quality = score(gen)
            out.new_generated.append(gen)
            out.new_quality.extend(quality)
            g = grade_set([grading_item(gen, quality)], config).images[0]
            if verdict is not None and review_regenerated and g.final.grade == "A":
                g = to_review_after_rejection(g, causes[0])
        out.final[(gen["role"], gen["platform"])] = (g, gen)
    return out


def to_review_after_rejection(g: GradedImage, cause: str) -> GradedImage:
    """An A made to replace a rejected image goes to a person anyway: grade B, action "review"."""
    final = Grade("B", g.final.score, [*g.final.reasons, f"regenerated after a reviewer's rejection ({cause}): review"],
                  list(g.final.failed_metrics))
    return replace(g, final=final, action="review")
