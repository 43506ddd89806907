"""Full-resolution edges and colours of a cutout (step 4 and 5 of cutout.py's algorithm).

Only a band of a few pixels around the upsampled analysis mask is looked at: alpha there is the pixel's distance
from the LOCAL backdrop (the shadow under the product included, read from nearby background pixels) over the
product's own distance at that edge; colours of partly transparent pixels are solved from I = aF + (1 - a)B.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def _cmax(img):
    return cv2.max(cv2.max(img[..., 0], img[..., 1]), img[..., 2])


def _rowmax3(x):
    """max over the 3 columns of an N x 3 array (numpy's reduction over a short axis is slow)."""
    return np.maximum(np.maximum(x[:, 0], x[:, 1]), x[:, 2])


def refine(rgb, prod, bg, small, B_small, dev, scale, r=None, min_edge_contrast=24.0):
    """rgb: full photo uint8; prod/bg: analysis-size uint8/bool masks; small: analysis photo; B_small: the backdrop
    model at analysis size (float32). Returns (rgba uint8, mask uint8) at full size."""
    h, w = rgb.shape[:2]
    sh, sw = prod.shape
    k3 = np.ones((3, 3), np.uint8)
    # local backdrop (shadows included) and the product's nearby colour, at half the analysis resolution
    qw, qh = max(4, sw // 2), max(4, sh // 2)
    smallq = cv2.resize(small, (qw, qh), interpolation=cv2.INTER_AREA).astype(np.float32)
    Bq = cv2.resize(B_small, (qw, qh), interpolation=cv2.INTER_AREA)
    bgq = (cv2.resize(bg.astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA) > 0.99).astype(np.float32)
    fgq = cv2.resize(cv2.erode(prod, k3).astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA)
    fgq = (fgq > 0.99).astype(np.float32)
    wb = cv2.boxFilter(bgq, -1, (5, 5), normalize=False)
    b_local = cv2.boxFilter(smallq * bgq[..., None], -1, (5, 5), normalize=False) / np.maximum(wb, 1e-3)[..., None]
    np.copyto(b_local, Bq, where=(wb <= 0.5)[..., None])  # no background nearby: the sweep's model
    wf = cv2.boxFilter(fgq, -1, (7, 7), normalize=False)
    f_local = cv2.boxFilter(smallq * fgq[..., None], -1, (7, 7), normalize=False) / np.maximum(wf, 1e-3)[..., None]
    qs = scale * qw / sw

    r = r if r is not None else max(2, int(math.ceil(1.75 / scale)))
    pys, pxs = np.nonzero(prod)
    m = int(math.ceil(1 / scale)) + 4 * r + 2
    X0, X1 = max(0, int(pxs.min() / scale) - m), min(w, int((pxs.max() + 1) / scale) + m)
    Y0, Y1 = max(0, int(pys.min() / scale) - m), min(h, int((pys.max() + 1) / scale) + m)
    roi = rgb[Y0:Y1, X0:X1]
    rh, rw = roi.shape[:2]
    fx, fy = sw / w, sh / h
    M = np.array([[fx, 0, (X0 + 0.5) * fx - 0.5], [0, fy, (Y0 + 0.5) * fy - 0.5]], np.float64)
    if scale < 1.0:
        soft = cv2.warpAffine(prod * 255, M, (rw, rh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    else:
        soft = (prod * 255)[Y0:Y1, X0:X1]
    hard = cv2.threshold(soft, 127, 1, cv2.THRESH_BINARY)[1]
    kb = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    dil = cv2.dilate(hard, kb)
    ero = cv2.erode(hard, kb)
    band = cv2.subtract(dil, ero)
    nz = cv2.findNonZero(band)
    nz = np.zeros((0, 2), np.int32) if nz is None else nz.reshape(-1, 2)
    xs, ys = nz[:, 0], nz[:, 1]
    gy_, gx_ = ys + Y0, xs + X0
    qy = np.minimum((gy_ * qs).astype(np.int32), qh - 1)
    qx = np.minimum((gx_ * qs).astype(np.int32), qw - 1)
    qi = qy * qw + qx  # flat indices: np.take is much faster than 2-D fancy indexing
    gi = gy_ * w + gx_  # flat indices into the full photo (contiguous: no copy of the region)
    ipx = rgb.reshape(-1, 3).take(gi, axis=0).astype(np.float32)
    sy = np.minimum((gy_ * scale).astype(np.int32), sh - 1)
    sx = np.minimum((gx_ * scale).astype(np.int32), sw - 1)
    si = sy * sw + sx
    # the backdrop right next to the edge, at analysis size (about 15 px of the photo), where there is some: a
    # contact shadow darkens the floor within a few pixels of the product, and a backdrop averaged wider is
    # lighter than the shadow, which would then read as partly product (a grey fringe at the foot)
    bg_near = cv2.erode(bg.astype(np.uint8), k3).astype(np.float32)
    wn = cv2.boxFilter(bg_near, -1, (5, 5), normalize=False).ravel().take(si)
    b_near = cv2.boxFilter(small.astype(np.float32) * bg_near[..., None], -1, (5, 5), normalize=False)
    bl = b_local.reshape(-1, 3).take(qi, axis=0)
    near = wn > 2.5
    bl[near] = b_near.reshape(-1, 3).take(si[near], axis=0) / wn[near, None]
    bm = Bq.reshape(-1, 3).take(qi, axis=0)  # the sweep without shadows
    dl = _rowmax3(np.abs(ipx - bl))  # distance from the local backdrop
    dB = _rowmax3(np.abs(bl - bm))  # local shadow depth
    # the product's own distance from its backdrop near each band pixel (its colour at this edge): the largest
    # distance among band pixels around it (full resolution: thin cords have no interior at analysis size) or
    # among the product's analysis pixels just inside the band
    kr = 2 * max(1, int(round(2 * r * scale))) + 1
    dprod = cv2.dilate(np.where(cv2.erode(prod, k3) > 0, dev, 0).astype(np.float32), np.ones((kr, kr), np.uint8))
    dband = np.zeros((rh, rw), np.uint8)
    ri = ys * rw + xs
    dband.ravel()[ri] = np.clip(dl + dB, 0, 255).astype(np.uint8)
    kb2 = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    dmax = np.maximum(dprod.ravel().take(sy * sw + sx), cv2.dilate(dband, kb2).ravel().take(ri))
    denom = dmax - dB
    conf = denom >= min_edge_contrast
    a_col = np.clip(dl / np.maximum(denom, 1.0), 0.0, 1.0)
    a_soft = soft.ravel().take(ri).astype(np.float32) / 255.0
    a_band = np.where(conf, a_col, a_soft)
    # colour alpha only where the outside reaches without crossing a confident product pixel: a light interior
    # behind a darker outline stays opaque
    # colour alpha inside the analysis outline only near it: deeper in, a light interior behind a darker
    # outline (a white tee's body) stays opaque
    inner_fg = a_soft >= 0.75
    a_band = np.where(inner_fg, np.maximum(a_band, a_soft), a_band)
    a_band = np.where(inner_fg & conf, 1.0, a_band)
    a_band[a_band < 0.04] = 0.0
    a_band[a_band > 0.97] = 1.0
    mb = np.clip(a_band * 255.0 + 0.5, 0, 255).astype(np.uint8)

    mask = np.zeros((h, w), np.uint8)
    mask_roi = mask[Y0:Y1, X0:X1]
    cv2.threshold(ero, 0, 255, cv2.THRESH_BINARY, dst=mask_roi)
    mask.ravel()[gi] = mb
    # an edge's blur spans a few pixels; partial alpha further out than that from any near-opaque pixel is a
    # shadow fringe (a dark contact shadow under a dark product reads as a half-covered edge by colour alone)
    reach = max(3, int(round(3.0 * max(h, w) / 1200.0)))
    near_opaque = cv2.dilate(cv2.threshold(mask_roi, 229, 255, cv2.THRESH_BINARY)[1],
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    stray = (mb > 0) & (near_opaque.ravel().take(ri) == 0)
    if stray.any():
        mb[stray] = 0
        mask.ravel()[gi[stray]] = 0

    # colours: alpha-255 pixels keep the photo's values; partial pixels are solved and pulled towards the
    # product's nearby colour where alpha is small; alpha-0 band pixels carry that colour (no white when resampled)
    rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    cv2.insertChannel(mask, rgba, 3)
    part = (mb > 0) & (mb < 255)
    # alpha-0 band pixels next to the product carry its colour too
    zero = (mb == 0) & (wf.ravel().take(qi) > 0.5)
    upd = np.nonzero(part | zero)[0]
    if upd.size:
        fl = f_local.reshape(-1, 3).take(qi[upd], axis=0)
        has_fl = wf.ravel().take(qi[upd]) > 0.5
        a = mb[upd].astype(np.float32) / 255.0
        b_u, i_u = bl[upd], ipx[upd]
        f_est = np.clip(b_u + (i_u - b_u) / np.maximum(a, 0.05)[:, None], 0, 255)
        wgt = np.clip((a - 0.1) / 0.4, 0.0, 1.0)[:, None]
        fl_filled = np.where(has_fl[:, None], fl, f_est)
        col = np.where(part[upd][:, None], wgt * f_est + (1 - wgt) * fl_filled, fl_filled)
        c8 = np.clip(col + 0.5, 0, 255).astype(np.uint8)
        flat = rgba.reshape(-1)
        base = gi[upd] * 4
        for ch in range(3):
            flat[base + ch] = c8[:, ch]
    return rgba, mask
