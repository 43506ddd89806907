"""Quality metrics for one exported image, and near-duplicate detection across the SKUs of a promotion.

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
import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa
from PIL import Image

__all__ = [
    "METRICS",
    "QUALITY_SCHEMA",
    "MetricResult",
    "QualityConfig",
    "score_image",
    "quality_rows",
    "quality_table",
    "perceptual_hash",
    "near_duplicates",
    "near_duplicate_results",
]

METRICS: tuple[str, ...] = (
    "resolution",
    "aspect",
    "file_size",
    "sharpness",
    "exposure",
    "background_white",
    "fill_ratio",
    "text_policy",
    "brand_colour",
    "text",
    "fidelity",
)

QUALITY_SCHEMA = pa.schema(
    [
        pa.field("promotion", pa.string(), nullable=False),
        pa.field("sku", pa.string(), nullable=False),
        pa.field("role", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("slot", pa.string()),
        pa.field("attempt", pa.int32()),
        pa.field("image_key", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("comparator", pa.string()),
        pa.field("passed", pa.bool_()),  # null when excluded
        pa.field("status", pa.string(), nullable=False),  # pass | fail | excluded | error
        pa.field("detail", pa.string()),
    ]
)

APPAREL_CATEGORIES = frozenset({"apparel", "clothing", "fashion", "garment", "garments", "服装", "服饰"})


@dataclass(frozen=True)
class MetricResult:
    metric: str
    value: float | None
    threshold: float | None
    comparator: str | None
    passed: bool | None
    status: str  # "pass" | "fail" | "excluded" | "error"
    detail: str | None = None


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds for `score_image`. `exclude` names metrics that are not computed and reported as excluded."""

    exclude: frozenset[str] = frozenset()
    # sharpness: variance of the Laplacian on the non-flat product pixels, product box resized to this longest side
    sharpness_scale: int = 512
    sharpness_min: float = 150.0
    sharpness_flat_gradient: float = 8.0  # Sobel magnitude (3x3, on 0..255 grey) below which a pixel is "flat"
    # exposure: fraction of product pixels with every channel >= 254 (highlights) or <= 1 (shadows)
    highlight_level: int = 254
    shadow_level: int = 1
    clipped_highlights_max: float = 0.05
    clipped_shadows_max: float = 0.05
    # backdrop estimation (connected to the frame, within this max channel difference of the frame's median)
    backdrop_tolerance: int = 6
    # background_white: fraction of pixels outside the (margin-grown) product box that are exactly 255,255,255
    background_white_min: float = 0.995
    background_margin: float = 0.02  # of the shorter side, skips anti-aliasing and a contact shadow's edge
    # brand colour: CIEDE2000 between a brand kit colour and the dominant colour of badges / brand backdrops
    brand_delta_e_max: float = 5.0
    brand_region_kinds: frozenset[str] = frozenset({"badge", "plate", "price_plate"})
    # aspect ratio tolerance, relative
    aspect_tolerance: float = 0.01
    # text: OCR confidence is reported, not used to pass (the exact text match decides)
    apparel_categories: frozenset[str] = APPAREL_CATEGORIES

    def __post_init__(self):
        unknown = set(self.exclude) - set(METRICS)
        if unknown:
            raise ValueError(f"QualityConfig.exclude names unknown metrics {sorted(unknown)}; known: {list(METRICS)}")


# ----------------------------------------------------------------------------------------------------------------
# small helpers


def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _ok(metric, value, threshold, comparator, passed: bool, detail=None) -> MetricResult:
    return MetricResult(metric, _f(value), _f(threshold), comparator, bool(passed), "pass" if passed else "fail",
                        _detail(detail))


def _error(metric, detail, value=None, threshold=None, comparator=None) -> MetricResult:
    return MetricResult(metric, _f(value), _f(threshold), comparator, False, "error", _detail(detail))


def _not_applicable(metric, why, value=None, threshold=None, comparator=None) -> MetricResult:
    return MetricResult(metric, _f(value), _f(threshold), comparator, None, "excluded", f"not_applicable: {why}")


def _f(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _detail(d):
    if d is None or isinstance(d, str):
        return d
    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)


def _box(box, w, h) -> tuple[int, int, int, int] | None:
    """Clip a box to the image; None when it is malformed or empty after clipping."""
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        return None
    x0, x1 = max(0, min(x0, w)), max(0, min(x1, w))
    y0, y1 = max(0, min(y0, h)), max(0, min(y1, h))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _pair(v) -> tuple[int, int] | None:
    if v is None:
        return None
    try:
        a, b = v
        return int(a), int(b)
    except (TypeError, ValueError):
        return None


def _backdrop_mask(rgb: np.ndarray, tolerance: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Pixels of the backdrop: within `tolerance` (max channel difference) of the frame's median colour and
    connected to the image frame. Returns (bool mask HxW, frame colour)."""
    frame = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]], axis=0)
    colour = np.median(frame, axis=0).astype(np.int16)
    lo = np.clip(colour - tolerance, 0, 255).astype(np.uint8)
    hi = np.clip(colour + tolerance, 0, 255).astype(np.uint8)
    near = (cv2.inRange(rgb, lo, hi) > 0).astype(np.uint8)  # max channel difference <= tolerance
    n, labels = cv2.connectedComponents(near, connectivity=4)
    if n <= 1:
        return np.zeros(near.shape, bool), tuple(int(c) for c in colour)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge_labels = edge_labels[edge_labels != 0]
    return np.isin(labels, edge_labels), tuple(int(c) for c in colour)


# ----------------------------------------------------------------------------------------------------------------
# metrics


def _resolution(w, h, preset) -> MetricResult:
    m = "resolution"
    size = _pair(_get(preset, "size"))
    min_side, max_side = _get(preset, "min_side"), _get(preset, "max_side")
    if size is None and min_side is None and max_side is None:
        return _error(m, "preset has none of size, min_side, max_side")
    problems = []
    if min_side is not None and min(w, h) < int(min_side):
        problems.append(f"shorter side {min(w, h)} < min_side {min_side}")
    if max_side is not None and max(w, h) > int(max_side):
        problems.append(f"longer side {max(w, h)} > max_side {max_side}")
    if size is not None and (w, h) != size:
        problems.append(f"size {w}x{h} != preset size {size[0]}x{size[1]}")
    detail = {"width": w, "height": h, "size": size, "min_side": min_side, "max_side": max_side}
    if problems:
        detail["problems"] = problems
    return _ok(m, min(w, h), min_side, "min_side<=shorter,longer<=max_side,size==preset", not problems, detail)


def _aspect(w, h, preset, cfg) -> MetricResult:
    m = "aspect"
    size = _pair(_get(preset, "size"))
    if size is None:
        return _not_applicable(m, "preset has no size", value=w / h)
    want = size[0] / size[1]
    got = w / h
    passed = abs(got - want) <= cfg.aspect_tolerance * want
    return _ok(m, got, want, f"==±{cfg.aspect_tolerance:g}", passed, {"width": w, "height": h})


def _file_size(n_bytes, preset) -> MetricResult:
    m = "file_size"
    limit = _get(preset, "max_bytes")
    if limit is None:
        return _not_applicable(m, "preset has no max_bytes", value=n_bytes)
    return _ok(m, n_bytes, int(limit), "<=", n_bytes <= int(limit))


def _product_mask(rgb, backdrop, pbox, text_boxes) -> np.ndarray:
    h, w = backdrop.shape
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = pbox
    mask[y0:y1, x0:x1] = True
    mask &= ~backdrop
    for tb in text_boxes:
        tx0, ty0, tx1, ty1 = tb
        mask[ty0:ty1, tx0:tx1] = False
    return mask


def _sharpness(grey, product_mask, pbox, cfg) -> MetricResult:
    m = "sharpness"
    x0, y0, x1, y1 = pbox
    crop = grey[y0:y1, x0:x1]
    pm = product_mask[y0:y1, x0:x1].astype(np.uint8)
    if pm.sum() < 16:
        return _error(m, "product region has (almost) no pixels that differ from the backdrop",
                      threshold=cfg.sharpness_min, comparator=">=")
    ch, cw = crop.shape
    scale = cfg.sharpness_scale / max(ch, cw)
    nw, nh = max(1, round(cw * scale)), max(1, round(ch * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    g = cv2.resize(crop, (nw, nh), interpolation=interp).astype(np.float32)
    pm = cv2.resize(pm, (nw, nh), interpolation=cv2.INTER_NEAREST)
    # include the product's silhouette edge against the backdrop: grow the product mask by a few pixels
    pm = cv2.dilate(pm, np.ones((5, 5), np.uint8)) > 0
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=3)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    # Sobel 3x3 sums 4x the central difference; normalise so the threshold reads in grey levels per pixel
    grad = np.sqrt(gx * gx + gy * gy) / 4.0
    sel = pm & (grad > cfg.sharpness_flat_gradient)
    n = int(sel.sum())
    if n < 16:
        # a product with no edges at all at this scale: nothing is in focus
        return _ok(m, 0.0, cfg.sharpness_min, ">=", False, {"non_flat_pixels": n, "scale": round(scale, 4)})
    value = float(lap[sel].var())
    return _ok(m, value, cfg.sharpness_min, ">=", value >= cfg.sharpness_min,
               {"non_flat_pixels": n, "scale": round(scale, 4), "measured_size": [nw, nh]})


def _exposure(rgb, product_mask, cfg) -> MetricResult:
    m = "exposure"
    n = int(product_mask.sum())
    if n < 16:
        return _error(m, "product region has (almost) no pixels that differ from the backdrop")
    hl, sl = int(cfg.highlight_level), int(cfg.shadow_level)
    clipped_hi = cv2.inRange(rgb, np.array([hl] * 3, np.uint8), np.array([255] * 3, np.uint8)) > 0
    clipped_lo = cv2.inRange(rgb, np.array([0] * 3, np.uint8), np.array([sl] * 3, np.uint8)) > 0
    hi = float(np.count_nonzero(clipped_hi & product_mask)) / n
    lo = float(np.count_nonzero(clipped_lo & product_mask)) / n
    passed = hi <= cfg.clipped_highlights_max and lo <= cfg.clipped_shadows_max
    value = max(hi / cfg.clipped_highlights_max, lo / cfg.clipped_shadows_max)  # <= 1 passes
    return _ok(m, value, 1.0, "<=", passed,
               {"clipped_highlights": round(hi, 5), "clipped_shadows": round(lo, 5),
                "highlights_max": cfg.clipped_highlights_max, "shadows_max": cfg.clipped_shadows_max,
                "product_pixels": n, "value_is": "max(clipped/limit) over highlights and shadows"})


def _background_white(rgb, slot, preset, pbox, pbox_problem, category, cfg) -> MetricResult:
    m = "background_white"
    rule = _get(preset, "main_background")
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    if rule is None:
        return _error(m, "preset has no main_background rule")
    if rule == "any":
        return _not_applicable(m, "preset allows any main background")
    if rule == "white_except_apparel":
        if category is None:
            return _error(m, "preset exempts apparel from the white rule, but no category was given")
        if str(category).strip().lower() in cfg.apparel_categories:
            return _not_applicable(m, f"apparel exemption (category {category!r})")
    elif rule != "pure_white":
        return _error(m, f"unknown main_background rule {rule!r}")
    if pbox is None:
        return _error(m, pbox_problem)
    h, w = rgb.shape[:2]
    region = np.ones((h, w), bool)
    margin = int(round(cfg.background_margin * min(w, h)))
    x0, y0, x1, y1 = pbox
    region[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = False
    if region.sum() == 0:  # the product box covers the canvas: judge the 2-pixel frame
        region[:2] = region[-2:] = True
        region[:, :2] = region[:, -2:] = True
    white_all = cv2.inRange(rgb, np.array([255] * 3, np.uint8), np.array([255] * 3, np.uint8)) > 0
    n_region = int(np.count_nonzero(region))
    non_white_mask = region & ~white_all
    n_non_white = int(np.count_nonzero(non_white_mask))
    frac = 1.0 - n_non_white / n_region
    non_white = rgb[non_white_mask]
    detail = {"pixels": n_region, "non_white": n_non_white}
    if len(non_white):
        detail["median_non_white"] = [int(v) for v in np.median(non_white, axis=0)]
    return _ok(m, frac, cfg.background_white_min, ">=", frac >= cfg.background_white_min, detail)


def _fill_ratio(w, h, slot, preset, pbox) -> MetricResult:
    m = "fill_ratio"
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    min_fill = _get(preset, "min_fill")
    if not min_fill:
        return _not_applicable(m, "preset has no min_fill")
    x0, y0, x1, y1 = pbox
    # "Fills 85% of the frame" is read on the bounding box's longer side against the frame (as the renderer
    # places products): by area, a tall bottle could never reach 0.85 without being cropped.
    ratio = max((x1 - x0) / float(w), (y1 - y0) / float(h))
    return _ok(m, ratio, float(min_fill), ">=", ratio >= float(min_fill),
               {"measure": "product bbox longer side / frame side"})


def _text_policy(slot, preset, regions) -> MetricResult:
    m = "text_policy"
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    allow = _get(preset, "allow_text_on_main")
    if allow is None:
        return _error(m, "preset has no allow_text_on_main")
    if allow:
        return _not_applicable(m, "preset allows text on the main image")
    n = len(regions)
    return _ok(m, n, 0, "==", n == 0,
               {"text_on_main": [_get(r, "text") for r in regions]} if n else None)


def _dominant_colour(rgb_px: np.ndarray) -> tuple[int, int, int]:
    """Most frequent colour after quantising to 32 levels a channel; returns the mean of that bin's pixels."""
    q = (rgb_px >> 3).astype(np.int32)
    codes = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    vals, counts = np.unique(codes, return_counts=True)
    top = vals[np.argmax(counts)]
    sel = rgb_px[codes == top]
    return tuple(int(round(v)) for v in sel.mean(axis=0))


def _brand_colour(rgb, regions_clipped, brand_colours, backdrop_kind, backdrop, cfg) -> MetricResult:
    from skucore.base.colour import ciede2000, hex_to_lab, rgb_to_lab

    m = "brand_colour"
    if backdrop_kind is None:
        return _error(m, "backdrop_kind not given: cannot tell whether the backdrop is a brand colour")
    targets = []  # (label, pixels)
    for kind, text, box in regions_clipped:
        if kind in cfg.brand_region_kinds and box is not None:
            x0, y0, x1, y1 = box
            targets.append((f"{kind}:{text}", rgb[y0:y1, x0:x1].reshape(-1, 3)))
    if str(backdrop_kind) == "brand":
        if backdrop.sum() < 16:
            return _error(m, "brand backdrop expected, but no backdrop pixels were found")
        targets.append(("backdrop", rgb[backdrop]))
    if not targets:
        return _not_applicable(m, "no badge region and no brand backdrop")
    if not brand_colours:
        return _error(m, "brand colours not given, but the image has brand elements")
    if isinstance(brand_colours, Mapping):
        kit = {str(k): v for k, v in brand_colours.items() if v}
    else:
        kit = {str(v): v for v in brand_colours if v}
    try:
        kit_lab = {k: hex_to_lab(v) for k, v in kit.items()}
    except ValueError as exc:
        return _error(m, f"bad brand colour: {exc}")
    worst = 0.0
    found = []
    for label, px in targets:
        dom = _dominant_colour(px)
        lab = rgb_to_lab(np.array(dom, np.float32))
        best_name, best = min(((k, ciede2000(lab, v)) for k, v in kit_lab.items()), key=lambda kv: kv[1])
        worst = max(worst, best)
        found.append({"element": label, "dominant": "#%02X%02X%02X" % dom, "nearest": best_name,
                      "delta_e00": round(best, 3)})
    return _ok(m, worst, cfg.brand_delta_e_max, "<=", worst <= cfg.brand_delta_e_max, {"elements": found})


def _text(img: Image.Image, regions_clipped) -> MetricResult:
    from skucore.quality.ocr import read_text, text_key

    m = "text"
    if not regions_clipped:
        return _not_applicable(m, "no text drawn", value=1.0, threshold=1.0, comparator="==")
    checked = []
    for kind, text, box in regions_clipped:
        entry = {"kind": kind, "intended": text}
        if box is None:
            entry.update(read=None, ok=False, problem="box_outside_image")
        else:
            try:
                read, score = read_text(img.crop(box))
            except Exception as exc:  # noqa: BLE001 - an OCR failure is reported as an error, never a pass
                return _error(m, {"problem": f"ocr_failed: {type(exc).__name__}: {exc}", "regions": checked})
            entry.update(read=read, score=round(score, 4), ok=text_key(read) == text_key(text) and text_key(text) != "")
        checked.append(entry)
    frac = sum(e["ok"] for e in checked) / len(checked)
    return _ok(m, frac, 1.0, "==", frac == 1.0, {"regions": checked})


def _fidelity(fidelity) -> MetricResult:
    m = "fidelity"
    if fidelity is None:
        return _error(m, "fidelity not given")
    passed = _get(fidelity, "passed")
    if passed is None:
        return _error(m, "fidelity has no 'passed'")
    psnr = _get(fidelity, "psnr")
    detail = {k: _get(fidelity, k) for k in ("psnr", "max_abs_diff", "reason") if _get(fidelity, k) is not None}
    return _ok(m, psnr, None, "renderer", bool(passed), detail)


# ----------------------------------------------------------------------------------------------------------------


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
    config: QualityConfig = QualityConfig(),
) -> list[MetricResult]:
    """All metrics of `METRICS` for one exported image, in that order; see the module docstring.

    `brand_colours`: a mapping name -> "#RRGGBB" (a `BrandKit`'s colours) or a list of "#RRGGBB".
    `backdrop_kind`: the template's backdrop kind ("white" | "gradient" | "brand" | "surface" | ...).
    `category`: the SKU's category (used for the apparel exemption of the white-background rule).
    Never raises for bad inputs: those become "error" results.
    """
    cfg = config
    excluded = set(cfg.exclude)
    results: dict[str, MetricResult] = {}

    def done(r: MetricResult):
        results[r.metric] = r

    for name in excluded:
        done(MetricResult(name, None, None, None, None, "excluded", "excluded_by_config"))

    def want(name):
        return name not in results

    # decode
    img = None
    decode_error = None
    if not image_bytes:
        decode_error = "no image bytes"
    else:
        try:
            with Image.open(io.BytesIO(image_bytes)) as im:
                im.load()
                img = im.convert("RGB") if im.mode != "RGB" else im.copy()
        except Exception as exc:  # noqa: BLE001
            decode_error = f"image does not decode: {type(exc).__name__}: {exc}"
    if preset is None:
        for name in ("resolution", "aspect", "file_size", "background_white", "fill_ratio", "text_policy"):
            if want(name):
                done(_error(name, "preset not given"))
    if slot not in ("main", "secondary"):
        for name in ("background_white", "fill_ratio", "text_policy"):
            if want(name):
                done(_error(name, f"slot must be 'main' or 'secondary', got {slot!r}"))
    if want("file_size") and image_bytes:
        done(_file_size(len(image_bytes), preset))
    if want("fidelity"):
        done(_fidelity(fidelity))
    if img is None:
        for name in METRICS:
            if want(name):
                done(_error(name, decode_error))
        return [results[n] for n in METRICS]

    w, h = img.size
    rgb = np.asarray(img)
    if want("resolution"):
        done(_resolution(w, h, preset))
    if want("aspect"):
        done(_aspect(w, h, preset, cfg))

    pbox = _box(product_box, w, h) if product_box is not None else None
    pbox_problem = "product_box not given" if product_box is None else f"product_box {product_box!r} is empty or outside the image"

    regions_clipped = None
    if text_regions is not None:
        regions_clipped = []
        for r in text_regions:
            regions_clipped.append((str(_get(r, "kind", "")), str(_get(r, "text", "")), _box(_get(r, "box"), w, h)))
    text_boxes = [b for _, _, b in (regions_clipped or []) if b is not None]

    need_backdrop = any(want(n) for n in ("sharpness", "exposure", "brand_colour"))
    backdrop = _backdrop_mask(rgb, cfg.backdrop_tolerance)[0] if need_backdrop else None

    if pbox is None:
        for name in ("sharpness", "exposure", "fill_ratio"):
            if want(name):
                done(_error(name, pbox_problem))
    else:
        if want("sharpness") or want("exposure"):
            pm = _product_mask(rgb, backdrop, pbox, text_boxes)
            if want("sharpness"):
                grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                done(_sharpness(grey, pm, pbox, cfg))
            if want("exposure"):
                done(_exposure(rgb, pm, cfg))
        if want("fill_ratio"):
            done(_fill_ratio(w, h, slot, preset, pbox))
    if want("background_white"):
        done(_background_white(rgb, slot, preset, pbox, pbox_problem, category, cfg))

    if regions_clipped is None:
        for name in ("text", "text_policy", "brand_colour"):
            if want(name):
                done(_error(name, "text_regions not given (pass [] when no text was drawn)"))
    else:
        if want("text_policy"):
            done(_text_policy(slot, preset, regions_clipped))
        if want("brand_colour"):
            done(_brand_colour(rgb, regions_clipped, brand_colours, backdrop_kind, backdrop, cfg))
        if want("text"):
            done(_text(img, regions_clipped))

    return [results[n] for n in METRICS]


def quality_rows(results: Iterable[MetricResult], *, promotion: str, sku: str, role: str | None,
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


# ----------------------------------------------------------------------------------------------------------------
# near duplicates


def perceptual_hash(image_bytes: bytes, method: str = "dhash", hash_size: int = 8) -> str:
    """Hex perceptual hash of an encoded image: "dhash" (default) or "phash" (imagehash, 64 bits at size 8)."""
    import imagehash

    funcs = {"dhash": imagehash.dhash, "phash": imagehash.phash}
    if method not in funcs:
        raise ValueError(f"unknown hash method {method!r}; use one of {sorted(funcs)}")
    with Image.open(io.BytesIO(image_bytes)) as im:
        return str(funcs[method](im.convert("RGB"), hash_size=hash_size))


def _default_sku_of(image_id):
    if isinstance(image_id, tuple) and image_id:
        return image_id[0]
    if isinstance(image_id, Mapping) and "sku" in image_id:
        return image_id["sku"]
    raise ValueError(
        f"near_duplicates: cannot tell the SKU of image id {image_id!r}; use (sku, ...) tuples as ids or pass sku_of"
    )


def near_duplicates(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
) -> list[tuple[Hashable, Hashable, int]]:
    """Pairs (a, b, hamming distance) of images of DIFFERENT SKUs whose hashes differ in at most `max_bits` bits.

    `hashes` maps an image id to a hex hash (all of one length, e.g. from `perceptual_hash`). The SKU of an id is
    `id[0]` for tuple ids, or `sku_of(id)`. Images of the same SKU (its scenes and platform exports) are never paired.
    Pairs come sorted by distance, then by the order of `hashes`. Vectorised: n^2/2 XOR + popcount in numpy.
    """
    sku_of = sku_of or _default_sku_of
    ids = list(hashes)
    if len(ids) < 2:
        return []
    lengths = {len(str(hashes[i])) for i in ids}
    if len(lengths) != 1:
        raise ValueError(f"near_duplicates: hashes of different lengths {sorted(lengths)}")
    nhex = lengths.pop()
    nwords = (nhex + 15) // 16
    words = np.zeros((len(ids), nwords), dtype=np.uint64)
    for row, i in enumerate(ids):
        s = str(hashes[i]).rjust(nwords * 16, "0")
        for k in range(nwords):
            words[row, k] = np.uint64(int(s[k * 16 : (k + 1) * 16], 16))
    skus = [sku_of(i) for i in ids]
    sku_codes = np.fromiter(_codes(skus), dtype=np.int64, count=len(skus))
    out = []
    for a in range(len(ids) - 1):
        x = words[a + 1 :] ^ words[a]
        dist = np.bitwise_count(x).sum(axis=1)
        hit = np.nonzero((dist <= max_bits) & (sku_codes[a + 1 :] != sku_codes[a]))[0]
        for j in hit:
            out.append((ids[a], ids[a + 1 + j], int(dist[j]), a, a + 1 + j))
    out.sort(key=lambda t: (t[2], t[3], t[4]))
    return [(a, b, d) for a, b, d, _, _ in out]


def near_duplicate_results(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
) -> dict[Hashable, MetricResult]:
    """A "near_duplicate" MetricResult for every image id in `hashes` (to append to that image's metrics before
    grading): value = the smallest Hamming distance to an image of another SKU (None when there is none), fail
    when it is <= max_bits, with the partners in `detail`. An id whose hash is missing or empty is an error."""
    valid = {k: v for k, v in hashes.items() if v}
    pairs = near_duplicates(valid, max_bits=max_bits, sku_of=sku_of)
    partners: dict[Hashable, list] = {}
    for a, b, d in pairs:
        partners.setdefault(a, []).append((b, d))
        partners.setdefault(b, []).append((a, d))
    out: dict[Hashable, MetricResult] = {}
    for k in hashes:
        if k not in valid:
            out[k] = _error("near_duplicate", "no perceptual hash for this image", threshold=max_bits, comparator=">")
        elif k in partners:
            ps = sorted(partners[k], key=lambda t: t[1])
            out[k] = _ok("near_duplicate", ps[0][1], max_bits, ">", False,
                         {"duplicates_of": [{"image": str(p), "bits": d} for p, d in ps]})
        else:
            out[k] = _ok("near_duplicate", None, max_bits, ">", True, {"nearest_within_bits": None})
    return out


def _codes(values):
    seen: dict = {}
    for v in values:
        yield seen.setdefault(v, len(seen))
