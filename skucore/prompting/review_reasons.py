"""Why a reviewer rejects an image, and what the next attempt does about it.

The review desk offers these reasons (a list, plus free text kept as a note); the grading loop
(`skucore.quality.regenerate`) turns a rejection into the next attempt: "regenerate" reasons render the scene again
with a new seed and the reason's prompt adjustment (applied by `skucore.prompting.prompts.adjust_prompt`, like the
failed-metric adjustments of `PROMPT_ADJUSTMENTS`); "await_template" reasons do not regenerate: the scene stays
unpublished until its template changes (a new template renders a new image, which needs a new decision).

Codes are stable: they are stored with every decision and counted in the templates scorecard.
"""
from __future__ import annotations

__all__ = ["REVIEW_REASONS", "DEFAULT_REASON", "REVIEW_ADJUSTMENTS", "adjustment_key", "reason_action", "reason_label"]

# code -> label (what the reviewer picks), action, prompt and negative-prompt additions for the next attempt.
REVIEW_REASONS: dict[str, dict[str, str]] = {
    "product_wrong": {
        "label": "Product looks different from the photo", "action": "regenerate",
        "prompt": "product shown exactly as photographed", "negative": "altered product, deformed product",
    },
    "text_wrong": {
        "label": "Text wrong, cut off or unreadable", "action": "regenerate",
        "prompt": "clean uncluttered space for text", "negative": "busy background, text, letters",
    },
    "colour_off": {
        "label": "Colours off-brand", "action": "regenerate",
        "prompt": "colour palette of {brand_colours}", "negative": "off-brand colours",
    },
    "background": {
        "label": "Background cluttered or distracting", "action": "regenerate",
        "prompt": "simple clean background, few props", "negative": "cluttered background, distracting props",
    },
    "lighting": {
        "label": "Lighting or exposure poor", "action": "regenerate",
        "prompt": "balanced exposure, soft even light", "negative": "overexposed, underexposed, harsh shadows",
    },
    "blurry": {
        "label": "Blurry or lacking detail", "action": "regenerate",
        "prompt": "tack-sharp focus, high detail", "negative": "blurry, out of focus, motion blur",
    },
    "composition": {
        "label": "Product badly placed, too small or cropped", "action": "regenerate",
        "prompt": "product centred and fully in frame", "negative": "cropped product, product cut off",
    },
    "artefacts": {
        "label": "Generation artefacts (extra objects, warped shapes)", "action": "regenerate",
        "prompt": "", "negative": "extra objects, warped shapes, artifacts",
    },
    "duplicate": {
        "label": "Too similar to another image", "action": "regenerate",
        "prompt": "varied composition, different camera angle", "negative": "",
    },
    "template_wrong": {
        "label": "Template wrong for this product (wait for a new template)", "action": "await_template",
        "prompt": "", "negative": "",
    },
    "other": {
        "label": "Other (say what in the note)", "action": "regenerate", "prompt": "", "negative": "",
    },
}

DEFAULT_REASON = "other"  # a rejection recorded without a reason (the command line's default)


def adjustment_key(code: str) -> str:
    """How a reviewer's reason shows in a prompt row's `adjustments` ("review:lighting"), beside metric names."""
    return f"review:{code}"


# The table `adjust_prompt(..., adjustments=REVIEW_ADJUSTMENTS)` reads, keyed by `adjustment_key(code)`.
REVIEW_ADJUSTMENTS: dict[str, dict[str, str]] = {
    adjustment_key(code): {"prompt": r["prompt"], "negative": r["negative"]} for code, r in REVIEW_REASONS.items()
}


def reason_action(code: str | None) -> str:
    """"regenerate" or "await_template" for a reason code (unknown or missing codes regenerate, as "other")."""
    return REVIEW_REASONS.get(code or DEFAULT_REASON, REVIEW_REASONS[DEFAULT_REASON])["action"]


def reason_label(code: str | None) -> str:
    if not code:
        return "no reason given"
    r = REVIEW_REASONS.get(code)
    return r["label"] if r else code
