"""Per-platform exports: size, background rule, fill ratio, format and a file-size limit met by search.

`export_image(scene_or_image, preset, slot=...)` checks the preset's rules on the pixels it is about to encode, then
encodes:
- JPEG: baseline quality search between the preset's `quality_range` (floor, ceiling): the ceiling first, else a
  binary search for the highest quality whose bytes (plus the lineage metadata still to be embedded) fit
  `max_bytes`. Always 4:4:4 chroma (crisp text; and uniform white 8x8 blocks decode to exactly 255, which the
  pure-white rule needs), `optimize=True`, progressive. libjpeg is deterministic and no time stamp is written, so
  the same pixels give the same bytes.
- PNG: compress level 6.
- If even the floor quality is too big: an image without text is downscaled (Lanczos), never below the preset's
  `min_side`, and the export says so in `notes`; an image with text raises `ExportTooLarge` with a suggested size,
  because text is drawn at the export resolution and never resized afterwards (the caller re-renders).
Rule failures raise `ExportRuleViolation(reason)` (or are listed in `Export.violations` with `strict=False`).
"""
from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageFile

from skucore.base.platforms import PlatformPreset, main_needs_pure_white, resolve_preset
from skucore.base.types import RejectedInput, TextRegion

SLOTS = ("main", "secondary")
_MAXBLOCK_LOCK = threading.Lock()


class ExportRuleViolation(RejectedInput, ValueError):
    """An export that would break its platform's rules (e.g. text on a main image)."""


class ExportTooLarge(ValueError):
    """Even the floor quality exceeds the byte limit. `suggested_size` is a canvas that should fit (or None when
    none within the preset's `min_side` does)."""

    def __init__(self, message: str, suggested_size: tuple[int, int] | None = None):
        super().__init__(f"file_too_large: {message}")
        self.reason = "file_too_large"
        self.suggested_size = suggested_size


@dataclass
class Export:
    data: bytes
    format: str
    width: int
    height: int
    quality: int | None
    byte_size: int
    product_box: tuple[int, int, int, int] | None
    fill_ratio: float | None
    text_regions: list[TextRegion]
    platform: str = ""
    slot: str = "main"
    downscaled: bool = False
    background_ok: bool | None = None
    notes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- ICC
@functools.lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS built-in) with its creation date pinned, so the bytes never vary."""
    from PIL import ImageCms

    prof = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    prof[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    if any(prof[84:100]):  # a profile ID is set: recompute it (MD5 with flags, intent and ID zeroed)
        tmp = bytearray(prof)
        tmp[44:48] = b"\0" * 4
        tmp[64:68] = b"\0" * 4
        tmp[84:100] = b"\0" * 16
        prof[84:100] = hashlib.md5(bytes(tmp)).digest()
    return bytes(prof)


# ------------------------------------------------------------------------------------------------- helpers
def _encode(img: Image.Image, fmt: str, quality: int | None, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    kw: dict[str, Any] = {}
    if icc:
        kw["icc_profile"] = icc
    if fmt == "JPEG":
        opts = dict(quality=int(quality), subsampling=0, optimize=True, progressive=True, **kw)
        try:
            img.save(buf, "JPEG", **opts)
        except OSError:
            # Pillow sizes the one-shot buffer of optimized/progressive JPEG at w*h (2*w*h at q>=95); very noisy
            # 4:4:4 images can exceed it ("Suspension not allowed here"). Retry with a buffer that always fits;
            # libjpeg's output does not depend on the buffer size.
            with _MAXBLOCK_LOCK:
                old = ImageFile.MAXBLOCK
                ImageFile.MAXBLOCK = max(old, 4 * img.width * img.height + (1 << 20))
                try:
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", **opts)
                finally:
                    ImageFile.MAXBLOCK = old
    else:
        img.save(buf, "PNG", compress_level=6, **kw)
    return buf.getvalue()


def _block_expanded(box, size, block: int = 8):
    x0, y0, x1, y1 = box
    W, H = size
    return (max(0, (x0 // block) * block), max(0, (y0 // block) * block),
            min(W, -(-x1 // block) * block), min(H, -(-y1 // block) * block))


def _outside_white(arr: np.ndarray, box) -> bool:
    x0, y0, x1, y1 = box
    nonwhite = cv2.inRange(np.ascontiguousarray(arr), (255, 255, 255), (255, 255, 255)) == 0
    nonwhite[y0:y1, x0:x1] = False
    return not bool(nonwhite.any())


def background_is_pure_white(rgb: np.ndarray, product_mask: np.ndarray | None = None,
                             product_box: tuple[int, int, int, int] | None = None, *,
                             jpeg_block: int | None = None) -> bool:
    """Every background pixel exactly (255, 255, 255). Background = mask 0 (PNG-exact check), or, for a decoded
    JPEG (`jpeg_block=8`), everything outside the product box grown to the 8x8 block grid, where compression of
    the product's own blocks cannot reach. Without mask or box: a 2% border ring."""
    if jpeg_block and product_box is not None:
        return _outside_white(rgb, _block_expanded(product_box, (rgb.shape[1], rgb.shape[0]), jpeg_block))
    if product_mask is not None:
        nonwhite = cv2.inRange(np.ascontiguousarray(rgb), (255, 255, 255), (255, 255, 255)) == 0
        return not bool(np.any(nonwhite & (np.asarray(product_mask) == 0)))
    if product_box is not None:
        return _outside_white(rgb, product_box)
    H, W = rgb.shape[:2]
    r = max(1, int(min(H, W) * 0.02))
    ring = np.concatenate([rgb[:r].reshape(-1, 3), rgb[-r:].reshape(-1, 3), rgb[:, :r].reshape(-1, 3),
                           rgb[:, -r:].reshape(-1, 3)])
    return bool((ring == 255).all())


def estimate_product_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box of the non-white pixels (for a bare image on white)."""
    nonwhite = (rgb != 255).any(axis=2)
    ys, xs = np.nonzero(nonwhite)
    if ys.size == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _fill(box, size) -> float:
    x0, y0, x1, y1 = box
    return max((x1 - x0) / size[0], (y1 - y0) / size[1])


def _scale_box(box, sx: float, sy: float, size):
    x0, y0, x1, y1 = box
    W, H = size
    return (max(0, int(math.floor(x0 * sx))), max(0, int(math.floor(y0 * sy))),
            min(W, int(math.ceil(x1 * sx))), min(H, int(math.ceil(y1 * sy))))


def _grow_box(box, n: int, size):
    x0, y0, x1, y1 = box
    return (max(0, x0 - n), max(0, y0 - n), min(size[0], x1 + n), min(size[1], y1 + n))


def _resize_with_geometry(img: Image.Image, size: tuple[int, int], box, mask):
    """Resize (Lanczos) and carry the product's geometry along. Lanczos-3 rings up to 3 source pixels from an
    edge, so the product's footprint (box and mask) grows by that much: the ringing belongs to the product, not
    to the background."""
    sx, sy = size[0] / img.width, size[1] / img.height
    grow = int(math.ceil(3 * max(sx, sy, 1.0))) + 1
    bg_box = None
    if box is not None:
        x0, y0, x1, y1 = box
        exact = (int(round(x0 * sx)), int(round(y0 * sy)), int(round(x1 * sx)), int(round(y1 * sy)))
        bg_box = _grow_box(_scale_box(box, sx, sy, size), grow, size)
        box = exact
    if mask is not None:
        m = np.asarray(Image.fromarray(np.asarray(mask)).resize(size, Image.Resampling.LANCZOS))
        mask = cv2.dilate((m > 0).astype(np.uint8) * 255, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return img.resize(size, Image.Resampling.LANCZOS), box, bg_box, mask


def _unpack(scene_or_image):
    if isinstance(scene_or_image, Image.Image):
        return scene_or_image, None, None
    img = getattr(scene_or_image, "image", None)
    if not isinstance(img, Image.Image):
        raise TypeError(f"export_image needs a PIL image or a Scene, got {type(scene_or_image).__name__}")
    mask = getattr(scene_or_image, "product_mask", None)
    return img, getattr(scene_or_image, "product_box", None), mask


# ---------------------------------------------------------------------------------------------------- export
def export_image(scene_or_image: Any, preset: str | PlatformPreset, *, slot: str = "main",
                 text_regions: Sequence[TextRegion] | None = None,
                 product_box: tuple[int, int, int, int] | None = None,
                 product_mask: Image.Image | np.ndarray | None = None, category: str | None = None,
                 lineage: dict | None = None, icc_profile: bool = False,
                 quality_range: tuple[int, int] | None = None, allow_downscale: bool = True,
                 strict: bool = True) -> Export:
    """Encode `scene_or_image` (a `studio.Scene` or an RGB/RGBA PIL image) for `preset` and `slot`.

    Geometry (`product_box`, `product_mask`) defaults to the scene's. `lineage` is embedded (its bytes count towards
    `max_bytes`). `category` feeds the "white_except_apparel" rule."""
    preset = resolve_preset(preset)
    if slot not in SLOTS:
        raise ValueError(f"slot {slot!r} unknown; valid: {', '.join(SLOTS)}")
    img, s_box, s_mask = _unpack(scene_or_image)
    product_box = tuple(product_box) if product_box is not None else (tuple(s_box) if s_box is not None else None)
    if product_mask is None:
        product_mask = s_mask
    regions = list(text_regions or [])
    notes: list[str] = []
    violations: list[str] = []

    if img.mode != "RGB":
        if img.mode == "RGBA" and np.asarray(img.getchannel("A")).min() < 255:
            raise ExportRuleViolation("transparent_image", "exports are opaque RGB; composite onto a backdrop first")
        img = img.convert("RGB")
    mask_arr = None if product_mask is None else np.asarray(product_mask)
    bg_box = None  # the box the background rule exempts (the product box, grown by resampling ringing)

    # ---- size and aspect
    W, H = preset.size
    if img.size != (W, H):
        if regions:
            raise ExportRuleViolation("size_mismatch", f"image {img.size} with text must be drawn at {preset.size}")
        if abs(img.width / img.height - preset.aspect) > 0.01:
            raise ExportRuleViolation("aspect_mismatch",
                                      f"image {img.size} does not have aspect {preset.aspect} of {preset.id}")
        notes.append(f"resized from {img.width}x{img.height} to {W}x{H}")
        img, product_box, bg_box, mask_arr = _resize_with_geometry(img, (W, H), product_box, mask_arr)
    arr = np.asarray(img)

    # ---- slot rules
    need_white = slot == "main" and main_needs_pure_white(preset, category)
    if product_box is None and need_white:
        product_box = estimate_product_box(arr)
    if bg_box is None:
        bg_box = product_box
    if regions and ((slot == "main" and not preset.allow_text_on_main)
                    or (slot == "secondary" and not preset.allow_text_on_secondary)):
        violations.append(f"text_on_{slot}: {preset.id} allows no text on the {slot} image ({len(regions)} regions)")
    background_ok = None
    if need_white:
        background_ok = background_is_pure_white(arr, mask_arr, bg_box)
        if not background_ok:
            violations.append(f"background_not_pure_white: {preset.id} main image needs RGB 255,255,255")
    if slot == "main" and preset.min_fill > 0:
        if product_box is None:
            violations.append("fill_unknown: no product box to measure the fill ratio")
        elif _fill(product_box, img.size) + 1e-9 < preset.min_fill:
            violations.append(f"fill_below_minimum: fill {_fill(product_box, img.size):.3f} < {preset.min_fill}")
    if violations and strict:
        reason, _, msg = violations[0].partition(": ")
        raise ExportRuleViolation(reason, msg)

    # ---- encode under the byte limit
    fmt = preset.format
    icc = srgb_icc_profile() if icc_profile else None
    overhead = 0
    if lineage is not None:
        from skucore.imaging.lineage import metadata_overhead

        overhead = metadata_overhead(lineage, fmt)
    limit = preset.max_bytes - overhead
    lo, hi = quality_range or preset.quality_range
    downscaled = False
    for _ in range(6):
        data, quality, floor_size = _search(img, fmt, lo, hi, limit, icc)
        if data is not None:
            break
        side = min(img.size)
        factor = math.sqrt(limit / floor_size) * 0.95
        new_side = max(preset.min_side, int(side * factor))
        suggested = None if new_side >= side else (max(1, int(round(img.width * new_side / side))),
                                                   max(1, int(round(img.height * new_side / side))))
        what = f"quality {lo}" if fmt == "JPEG" else "PNG"
        msg = (f"{preset.id}: {img.width}x{img.height} at {what} is {floor_size} bytes > limit {limit} "
               f"(max_bytes {preset.max_bytes} less {overhead} for metadata)")
        if suggested is None:
            raise ExportTooLarge(msg + f"; already at min_side {preset.min_side}", None)
        if regions or not allow_downscale:
            raise ExportTooLarge(msg + f"; re-render at {suggested[0]}x{suggested[1]}", suggested)
        notes.append(f"downscaled from {img.width}x{img.height} to {suggested[0]}x{suggested[1]}: {msg}")
        img, product_box, bg_box, mask_arr = _resize_with_geometry(img, suggested, product_box, mask_arr)
        if need_white and not background_is_pure_white(np.asarray(img), mask_arr, bg_box):
            raise ExportTooLarge(msg + "; downscaling would break the pure-white background rule", None)
        downscaled = True
    else:  # pragma: no cover - the loop converges long before
        raise ExportTooLarge(f"{preset.id}: could not meet {preset.max_bytes} bytes", None)

    if lineage is not None:
        from skucore.imaging.lineage import embed_lineage

        data = embed_lineage(data, fmt, lineage)
    if len(data) > preset.max_bytes:  # metadata estimate was short: never ship over the limit
        raise ExportTooLarge(f"{preset.id}: {len(data)} bytes with metadata > {preset.max_bytes}", None)

    if need_white and fmt == "JPEG" and bg_box is not None:
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        background_ok = background_is_pure_white(decoded, product_box=bg_box, jpeg_block=8)
        if not background_ok:
            v = f"background_not_pure_white: decoded JPEG for {preset.id} has non-white background pixels"
            if strict:
                raise ExportRuleViolation("background_not_pure_white", v)
            violations.append(v)

    return Export(data=data, format=fmt, width=img.width, height=img.height, quality=quality,
                  byte_size=len(data), product_box=product_box,
                  fill_ratio=None if product_box is None else _fill(product_box, img.size), text_regions=regions,
                  platform=preset.id, slot=slot, downscaled=downscaled, background_ok=background_ok, notes=notes,
                  violations=violations)


def _search(img: Image.Image, fmt: str, lo: int, hi: int, limit: int, icc: bytes | None):
    """(bytes, quality, size_at_floor): the highest quality in [lo, hi] whose encoding fits `limit`
    (binary search; JPEG size grows with quality), or (None, None, floor_size) when even `lo` does not fit."""
    if fmt != "JPEG":
        d = _encode(img, fmt, None, icc)
        return (d, None, len(d)) if len(d) <= limit else (None, None, len(d))
    d = _encode(img, fmt, hi, icc)
    if len(d) <= limit:
        return d, hi, None
    d_lo = _encode(img, fmt, lo, icc)
    if len(d_lo) > limit:
        return None, None, len(d_lo)
    best, best_q = d_lo, lo
    a, b = lo + 1, hi - 1
    while a <= b:
        mid = (a + b) // 2
        d = _encode(img, fmt, mid, icc)
        if len(d) <= limit:
            best, best_q = d, mid
            a = mid + 1
        else:
            b = mid - 1
    return best, best_q, len(d_lo)
