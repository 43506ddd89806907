"""An unkind ground truth for product cutouts: procedural products with TRUE alpha, photographed on sweeps
that are not flat white, with the shadows and reflections real packshots carry. Deterministic by seed.

    from tests.helpers.cutout_groundtruth import make_set, make_case, iou, boundary_f
    for case in make_set("white_sweep", n=40, seed=0):
        case.name, case.photo (PIL RGB, JPEG-decoded), case.alpha (uint8 HxW, the product only),
        case.shadow (uint8 HxW, opacity of the floor shadow), case.meta (what was drawn)

Sets:
- `white_sweep`: 1200 x 1200, a white backdrop (mostly 255, some 248-254), soft floor shadows (blurred ellipses,
  cast shadows: the silhouette squashed and sheared onto the floor, drop shadows and edge fringes for flat lays),
  JPEG 80-95. Meant to resemble the kind of photo in the team's held-out white set.
- `falloff_reflection`: 800-2000 px on the long side, any aspect 3:4..4:3: off-white sweeps (215-248) with light
  falloff (brighter top, a floor/wall horizon), a vignette, colour casts of 1-5 % per channel, a glossy-floor
  reflection (the product mirrored under its base, fading), hard contact shadows, sometimes also a soft shadow,
  JPEG 75-95.
- `varied`: 600-3000 px, every shadow model, backdrop and product, model shots cropped at the frame.

Shadows and reflections are background in `alpha`. tests/helpers/cutout_gt_cache.py keeps drawn cases on disk.
All products are drawn here (cutout_gt_drawing.py, cutout_gt_products.py): no third-party images, mattes or data
sets, so there is no licence to keep.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from tests.helpers.cutout_gt_products import CATALOG, FLAT_LAY

SETS = ("white_sweep", "falloff_reflection", "varied")
STANDING_KINDS = [k for k in CATALOG if k not in FLAT_LAY and k != "model_shot"]


@dataclass
class Case:
    name: str
    photo: Image.Image
    alpha: np.ndarray
    shadow: np.ndarray
    meta: dict = field(default_factory=dict)


def _place(prod, W, H, rng, kind):
    """Put the product's box into the frame: its alpha and colour at frame size, and the base row."""
    ph0, pw0 = prod.alpha.shape
    A = np.zeros((H, W), np.float32)
    C = np.zeros((H, W, 3), np.float32)
    if prod.crop_bottom:
        y0 = int(H - ph0 * rng.uniform(0.75, 0.95))
        x0 = int((W - pw0) / 2 + rng.uniform(-0.1, 0.1) * W)
    elif kind in FLAT_LAY:
        x0 = int((W - pw0) / 2 + rng.uniform(-0.04, 0.04) * W)
        y0 = int((H - ph0) / 2 + rng.uniform(-0.04, 0.04) * H)
    else:
        x0 = int((W - pw0) / 2 + rng.uniform(-0.06, 0.06) * W)
        base = H * rng.uniform(0.72, 0.9)
        y0 = int(min(base, H - 2) - ph0)
    ys, xs = slice(max(0, y0), min(H, y0 + ph0)), slice(max(0, x0), min(W, x0 + pw0))
    py, px = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
    A[ys, xs] = prod.alpha[py, px]
    C[ys, xs] = prod.color[py, px]
    return A, C


def _product(kind, W, H, rng, fill):
    fn, aspect = CATALOG[kind]
    aspect *= rng.uniform(0.9, 1.1)
    if kind == "model_shot":
        ph = H * rng.uniform(0.95, 1.15)
        pw = min(W * 0.98, ph * aspect)
    else:
        ph = H * fill
        pw = ph * aspect
        if pw > W * 0.85:
            pw = W * 0.85
            ph = pw / aspect
    return fn(max(16, int(pw)), max(16, int(ph)), rng)


def _contact(A):
    """Rows of the product's base per column (or -1) and the lowest base row."""
    on = A > 0.5
    if not on.any():
        return None, None
    H = A.shape[0]
    low = np.where(on.any(0), H - 1 - np.argmax(on[::-1], 0), -1)
    return low, int(low.max())


def soft_ellipse(A, rng, W, H):
    low, yb = _contact(A)
    cols = np.nonzero(low >= 0)[0]
    x0, x1 = cols.min(), cols.max()
    hw = (x1 - x0) / 2 * rng.uniform(0.6, 1.3)
    cx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * hw
    cy = yb + rng.uniform(-0.02, 0.05) * hw
    s = np.zeros((H, W), np.float32)
    cv2.ellipse(s, (int(cx), int(cy)), (max(2, int(hw)), max(2, int(hw * rng.uniform(0.06, 0.25)))), 0, 0, 360, 1.0,
                -1, cv2.LINE_AA)
    s = cv2.GaussianBlur(s, (0, 0), max(2.0, hw * rng.uniform(0.06, 0.3)))
    return s / max(1e-6, float(s.max())) * rng.uniform(0.15, 0.55)


def cast_shadow(A, rng, W, H):
    """The silhouette squashed onto the floor and sheared away from the light (the mug's shadow)."""
    low, yb = _contact(A)
    f = rng.uniform(0.06, 0.3)
    shx = rng.uniform(0.4, 2.0) * (1 if rng.random() < 0.5 else -1)
    M = np.float32([[1, -shx * f, shx * f * yb], [0, f, yb * (1 - f) + rng.uniform(0, 0.01) * H]])
    # maps a product pixel (x, y) at height t = yb - y to (x + shx * f * t, yb - f * t)
    s = cv2.warpAffine(A, M, (W, H), flags=cv2.INTER_LINEAR)
    s = cv2.GaussianBlur(s, (0, 0), max(1.5, H * rng.uniform(0.004, 0.03)))
    return np.clip(s, 0, 1) * rng.uniform(0.2, 0.55)


def drop_shadow(A, rng, W, H):
    """A flat lay's shadow: the silhouette offset and blurred, plus a tight fringe along the edges."""
    dx, dy = rng.uniform(-0.012, 0.012) * W, rng.uniform(0.0, 0.02) * H
    s = cv2.warpAffine(A, np.float32([[1, 0, dx], [0, 1, dy]]), (W, H))
    s = cv2.GaussianBlur(s, (0, 0), max(1.5, H * rng.uniform(0.004, 0.03))) * rng.uniform(0.1, 0.4)
    fr = cv2.GaussianBlur(A, (0, 0), rng.uniform(1.5, 5.0) * H / 1200) * rng.uniform(0.05, 0.3)
    return np.clip(s + fr, 0, 1)


def contact_shadow(A, rng, W, H):
    """A hard contact shadow: a narrow dark band just under the base, fading within a few pixels."""
    low, yb = _contact(A)
    hp = float((A > 0.5).any(1).sum())
    on = low >= yb - max(2, 0.02 * hp)
    hc = max(1.5, hp * rng.uniform(0.004, 0.02))
    s = np.zeros((H, W), np.float32)
    yy = np.arange(H, dtype=np.float32)[:, None]
    base = np.where(on, low, -10 ** 6).astype(np.float32)[None, :]
    t = yy - base
    s = np.where((t >= -1) & on[None, :], np.exp(-np.clip(t, 0, None) / hc), 0).astype(np.float32)
    s = cv2.GaussianBlur(s, (0, 0), rng.uniform(0.6, 2.0) * max(1.0, H / 1200))
    return s * rng.uniform(0.45, 0.85)


def reflection(A, C, rng, H, W):
    """Glossy floor: the product mirrored about its base, fading with the distance from it; (alpha, colour)."""
    low, yb = _contact(A)
    hp = float((A > 0.5).any(1).sum())
    gap = int(rng.integers(0, 3))
    k = np.arange(H, dtype=np.float32)
    src = np.clip(2 * yb + 1 + gap - k, 0, H - 1).astype(np.int32)  # row yb + 1 + gap + j mirrors row yb - j
    valid = (k > yb + gap)[:, None]
    L = hp * rng.uniform(0.2, 0.7)
    fade = (np.clip(1 - (k - yb) / L, 0, 1) ** rng.uniform(1.0, 2.0))[:, None]
    r0 = rng.uniform(0.12, 0.45)
    ra = np.where(valid, A[src] * fade * r0, 0).astype(np.float32)
    rc = C[src]
    sig = rng.uniform(0, 2.5) * H / 1200
    if sig > 0.5:
        ra = cv2.GaussianBlur(ra, (0, 0), sig)
        rc = cv2.GaussianBlur(rc, (0, 0), sig)
    return ra, rc


def backdrop(W, H, rng, level, falloff, vignette, horizon):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    v = (yy / H).astype(np.float32)
    bg = np.full((H, W), level, np.float32)
    if falloff:
        bg += falloff * (1 - v) ** rng.uniform(0.7, 2.0) - falloff * 0.3
    if horizon:
        yh = rng.uniform(0.25, 0.6)
        bg += horizon * (1 / (1 + np.exp(-(v - yh) / rng.uniform(0.03, 0.1))) - 0.5)
    if vignette:
        r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        bg *= 1 - vignette * np.clip(r2 / 2, 0, 1) ** rng.uniform(1.0, 2.0)
    return np.clip(bg, 0, 255)


def make_case(set_name: str, seed: int, kind: str | None = None, size: int | None = None) -> Case:
    """One case of a named set; `kind` forces the product, `size` the long side (tests use small photos)."""
    rng = np.random.default_rng([SETS.index(set_name), seed])
    if set_name == "white_sweep":
        W = H = 1200
    else:
        long = int(rng.integers(800, 2001)) if set_name == "falloff_reflection" else int(rng.integers(600, 3001))
        asp = rng.uniform(0.75, 1.333)
        W, H = (long, int(long / asp)) if asp >= 1 else (int(long * asp), long)
    if size:
        W, H = (size, max(64, int(size * H / W))) if W >= H else (max(64, int(size * W / H)), size)
    kinds = list(CATALOG) if set_name == "varied" else [k for k in CATALOG if k != "model_shot"]
    if set_name == "falloff_reflection":  # reflections need a base; keep a few flat lays for the sweeps
        kinds = STANDING_KINDS + ["tee", "tee_white"]
    kind = kind or kinds[int(rng.integers(len(kinds)))]
    prod = _product(kind, W, H, rng, rng.uniform(0.45, 0.8))
    A, C = _place(prod, W, H, rng, kind)
    flat = kind in FLAT_LAY
    meta = {"kind": kind, "size": (W, H)}

    if set_name == "white_sweep":
        level, falloff, vig, hor = (255.0 if rng.random() < 0.8 else rng.uniform(248, 254.5)), 0, 0, 0
    elif set_name == "falloff_reflection":
        level, falloff, vig, hor = rng.uniform(215, 248), rng.uniform(0, 25), rng.uniform(0.03, 0.18), \
            rng.uniform(-12, 12) * (rng.random() < 0.5)
    else:
        r = rng.random()
        level = 255.0 if r < 0.4 else rng.uniform(215, 254)
        falloff, vig, hor = (rng.uniform(0, 20), rng.uniform(0, 0.15), rng.uniform(-10, 10)) if r >= 0.4 else (0, 0, 0)
    bg = backdrop(W, H, rng, level, falloff, vig, hor)
    meta.update(level=round(float(level), 1), falloff=round(float(falloff), 1), vignette=round(float(vig), 3))

    shadow = np.zeros((H, W), np.float32)
    models = []
    if prod.floor:
        if set_name == "white_sweep" or (set_name == "varied" and rng.random() < 0.7):
            if flat:
                models.append("drop")
            else:
                models.append("ellipse" if rng.random() < 0.55 else "cast")
        if set_name == "falloff_reflection" and not flat and rng.random() < 0.85:
            models.append("contact")
        if set_name == "falloff_reflection" and (flat or rng.random() < 0.4):
            models.append("drop" if flat else ("ellipse" if rng.random() < 0.5 else "cast"))
        if set_name == "varied" and not flat and rng.random() < 0.4:
            models.append("contact")
    fn = {"ellipse": soft_ellipse, "cast": cast_shadow, "drop": drop_shadow, "contact": contact_shadow}
    for m in models:
        s = fn[m](A, rng, W, H)
        shadow = 1 - (1 - shadow) * (1 - s)
    meta["shadows"] = models
    floor = bg[..., None] * (1 - shadow)[..., None]
    floor = np.repeat(floor, 3, axis=2) if floor.shape[2] == 1 else floor
    if prod.floor and not flat and ((set_name == "falloff_reflection" and rng.random() < 0.7)
                                    or (set_name == "varied" and rng.random() < 0.25)):
        ra, rc = reflection(A, C, rng, H, W)
        floor = floor * (1 - ra[..., None]) + rc * ra[..., None]
        meta["reflection"] = True
    img = C * A[..., None] + floor * (1 - A[..., None])
    if set_name != "white_sweep":
        cast = 1 + rng.uniform(-0.05, 0.05, 3) * (rng.random() < 0.8)
        img = img * cast[None, None, :].astype(np.float32)
        meta["cast"] = [round(float(c), 3) for c in cast]
    img += rng.normal(0, rng.uniform(0.3, 1.5), img.shape).astype(np.float32)
    q = int(rng.integers(80, 96)) if set_name == "white_sweep" else int(rng.integers(75, 96))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB").save(buf, "JPEG", quality=q)
    photo = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    meta["jpeg"] = q
    alpha = np.clip(A * 255 + 0.5, 0, 255).astype(np.uint8)
    sh = np.clip(shadow * (1 - A) * 255 + 0.5, 0, 255).astype(np.uint8)
    return Case(f"{set_name}/{kind}#{seed}", photo, alpha, sh, meta)


def make_set(set_name: str, n: int = 40, seed: int = 0):
    """`n` cases of a named set, generated lazily (big photos are not all held in memory)."""
    for i in range(n):
        yield make_case(set_name, seed * 100003 + i)


# --- metrics --------------------------------------------------------------------------------------------------------

def iou(mask: np.ndarray, true_alpha: np.ndarray) -> float:
    """IoU of mask > 127 against true_alpha > 127."""
    a, b = mask > 127, true_alpha > 127
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def boundary_f(mask: np.ndarray, true_alpha: np.ndarray, tol: float | None = None) -> float:
    """Boundary F-score: the boundaries of mask > 127 and true_alpha > 127 (pixels of the region whose
    4-neighbourhood leaves it), precision = share of predicted boundary pixels within `tol` px of the true
    boundary, recall = the converse, F = 2PR / (P + R). `tol` defaults to 2 px per 1200 px of the long side
    (min 2), so the figure means the same at every size."""
    h, w = true_alpha.shape
    tol = tol if tol is not None else max(2.0, 2.0 * max(h, w) / 1200)

    def edge(m):
        m = m.astype(np.uint8)
        return (m > 0) & (cv2.erode(m, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
                                    borderType=cv2.BORDER_REPLICATE) == 0)

    pe, te = edge(mask > 127), edge(true_alpha > 127)
    if not pe.any() or not te.any():
        return float(pe.any() == te.any())
    dt_t = cv2.distanceTransform((~te).astype(np.uint8), cv2.DIST_L2, 5)
    dt_p = cv2.distanceTransform((~pe).astype(np.uint8), cv2.DIST_L2, 5)
    p = float((dt_t[pe] <= tol).mean())
    r = float((dt_p[te] <= tol).mean())
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)
