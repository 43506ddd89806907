"""The quality metrics of one exported image: each a function returning a `MetricResult` with its value,
threshold and status (see `skucore.quality.score` for how they are combined). Inputs are duck-typed: `preset` is
any object or mapping with the platform preset's fields; regions are (kind, text, box) after clipping."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

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
# Computed across a promotion, outside `score_image` (the quality stage adds them); excludable all the same.
PROMOTION_METRICS: tuple[str, ...] = ("near_duplicate", "tone_consistency")

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
    # stray text in a generated scene's backdrop (outside the product box and our own text, grown by the margin)
    stray_text_margin: float = 0.02  # of the shorter side
    stray_text_max_side: int = 640  # detection runs on the image scaled to this longer side
    stray_text_min_confidence: float = 0.8
    stray_text_min_chars: int = 2

    def __post_init__(self):
        known = [*METRICS, *PROMOTION_METRICS]
        unknown = set(self.exclude) - set(known)
        if unknown:
            raise ValueError(f"QualityConfig.exclude names unknown metrics {sorted(unknown)}; known: {known}")

    def excluded(self, result: "MetricResult") -> "MetricResult":
        """`result`, or its "excluded_by_config" form when the configuration excludes its metric (for the metrics
        computed across a promotion, outside `score_image`)."""
        if result.metric not in self.exclude:
            return result
        return MetricResult(result.metric, None, None, None, None, "excluded", "excluded_by_config")


# ----------------------------------------------------------------------------------------------------------------
# small helpers


def field(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def ok_result(metric, value, threshold, comparator, passed: bool, detail=None) -> MetricResult:
    return MetricResult(metric, _f(value), _f(threshold), comparator, bool(passed), "pass" if passed else "fail",
                        _detail(detail))


def error_result(metric, detail, value=None, threshold=None, comparator=None) -> MetricResult:
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


def clip_box(box, w, h) -> tuple[int, int, int, int] | None:
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


def backdrop_mask(rgb: np.ndarray, tolerance: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Pixels of the backdrop: within `tolerance` (max channel difference) of the frame's median colour and
    connected to the image frame (4-connectivity). Returns (bool mask HxW, frame colour).

    One flood fill over the near-colour mask framed by a ring of near pixels: what it reaches from the ring is
    exactly the near pixels connected to the frame (a labelling of every component costs several times more)."""
    frame = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]], axis=0)
    colour = np.median(frame, axis=0).astype(np.int16)
    lo = np.clip(colour - tolerance, 0, 255).astype(np.uint8)
    hi = np.clip(colour + tolerance, 0, 255).astype(np.uint8)
    h, w = rgb.shape[:2]
    ringed = np.ones((h + 2, w + 2), np.uint8)
    ringed[1:-1, 1:-1] = cv2.inRange(rgb, lo, hi) >> 7  # 1 where near, 0 elsewhere; the ring is 1
    cv2.floodFill(ringed, None, (0, 0), 2, loDiff=0, upDiff=0, flags=4)
    return ringed[1:-1, 1:-1] == 2, tuple(int(c) for c in colour)


# ----------------------------------------------------------------------------------------------------------------
# metrics


def resolution_metric(w, h, preset) -> MetricResult:
    m = "resolution"
    size = _pair(field(preset, "size"))
    min_side, max_side = field(preset, "min_side"), field(preset, "max_side")
    if size is None and min_side is None and max_side is None:
        return error_result(m, "preset has none of size, min_side, max_side")
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
    return ok_result(m, min(w, h), min_side, "min_side<=shorter,longer<=max_side,size==preset", not problems, detail)


def aspect_metric(w, h, preset, cfg) -> MetricResult:
    m = "aspect"
    size = _pair(field(preset, "size"))
    if size is None:
        return _not_applicable(m, "preset has no size", value=w / h)
    want = size[0] / size[1]
    got = w / h
    passed = abs(got - want) <= cfg.aspect_tolerance * want
    return ok_result(m, got, want, f"==±{cfg.aspect_tolerance:g}", passed, {"width": w, "height": h})


def file_size_metric(n_bytes, preset) -> MetricResult:
    m = "file_size"
    limit = field(preset, "max_bytes")
    if limit is None:
        return _not_applicable(m, "preset has no max_bytes", value=n_bytes)
    return ok_result(m, n_bytes, int(limit), "<=", n_bytes <= int(limit))


def product_mask(rgb, backdrop, pbox, text_boxes) -> np.ndarray:
    h, w = backdrop.shape
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = pbox
    mask[y0:y1, x0:x1] = True
    mask &= ~backdrop
    for tb in text_boxes:
        tx0, ty0, tx1, ty1 = tb
        mask[ty0:ty1, tx0:tx1] = False
    return mask


def sharpness_metric(grey, product_mask, pbox, cfg) -> MetricResult:
    m = "sharpness"
    x0, y0, x1, y1 = pbox
    crop = grey[y0:y1, x0:x1]
    pm = product_mask[y0:y1, x0:x1].astype(np.uint8)
    if pm.sum() < 16:
        return error_result(m, "product region has (almost) no pixels that differ from the backdrop",
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
        return ok_result(m, 0.0, cfg.sharpness_min, ">=", False, {"non_flat_pixels": n, "scale": round(scale, 4)})
    value = float(lap[sel].var())
    return ok_result(m, value, cfg.sharpness_min, ">=", value >= cfg.sharpness_min,
               {"non_flat_pixels": n, "scale": round(scale, 4), "measured_size": [nw, nh]})


def exposure_metric(rgb, product_mask, cfg, pbox=None) -> MetricResult:
    """`pbox`: where `product_mask` can be true (the product box); only those pixels are looked at."""
    m = "exposure"
    if pbox is not None:
        x0, y0, x1, y1 = pbox
        rgb, product_mask = rgb[y0:y1, x0:x1], product_mask[y0:y1, x0:x1]
    n = int(np.count_nonzero(product_mask))
    if n < 16:
        return error_result(m, "product region has (almost) no pixels that differ from the backdrop")
    hl, sl = int(cfg.highlight_level), int(cfg.shadow_level)
    clipped_hi = cv2.inRange(rgb, np.array([hl] * 3, np.uint8), np.array([255] * 3, np.uint8)) > 0
    clipped_lo = cv2.inRange(rgb, np.array([0] * 3, np.uint8), np.array([sl] * 3, np.uint8)) > 0
    hi = float(np.count_nonzero(clipped_hi & product_mask)) / n
    lo = float(np.count_nonzero(clipped_lo & product_mask)) / n
    passed = hi <= cfg.clipped_highlights_max and lo <= cfg.clipped_shadows_max
    value = max(hi / cfg.clipped_highlights_max, lo / cfg.clipped_shadows_max)  # <= 1 passes
    return ok_result(m, value, 1.0, "<=", passed,
               {"clipped_highlights": round(hi, 5), "clipped_shadows": round(lo, 5),
                "highlights_max": cfg.clipped_highlights_max, "shadows_max": cfg.clipped_shadows_max,
                "product_pixels": n, "value_is": "max(clipped/limit) over highlights and shadows"})


def background_white_metric(rgb, slot, preset, pbox, pbox_problem, category, cfg) -> MetricResult:
    m = "background_white"
    rule = field(preset, "main_background")
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    if rule is None:
        return error_result(m, "preset has no main_background rule")
    if rule == "any":
        return _not_applicable(m, "preset allows any main background")
    if rule == "white_except_apparel":
        if category is None:
            return error_result(m, "preset exempts apparel from the white rule, but no category was given")
        if str(category).strip().lower() in cfg.apparel_categories:
            return _not_applicable(m, f"apparel exemption (category {category!r})")
    elif rule != "pure_white":
        return error_result(m, f"unknown main_background rule {rule!r}")
    if pbox is None:
        return error_result(m, pbox_problem)
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
    return ok_result(m, frac, cfg.background_white_min, ">=", frac >= cfg.background_white_min, detail)


def fill_ratio_metric(w, h, slot, preset, pbox) -> MetricResult:
    m = "fill_ratio"
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    min_fill = field(preset, "min_fill")
    if not min_fill:
        return _not_applicable(m, "preset has no min_fill")
    x0, y0, x1, y1 = pbox
    # "Fills 85% of the frame" is read on the bounding box's longer side against the frame (as the renderer
    # places products): by area, a tall bottle could never reach 0.85 without being cropped.
    ratio = max((x1 - x0) / float(w), (y1 - y0) / float(h))
    return ok_result(m, ratio, float(min_fill), ">=", ratio >= float(min_fill),
               {"measure": "product bbox longer side / frame side"})


def text_policy_metric(slot, preset, regions) -> MetricResult:
    m = "text_policy"
    if slot != "main":
        return _not_applicable(m, f"slot {slot!r} is not the main image")
    allow = field(preset, "allow_text_on_main")
    if allow is None:
        return error_result(m, "preset has no allow_text_on_main")
    if allow:
        return _not_applicable(m, "preset allows text on the main image")
    n = len(regions)
    return ok_result(m, n, 0, "==", n == 0,
               {"text_on_main": [field(r, "text") for r in regions]} if n else None)


def _dominant_colour(rgb_px: np.ndarray) -> tuple[int, int, int]:
    """Most frequent colour after quantising to 32 levels a channel; returns the mean of that bin's pixels."""
    q = (rgb_px >> 3).astype(np.int32)
    codes = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    top = int(np.argmax(np.bincount(codes, minlength=1 << 15)))  # a count per bin, no sort; ties: the lowest bin
    sel = rgb_px[codes == top]
    return tuple(int(round(v)) for v in sel.mean(axis=0))


def brand_colour_metric(rgb, regions_clipped, brand_colours, backdrop_kind, backdrop, cfg) -> MetricResult:
    from skucore.base.colour import ciede2000, hex_to_lab, rgb_to_lab

    m = "brand_colour"
    if backdrop_kind is None:
        return error_result(m, "backdrop_kind not given: cannot tell whether the backdrop is a brand colour")
    targets = []  # (label, pixels)
    for kind, text, box in regions_clipped:
        if kind in cfg.brand_region_kinds and box is not None:
            x0, y0, x1, y1 = box
            targets.append((f"{kind}:{text}", rgb[y0:y1, x0:x1].reshape(-1, 3)))
    if str(backdrop_kind) == "brand":
        if backdrop.sum() < 16:
            return error_result(m, "brand backdrop expected, but no backdrop pixels were found")
        targets.append(("backdrop", rgb[backdrop]))
    if not targets:
        return _not_applicable(m, "no badge region and no brand backdrop")
    if not brand_colours:
        return error_result(m, "brand colours not given, but the image has brand elements")
    if isinstance(brand_colours, Mapping):
        kit = {str(k): v for k, v in brand_colours.items() if v}
    else:
        kit = {str(v): v for v in brand_colours if v}
    try:
        kit_lab = {k: hex_to_lab(v) for k, v in kit.items()}
    except ValueError as exc:
        return error_result(m, f"bad brand colour: {exc}")
    worst = 0.0
    found = []
    for label, px in targets:
        dom = _dominant_colour(px)
        lab = rgb_to_lab(np.array(dom, np.float32))
        best_name, best = min(((k, ciede2000(lab, v)) for k, v in kit_lab.items()), key=lambda kv: kv[1])
        worst = max(worst, best)
        found.append({"element": label, "dominant": "#%02X%02X%02X" % dom, "nearest": best_name,
                      "delta_e00": round(best, 3)})
    return ok_result(m, worst, cfg.brand_delta_e_max, "<=", worst <= cfg.brand_delta_e_max, {"elements": found})


def text_metric(img: Image.Image, regions_clipped, stray_text=None) -> MetricResult:
    """Every drawn region read back exactly (`ocr.verify_texts`: one batched recognition call for the image's
    regions, and a second reading in float of any region the int8 recogniser does not confirm; characters
    outside the recogniser's dictionary, such as "€" and "£", may read as nothing or one look-alike and are listed
    as `unverified`; a text with nothing the recogniser can read fails), and, where
    `stray_text` is given (a generated scene: [] or the boxes of text found outside what we drew), none found."""
    from skucore.quality.ocr import text_key, verify_texts

    m = "text"
    if not regions_clipped and not stray_text:
        detail = "no text drawn" + ("; no stray text in the generated scene" if stray_text is not None else "")
        return _not_applicable(m, detail, value=1.0, threshold=1.0, comparator="==")
    drawn = [(text, box) for _, text, box in regions_clipped if box is not None]
    try:
        verdicts = verify_texts([img.crop(box) for _, box in drawn], [text for text, _ in drawn])
    except Exception as exc:  # noqa: BLE001 - an OCR failure is reported as an error, never a pass
        return error_result(m, {"problem": f"ocr_failed: {type(exc).__name__}: {exc}"})
    checked, verdicts = [], iter(verdicts)
    for kind, text, box in regions_clipped:
        entry = {"kind": kind, "intended": text}
        if box is None:
            entry.update(read=None, ok=False, problem="box_outside_image")
        else:
            # Characters the recogniser cannot emit ("€", "£") are drawn by our own code from the catalog value;
            # the rest of the text must read back exactly, and the detail says what OCR could not confirm.
            read, score, ok, unverified = next(verdicts)
            entry.update(read=read, score=round(score, 4), ok=ok)
            if unverified:
                entry["unverified"] = unverified
                if set(text_key(text)) <= set(unverified):
                    entry["problem"] = "nothing_ocr_can_read"
        checked.append(entry)
    detail: dict = {"regions": checked}
    stray = list(stray_text or [])
    if stray:
        detail["stray_text"] = [{"box": list(b), "read": r} for b, r in stray]
    frac = sum(e["ok"] for e in checked) / len(checked) if checked else 1.0
    return ok_result(m, frac, 1.0, "==", frac == 1.0 and not stray, detail)


def fidelity_metric(fidelity) -> MetricResult:
    m = "fidelity"
    if fidelity is None:
        return error_result(m, "fidelity not given")
    passed = field(fidelity, "passed")
    if passed is None:
        return error_result(m, "fidelity has no 'passed'")
    psnr = field(fidelity, "psnr")
    detail = {k: field(fidelity, k) for k in ("psnr", "max_abs_diff", "reason") if field(fidelity, k) is not None}
    return ok_result(m, psnr, None, "renderer", bool(passed), detail)


# ----------------------------------------------------------------------------------------------------------------
