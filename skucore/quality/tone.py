"""The "tone_consistency" metric: how far an image's background tone is from the tone its promotion's scenes share.

An image's background tone is the median CIE L*a*b* outside its product box (grown by `BOX_GUARD`) and outside
its text plates (`skucore.imaging.tone.background_tone`). Its reference is the one its background was matched to
when it was made (`skucore.imaging.tone.reference_tone`): for a generated scene the promotion look's colour for its
template, else the tone of the template's own backdrop; for a studio render always its template backdrop's tone
(studio backdrops are drawn exactly, never shifted). The value is the CIEDE2000 distance; it passes within the
look's `max_delta_e` (6 by default). A pure-white main image is left to the `background_white` metric
(not applicable here).

Across a promotion (`tone_consistency_results`) the reference can instead be the median tone of each group of
images (e.g. per template), for a report of how far a promotion's backgrounds spread; `tone_spread` summarises it.
The grading weight makes a tone outlier a review, never a regeneration loop (`skucore.quality.grading`).
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from skucore.base.colour import ciede2000
from skucore.base.platforms import main_needs_pure_white
from skucore.imaging.tone import background_tone, lab_to_hex, reference_tone
from skucore.imaging.scene import resolve_brand_tokens
from skucore.quality.metrics import MetricResult, error_result, ok_result

METRIC = "tone_consistency"
DEFAULT_MAX_DELTA_E = 6.0
BOX_GUARD = 0.02  # of the shorter side: the product box grows by this much (anti-aliasing, a contact shadow)
TEXT_PLATE_GROW = 0.6  # text boxes grow by this share of their height to cover their plates
GENERATED_BACKENDS = ("diffusers", "server")


def image_background_tone(image_bytes: bytes, product_box: Sequence[int] | None,
                          text_boxes: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """The background tone (L*a*b*) of an encoded image, outside its product box and text plates."""
    with Image.open(io.BytesIO(image_bytes)) as im:
        w, h = im.size
        im.draft("RGB", (max(1, w // 4), max(1, h // 4)))
        rgb = np.asarray(im.convert("RGB"))
    k = rgb.shape[1] / w
    boxes = []
    if product_box is not None:
        g = BOX_GUARD * min(w, h)
        x0, y0, x1, y1 = product_box
        boxes.append((x0 - g, y0 - g, x1 + g, y1 + g))
    for x0, y0, x1, y1 in text_boxes:
        g = TEXT_PLATE_GROW * (y1 - y0)
        boxes.append((x0 - g, y0 - g, x1 + g, y1 + g))
    return background_tone(rgb, None, [tuple(v * k for v in b) for b in boxes])


def tone_consistency_result(tone: Sequence[float], reference: Sequence[float],
                            max_delta_e: float = DEFAULT_MAX_DELTA_E, detail: Mapping | None = None) -> MetricResult:
    """The metric for one image: CIEDE2000 of its tone from its reference, passing within `max_delta_e`."""
    de = float(ciede2000(np.asarray(tone, np.float64), np.asarray(reference, np.float64)))
    info = {"tone": lab_to_hex(tone), "reference": lab_to_hex(reference), **(detail or {})}
    return ok_result(METRIC, de, max_delta_e, "<=", de <= max_delta_e, info)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    v = obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)
    return default if v is None else v


def tone_consistency_for(image_bytes: bytes, generated_row: Mapping, *, template: Any, promotion: Any,
                         preset: Any, category: str | None) -> MetricResult:
    """The metric for one row of the generated-images table (the quality stage's hook): its reference as
    `skucore.imaging.tone.reference_tone` gives it for the row's template, backend and slot. Never raises: a
    problem is an "error" result."""
    if template is None:
        return error_result(METRIC, f"template {generated_row.get('template_id')!r} unknown: no reference tone",
                            threshold=DEFAULT_MAX_DELTA_E, comparator="<=")
    try:
        if generated_row.get("slot") == "main" and main_needs_pure_white(preset, category):
            return MetricResult(METRIC, None, None, None, None, "excluded",
                                "not_applicable: pure-white main image (the background_white metric judges it)")
        look = _get(promotion, "look")
        backdrop = resolve_brand_tokens(dict(_get(template, "backdrop", {"kind": "white"})),
                                        _get(promotion, "brand_kit"))
        generated = generated_row.get("backend") in GENERATED_BACKENDS
        ref = reference_tone(look if generated else None, generated_row.get("template_id"), backdrop)
        regions = json.loads(generated_row.get("text_regions") or "[]")
        tone = image_background_tone(image_bytes, generated_row.get("product_box"), [r["box"] for r in regions])
        max_de = float(_get(look, "max_delta_e", DEFAULT_MAX_DELTA_E))
        return tone_consistency_result(tone, ref, max_de, {"generated": generated})
    except Exception as exc:  # noqa: BLE001 - a metric that cannot be computed is an error result, never a crash
        return error_result(METRIC, f"{type(exc).__name__}: {exc}", threshold=DEFAULT_MAX_DELTA_E, comparator="<=")


def tone_consistency_results(tones: Mapping[Hashable, Sequence[float]], reference: Sequence[float] | None = None,
                             *, group_of: Callable[[Hashable], Hashable] | None = None,
                             max_delta_e: float = DEFAULT_MAX_DELTA_E) -> dict[Hashable, MetricResult]:
    """The metric for every image of a promotion at once: against `reference` when given, else against the
    median tone of the image's group (`group_of(id)`, default one group), like near duplicates across the
    promotion."""
    group_of = group_of or (lambda _id: None)
    groups: dict[Hashable, list[Hashable]] = {}
    for k in tones:
        groups.setdefault(group_of(k), []).append(k)
    out: dict[Hashable, MetricResult] = {}
    for members in groups.values():
        ref = reference if reference is not None else np.median(np.array([tones[k] for k in members]), axis=0)
        for k in members:
            out[k] = tone_consistency_result(tones[k], ref, max_delta_e, {"group_size": len(members)})
    return out


def tone_spread(results: Mapping[Hashable, MetricResult] | Sequence[MetricResult]) -> dict:
    """Median, p95 and max CIEDE2000 of a promotion's tone results, and how many failed."""
    rs = list(results.values()) if isinstance(results, Mapping) else list(results)
    vals = np.array([r.value for r in rs if r.value is not None], np.float64)
    if vals.size == 0:
        return {"images": 0, "median": None, "p95": None, "max": None, "failed": 0}
    return {"images": int(vals.size), "median": round(float(np.median(vals)), 3),
            "p95": round(float(np.percentile(vals, 95)), 3), "max": round(float(vals.max()), 3),
            "failed": sum(1 for r in rs if r.status == "fail")}
