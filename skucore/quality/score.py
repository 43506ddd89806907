"""Scoring one exported image: every metric of `METRICS` (`skucore.quality.metrics`) in one call.

`score_image(image_bytes, preset=..., slot=..., product_box=..., text_regions=..., fidelity=...)` returns one
`MetricResult` per metric in `METRICS`. Every result has a `status`:
- "pass" / "fail": the metric was computed and compared with its threshold (`passed` True / False);
- "error": the metric could not be computed (a missing input, an image that does not decode, an OCR failure).
  `passed` is False: a metric never counts as passed because it was not computed;
- "excluded": `passed` is None, and `detail` says why: either the configuration excludes the metric
  (`QualityConfig.exclude`, detail "excluded_by_config") or the rule does not apply to this image (detail starts
  with "not_applicable:", e.g. the pure-white rule on a secondary image, or a preset without a byte limit).

Inputs are duck-typed so that this module does not import the renderer or the presets: `preset` is any object
(or mapping) with `id, size, min_side, max_side, main_background, min_fill, max_bytes, allow_text_on_main`;
`text_regions` are objects or mappings with `kind, text, box`; `fidelity` is a mapping with at least "passed".
Boxes are (x0, y0, x1, y1) in the exported image's pixels, exclusive end.

The product region (sharpness, exposure) is the product box minus the backdrop: the pixels connected to the
image frame whose colour is within a small tolerance of the frame's median colour, and minus any text box. So a
white backdrop (255 by design) neither counts as clipped highlights nor drags sharpness down.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np
import pyarrow as pa
from PIL import Image

from skucore.quality import metrics as M
from skucore.quality.metrics import METRICS, MetricResult, QualityConfig
from skucore.tables import QUALITY_SCHEMA

__all__ = ["METRICS", "MetricResult", "QualityConfig", "score_image", "stray_text", "quality_rows", "quality_table"]


def score_image(
    image_bytes: bytes,
    *,
    preset,
    slot: str,
    product_box,
    text_regions,
    fidelity,
    brand_colours=None,
    backdrop_kind: str | None = None,
    category: str | None = None,
    config: M.QualityConfig = M.QualityConfig(),
    generated: bool = False,
) -> list[M.MetricResult]:
    """All metrics of `M.METRICS` for one exported image, in that order; see the module docstring.

    `generated`: the scene came from a model, so its backdrop is searched for stray text (`stray_text`; the
    `text` metric fails when any is found). Studio renders are not searched: only our code drew on them.
    `brand_colours`: a mapping name -> "#RRGGBB" (a `BrandKit`'s colours) or a list of "#RRGGBB".
    `backdrop_kind`: the template's backdrop kind ("white" | "gradient" | "brand" | "surface" | ...).
    `category`: the SKU's category (used for the apparel exemption of the white-background rule).
    Never raises for bad inputs: those become "error" results.
    """
    cfg = config
    excluded = set(cfg.exclude)
    results: dict[str, M.MetricResult] = {}

    def done(r: M.MetricResult):
        results[r.metric] = r

    for name in excluded:
        done(M.MetricResult(name, None, None, None, None, "excluded", "excluded_by_config"))

    def want(name):
        return name not in results

    # decode
    img = None
    decode_error = None
    if not image_bytes:
        decode_error = "no image bytes"
    else:
        try:
            im = Image.open(io.BytesIO(image_bytes))
            im.load()  # decoded into memory: the buffer can go
            img = im.convert("RGB") if im.mode != "RGB" else im
        except Exception as exc:  # noqa: BLE001
            decode_error = f"image does not decode: {type(exc).__name__}: {exc}"
    if preset is None:
        for name in ("resolution", "aspect", "file_size", "background_white", "fill_ratio", "text_policy"):
            if want(name):
                done(M.error_result(name, "preset not given"))
    if slot not in ("main", "secondary"):
        for name in ("background_white", "fill_ratio", "text_policy"):
            if want(name):
                done(M.error_result(name, f"slot must be 'main' or 'secondary', got {slot!r}"))
    if want("file_size") and image_bytes:
        done(M.file_size_metric(len(image_bytes), preset))
    if want("fidelity"):
        done(M.fidelity_metric(fidelity))
    if img is None:
        for name in M.METRICS:
            if want(name):
                done(M.error_result(name, decode_error))
        return [results[n] for n in M.METRICS]

    w, h = img.size
    rgb = np.asarray(img)
    if want("resolution"):
        done(M.resolution_metric(w, h, preset))
    if want("aspect"):
        done(M.aspect_metric(w, h, preset, cfg))

    pbox = M.clip_box(product_box, w, h) if product_box is not None else None
    pbox_problem = "product_box not given" if product_box is None else f"product_box {product_box!r} is empty or outside the image"

    regions_clipped = None
    if text_regions is not None:
        regions_clipped = []
        for r in text_regions:
            regions_clipped.append((str(M.field(r, "kind", "")), str(M.field(r, "text", "")), M.clip_box(M.field(r, "box"), w, h)))
    text_boxes = [b for _, _, b in (regions_clipped or []) if b is not None]

    need_backdrop = any(want(n) for n in ("sharpness", "exposure", "brand_colour"))
    backdrop = M.backdrop_mask(rgb, cfg.backdrop_tolerance)[0] if need_backdrop else None

    if pbox is None:
        for name in ("sharpness", "exposure", "fill_ratio"):
            if want(name):
                done(M.error_result(name, pbox_problem))
    else:
        if want("sharpness") or want("exposure"):
            pm = M.product_mask(rgb, backdrop, pbox, text_boxes)
            if want("sharpness"):
                # Only the product box is measured: convert just that (a quarter of an 800 x 800 export's work).
                x0, y0, x1, y1 = pbox
                grey = np.zeros(rgb.shape[:2], np.uint8)
                grey[y0:y1, x0:x1] = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
                done(M.sharpness_metric(grey, pm, pbox, cfg))
            if want("exposure"):
                done(M.exposure_metric(rgb, pm, cfg, pbox))
        if want("fill_ratio"):
            done(M.fill_ratio_metric(w, h, slot, preset, pbox))
    if want("background_white"):
        done(M.background_white_metric(rgb, slot, preset, pbox, pbox_problem, category, cfg))

    if regions_clipped is None:
        for name in ("text", "text_policy", "brand_colour"):
            if want(name):
                done(M.error_result(name, "text_regions not given (pass [] when no text was drawn)"))
    else:
        if want("text_policy"):
            done(M.text_policy_metric(slot, preset, regions_clipped))
        if want("brand_colour"):
            done(M.brand_colour_metric(rgb, regions_clipped, brand_colours, backdrop_kind, backdrop, cfg))
        if want("text"):
            stray = None
            if generated:  # only a model can have put text where we drew none
                try:
                    stray = stray_text(rgb, pbox, text_boxes, cfg)
                except Exception as exc:  # noqa: BLE001 - an OCR failure is an error, never a pass
                    done(M.error_result("text", {"problem": f"stray_text_detection_failed: {type(exc).__name__}: {exc}"}))
            if want("text"):
                done(M.text_metric(img, regions_clipped, stray))

    return [results[n] for n in M.METRICS]


def stray_text(rgb: np.ndarray, product_box, text_boxes, cfg: M.QualityConfig) -> list[tuple[tuple, str]]:
    """Text a generator drew in a scene's backdrop: detection over the image with the product box and our own
    text boxes (each grown by a margin) painted over in the frame's colour, then recognition of what was found;
    a box counts when it reads at least `stray_text_min_chars` characters at `stray_text_min_confidence`.
    Returns [(box, text read)]."""
    from skucore.quality.ocr import detect_text, read_texts, text_key

    h, w = rgb.shape[:2]
    canvas = rgb.copy()
    frame = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]], axis=0)
    fill = np.median(frame, axis=0).astype(np.uint8)
    margin = int(round(cfg.stray_text_margin * min(w, h)))
    for box in [product_box, *text_boxes]:
        if box is not None:
            x0, y0, x1, y1 = box
            canvas[max(0, y0 - margin): y1 + margin, max(0, x0 - margin): x1 + margin] = fill
    found = detect_text(canvas, max_side=cfg.stray_text_max_side)
    if not found:
        return []
    pil = Image.fromarray(canvas)
    reads = read_texts([pil.crop(b) for b in found])
    return [(b, text) for b, (text, score) in zip(found, reads)
            if len(text_key(text)) >= cfg.stray_text_min_chars and score >= cfg.stray_text_min_confidence]


def quality_rows(results: Iterable[M.MetricResult], *, promotion: str, sku: str, role: str | None,
                 platform: str | None, slot: str | None, attempt: int | None, image_key: str) -> list[dict]:
    """Rows for `QUALITY_SCHEMA`, one a metric."""
    rows = []
    for r in results:
        rows.append({
            "promotion": promotion, "sku": sku, "role": role, "platform": platform, "slot": slot,
            "attempt": attempt, "image_key": image_key, "metric": r.metric, "value": r.value,
            "threshold": r.threshold, "comparator": r.comparator, "passed": r.passed, "status": r.status,
            "detail": r.detail,
        })
    return rows


def quality_table(rows: Sequence[Mapping]) -> pa.Table:
    return pa.Table.from_pylist([dict(r) for r in rows], schema=QUALITY_SCHEMA)
