"""The backdrop of a packshot as a smooth surface, and the glossy-floor reflection under a product.

A studio sweep is not one flat colour: light falls off from the top, the floor-to-wall curve changes brightness,
lenses vignette the corners, white balance tints everything. All of these are smooth over the frame, so the
backdrop is modelled as a low-order 2-D polynomial per channel (terms up to degree 3, plus u^4, v^4, u^2 v^2 for the
vignette), fitted by least squares to pixels that look like backdrop, refitted as the inlier set grows from the
frame border inwards. Shadows and products are darker than the sweep, so the inlier test is asymmetric: a pixel
much darker than the current fit is never an inlier (the fit follows the upper envelope, not the shadow).
"""
from __future__ import annotations

import cv2
import numpy as np

from skucore.base.types import CutoutRejected

TERMS_LOW = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))
TERMS = TERMS_LOW + ((3, 0), (2, 1), (1, 2), (0, 3), (4, 0), (0, 4), (2, 2))
GRID = 48  # the polynomial is evaluated on a GRID x GRID lattice and resized (it is smooth)


def _design(u: np.ndarray, v: np.ndarray, terms) -> np.ndarray:
    return np.stack([u ** a * v ** b for a, b in terms], 1)


# the samples and the evaluation grid sit at fixed positions in normalised coordinates, so both design matrices
# are computed once
NS = 48
_us = (np.arange(NS) + 0.5) / NS * 2 - 1
_U, _V = np.meshgrid(_us, _us)
X_SAMPLES = _design(_U.ravel(), _V.ravel(), TERMS)
_ug = np.linspace(-1, 1, GRID)
_UG, _VG = np.meshgrid(_ug, _ug)
X_GRID = _design(_UG.ravel(), _VG.ravel(), TERMS)
_EDGE = ((np.abs(_U) > 1 - 2.5 / NS) | (np.abs(_V) > 1 - 2.5 / NS)).ravel()


def fit_backdrop(small: np.ndarray, grad: np.ndarray, border_px: int, smooth_max: float,
                 tol_dark: float = 5.0, tol_bright: float = 10.0, iterations: int = 2):
    """Fit the backdrop to `small` (analysis-size RGB uint8). Returns (B float32 HxWx3, the GRID x GRID lattice
    of the fit). `grad` is the grey gradient magnitude (levels per px)."""
    h, w = small.shape[:2]
    xs = np.minimum(((_us + 1) / 2 * w).astype(np.int32), w - 1)
    ys = np.minimum(((_us + 1) / 2 * h).astype(np.int32), h - 1)
    px = small[ys][:, xs].reshape(-1, 3).astype(np.float64)
    g = grad[ys][:, xs].ravel()
    smooth = g <= smooth_max
    edge = _EDGE
    lum = px.sum(1) / 3.0
    # start: the border's smooth pixels that are not much darker than the border's bright level (a product or a
    # shadow reaching the border is darker; the bright level is the sweep)
    lvl = np.percentile(lum[edge], 75)
    inl = edge & smooth & (lum >= lvl - 40)
    if inl.sum() < 12:
        inl = edge.copy()
    nt = len(TERMS_LOW)
    coef = None
    for it in range(iterations + 1):
        X = X_SAMPLES[inl, :nt]
        A = X.T @ X + 1e-6 * np.eye(nt)
        coef = np.linalg.solve(A, X.T @ px[inl])
        r = px - X_SAMPLES[:, :nt] @ coef
        new = smooth & (np.minimum(np.minimum(r[:, 0], r[:, 1]), r[:, 2]) >= -tol_dark) & \
            (np.maximum(np.maximum(r[:, 0], r[:, 1]), r[:, 2]) <= tol_bright)
        if new.sum() < 12:
            break
        inl = new
        nt = len(TERMS) if new.sum() > 4 * len(TERMS) else len(TERMS_LOW)
    lat = (X_GRID[:, :coef.shape[0]] @ coef).reshape(GRID, GRID, 3).astype(np.float32)
    B = cv2.resize(lat, (w, h), interpolation=cv2.INTER_LINEAR)
    np.clip(B, 1.0, 255.0, out=B)
    return B, lat


def backdrop_at(lat: np.ndarray, w: int, h: int) -> np.ndarray:
    """The backdrop lattice resized to w x h (full resolution, or a region's size via warp)."""
    return np.clip(cv2.resize(lat, (w, h), interpolation=cv2.INTER_LINEAR), 1.0, 255.0)


def find_reflection(small: np.ndarray, B: np.ndarray, cand: np.ndarray, min_score: float = 0.55, max_ratio: float = 0.5,
                    min_length: float = 0.05, min_overlap: float = 0.5):
    """A glossy-floor reflection: rows under a horizontal axis that repeat the rows above it, mirrored and
    fainter. `small` is the analysis photo, `B` the backdrop fit, `cand` the pixels that are not plain backdrop.
    Returns (axis row, last reflected row, mean ratio, score) or None.

    Compared are the rows' details, not their levels (each row high-passed along x): a floor shadow under a dark
    product is dark like it, but it is smooth, while a reflection repeats the product's edges, print and
    highlights. A reflection is fainter than the product (ratio below `max_ratio`), which keeps a product that is
    itself symmetric top to bottom (a ball, a box) from being cut in half."""
    rows = np.nonzero(cand.any(1))[0]
    if rows.size < 12:
        return None
    y0, y1 = int(rows[0]), int(rows[-1])
    hc = y1 - y0 + 1
    cols = np.nonzero(cand.any(0))[0]
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    f = max(1, int(round(hc / 120)))
    Dc = small[y0:y1 + 1, x0:x1].astype(np.float32) - B[y0:y1 + 1, x0:x1]
    Cc = cand[y0:y1 + 1, x0:x1].astype(np.uint8)
    if f > 1:
        size = (max(4, (x1 - x0) // f), max(4, hc // f))
        Dc = cv2.resize(Dc, size, interpolation=cv2.INTER_AREA)
        Cc = (cv2.resize(Cc * 255, size, interpolation=cv2.INTER_AREA) >= 128).astype(np.uint8)
    n = Dc.shape[0]
    # each row's level removed (falloff left over by the backdrop fit, a shadow's even darkening); what is left is
    # the row's pattern across x, which a reflection repeats mirrored and fainter
    Dm = Dc - Dc.mean(1, keepdims=True)
    e_row = (Dm * Dm).sum((1, 2))
    Cd = cv2.dilate(Cc, np.ones((3, 3), np.uint8))  # a blurred reflection is a little wider
    # the axis is near the lowest row still as strong as the product (a reflection is r^2 <= 0.2 as strong)
    e_raw = (Dc * Dc).sum((1, 2))
    strong = np.nonzero(e_raw >= 0.3 * float(np.percentile(e_raw[:max(2, int(0.6 * n))], 60)))[0]
    if strong.size == 0:
        return None
    top = int(strong[-1])
    best = None
    for ax in range(max(int(n * 0.3), top - 3), min(n - 3, top + 7)):
        K = min(ax + 1, n - 1 - ax, int(n * 0.7))
        if K < max(3, int(min_length * n)):
            continue
        ea, eb = float(e_row[ax - K + 1:ax + 1].sum()), float(e_row[ax + 1:ax + 1 + K].sum())
        if ea < 1e-6 or eb < 1e-6 or eb > max_ratio * max_ratio * ea:
            continue  # a reflection is much fainter than the product above it
        # a reflection fades over a good length of the floor; a contact shadow is gone within a few rows
        eb_rows = np.sqrt(e_row[ax + 1:ax + 1 + K])
        if float(eb_rows.sum() / max(float(eb_rows.max()), 1e-6)) < min_length * n:
            continue
        # its outline is the product's, mirrored: what is below lies inside the mirrored silhouette
        sil = Cd[ax - K + 1:ax + 1][::-1]
        low = Cc[ax + 1:ax + 1 + K]
        nb = int(low.sum())
        if nb == 0 or float((low & sil).sum()) < min_overlap * nb:
            continue
        above = Dm[ax - K + 1:ax + 1][::-1]
        below = Dm[ax + 1:ax + 1 + K]
        cos = float((above * below).sum()) / float(np.sqrt(ea * eb))
        if best is None or cos > best[3]:
            best = (ax, K, float(np.sqrt(eb / ea)), cos)
    if best is None:
        return None
    ax, K, ratio, score = best
    if score < min_score:
        return None
    s = hc / n
    return int(y0 + (ax + 1) * s) - 1, int(y0 + (ax + 1 + K) * s), ratio, float(score)


def check_border(small, bpx, min_level, max_chroma, min_frac):
    """Reject a photo whose frame border does not look like a sweep: at least `min_frac` of the border strip
    light-ish and near-neutral, and its bright part at least `min_level` in every channel."""
    strip = np.concatenate([small[:bpx].reshape(-1, 3), small[-bpx:].reshape(-1, 3),
                            small[bpx:-bpx, :bpx].reshape(-1, 3), small[bpx:-bpx, -bpx:].reshape(-1, 3)])
    s = strip.astype(np.int16)
    lo, hi = s.min(1), s.max(1)
    ok = (lo >= min_level * 0.8) & (hi - lo <= max_chroma)
    frac = float(ok.mean())
    bright = s[ok]
    level_ok = bright.size and np.percentile(bright.min(1), 75) >= min_level
    if frac >= min_frac and level_ok:
        return
    pure = float(((lo >= 245) & (hi - lo <= 6)).mean())
    if pure >= 0.02:
        raise CutoutRejected("product_fills_frame",
                             f"only {pure:.1%} of the frame border shows the white backdrop; "
                             "the product fills the frame")
    med = tuple(np.median(s, axis=0).astype(int).tolist())
    raise CutoutRejected("background_not_white",
                         f"only {frac:.1%} of the frame border looks like a white or off-white sweep (median border "
                         f"colour {med}); need at least {min_frac:.0%} light ({min_level}+) and near-neutral")
