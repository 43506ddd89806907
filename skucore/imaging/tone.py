"""One tone for a promotion's generated backgrounds: estimate a scene's background tone outside the product and
shift the background towards a reference, product pixels untouched.

- `background_tone(rgb, product_mask)`: the median CIE L*a*b* (D65) of the pixels outside the product (and outside
  any `exclude_boxes`, e.g. text plates), measured on a copy at most `TONE_SIDE` px long.
- `match_background_tone(image, product_mask, reference)`: one shift in L*a*b* (lightness and white balance
  together), `strength` of the way from the scene's tone to the reference and at most `max_shift` long, weighted by
  the product's alpha: a pixel of alpha a moves by (1 - a/255) of it, so the background moves fully, the product's
  anti-aliased edge moves with its share of background, and every alpha-255 pixel keeps its exact value. A uniform
  shift keeps the scene's light and texture; a seeded sub-level dither before rounding keeps smooth gradients free
  of 8-bit banding. Deterministic.
- `reference_tone(look, template_id, backdrop)`: the target of a template's generated scenes: the promotion's
  `look` colour for that template (`skucore.prompting.look`), else the tone of the template's own backdrop as the
  studio draws it (the generator's init canvas). Studio renders are never shifted: their backdrop is that tone.

The quality metric that checks the result across a promotion is `skucore.quality.tone`.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image

from skucore.base.colour import hex_to_lab
from skucore.imaging.scene import make_backdrop

TONE_SIDE = 256  # the background's tone is a median: a small copy measures it as well as the full image
EDGE_GUARD = 0.01  # of the longer side: pixels this close to the product are left out of the estimate
BACKDROP_SAMPLE = (192, 192)  # the size a template backdrop is drawn at to measure its tone
REFINE_PASSES = 1  # a second pass makes up for colours the first one clipped at the sRGB gamut


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def background_tone(rgb: np.ndarray, product_mask: np.ndarray | None = None,
                    exclude_boxes: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """Median L*a*b* of the background of an HxWx3 uint8 image: pixels where `product_mask` (HxW, 0..255) is 0,
    more than `EDGE_GUARD` from the product, and outside `exclude_boxes` (x0, y0, x1, y1). Falls back to every
    pixel when nothing is left."""
    rgb = np.asarray(rgb)
    h, w = rgb.shape[:2]
    k = min(1.0, TONE_SIDE / max(h, w))
    sw, sh = max(1, round(w * k)), max(1, round(h * k))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if k < 1 else rgb
    keep = np.ones((sh, sw), bool)
    if product_mask is not None:
        m = cv2.resize((np.asarray(product_mask) > 0).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
        g = max(1, int(round(EDGE_GUARD * max(sw, sh))))
        keep &= cv2.dilate((m > 0).astype(np.uint8), np.ones((2 * g + 1, 2 * g + 1), np.uint8)) == 0
    for x0, y0, x1, y1 in exclude_boxes:
        keep[max(0, int(y0 * k)):int(np.ceil(y1 * k)), max(0, int(x0 * k)):int(np.ceil(x1 * k))] = False
    lab = _lab(small)
    px = lab[keep] if keep.any() else lab.reshape(-1, 3)
    return np.median(px, axis=0).astype(np.float64)


def lab_to_hex(lab: Sequence[float]) -> str:
    rgb = cv2.cvtColor(np.asarray(lab, np.float32).reshape(1, 1, 3), cv2.COLOR_Lab2RGB).reshape(3)
    return "#%02X%02X%02X" % tuple(int(round(v)) for v in np.clip(rgb * 255.0, 0, 255))


@functools.lru_cache(maxsize=64)
def _backdrop_tone(backdrop_json: str) -> tuple[float, float, float]:
    rgb = make_backdrop(json.loads(backdrop_json), BACKDROP_SAMPLE, seed=0)
    return tuple(float(v) for v in background_tone(rgb))


def backdrop_tone(backdrop: dict | None) -> np.ndarray:
    """The tone of a backdrop as the studio draws it (brand tokens already resolved)."""
    return np.array(_backdrop_tone(json.dumps(backdrop or {"kind": "white"}, sort_keys=True, default=str)))


def reference_tone(look: Any, template_id: str | None, backdrop: dict | None) -> np.ndarray:
    """L*a*b* target of a template's generated scenes: the look's colour for it, else its backdrop's tone."""
    colour = look.tone_for(template_id) if look is not None and hasattr(look, "tone_for") else None
    return hex_to_lab(colour) if colour else backdrop_tone(backdrop)


def tone_shift(current: Sequence[float], reference: Sequence[float], *, strength: float = 1.0,
               max_shift: float | None = None) -> np.ndarray:
    """The L*a*b* shift `match_background_tone` applies: `strength` of (reference - current), at most `max_shift`
    long (Euclidean in L*a*b*)."""
    d = (np.asarray(reference, np.float64) - np.asarray(current, np.float64)) * float(strength)
    n = float(np.linalg.norm(d))
    if max_shift is not None and n > max_shift > 0:
        d *= max_shift / n
    elif max_shift == 0:
        d[:] = 0
    return d


def match_background_tone(image: Image.Image, product_mask: Image.Image | np.ndarray | None,
                          reference: Sequence[float], *, strength: float = 1.0, max_shift: float | None = 20.0,
                          exclude_boxes: Sequence[Sequence[int]] = (), seed: int = 0
                          ) -> tuple[Image.Image, dict]:
    """`image` with its background shifted towards `reference` (L*a*b*), and what was done: {"tone_before",
    "tone_after", "reference", "shift"} as hex colours and the shift's L*a*b* length. `product_mask` is the
    product's alpha at the image's size (resized when it differs); alpha-255 pixels come back unchanged."""
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    alpha = None
    if product_mask is not None:
        alpha = np.asarray(product_mask.convert("L") if isinstance(product_mask, Image.Image) else product_mask)
        if alpha.shape[:2] != (h, w):
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    before = background_tone(rgb, alpha, exclude_boxes)
    shift = tone_shift(before, reference, strength=strength, max_shift=max_shift)
    info = {"tone_before": lab_to_hex(before), "reference": lab_to_hex(reference), "shift": round(float(
        np.linalg.norm(shift)), 3)}
    if not np.any(shift):
        return image.convert("RGB"), dict(info, tone_after=info["tone_before"])
    lab = _lab(rgb)
    weight = np.ones((h, w), np.float32) if alpha is None else 1.0 - alpha.astype(np.float32) / 255.0
    dither = np.random.default_rng([int(seed) % (1 << 64), 7]).random((h, w, 1), dtype=np.float32) - 0.5
    target = before + shift
    total = shift
    for _ in range(REFINE_PASSES + 1):
        res = _shifted(lab, weight, total, dither)
        if alpha is not None:
            solid = alpha == 255
            res[solid] = rgb[solid]  # the product's own pixels, exactly
        after = background_tone(res, alpha, exclude_boxes)
        residual = target - after
        if float(np.linalg.norm(residual)) <= 0.5:
            break
        # colours pushed out of the sRGB gamut clip, so the median falls short: push again by what is missing
        total = tone_shift(before, before + total + residual, max_shift=max_shift)
    info["shift"] = round(float(np.linalg.norm(total)), 3)
    return Image.fromarray(res, "RGB"), dict(info, tone_after=lab_to_hex(after))


def _shifted(lab: np.ndarray, weight: np.ndarray, shift: np.ndarray, dither: np.ndarray) -> np.ndarray:
    moved = lab + weight[..., None] * shift.astype(np.float32)[None, None, :]
    out = cv2.cvtColor(moved, cv2.COLOR_Lab2RGB) * 255.0
    out += dither
    np.add(out, 0.5, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def match_generated_scene(image: Image.Image, placement: Any, look: Any, template_id: str | None,
                          backdrop: dict | None, seed: int = 0) -> tuple[Image.Image, str]:
    """The hook after a generator returns: `image` at the placement's canvas size with its background matched to
    `reference_tone(look, template_id, backdrop)` (the look's `strength` and `max_shift`), and a note for the
    image's lineage. `placement` is the `skucore.imaging.placement.Placement` the request was built from."""
    size = placement.canvas_size
    im = image.convert("RGB")
    if im.size != size:
        im = im.resize(size, Image.Resampling.LANCZOS)
    strength = float(getattr(look, "strength", 1.0))
    max_shift = float(getattr(look, "max_shift", 20.0))
    out, info = match_background_tone(im, placement.product_mask, reference_tone(look, template_id, backdrop),
                                      strength=strength, max_shift=max_shift, seed=seed)
    return out, (f"background tone {info['tone_before']} -> {info['tone_after']} (reference {info['reference']}, "
                 f"shift {info['shift']:.1f} L*a*b*)")
