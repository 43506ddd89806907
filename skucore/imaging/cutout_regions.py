"""Regions of a packshot at analysis size, for cutout.py: which parts of the flood from the frame border are the
plain sweep, a shadow, a hole, or product reached through a gap (steps 4 and 6 of cutout.py's algorithm)."""
from __future__ import annotations

import cv2
import numpy as np

K3 = np.ones((3, 3), np.uint8)


def roomy(m, radius, dev):
    """Components of `m` wide enough to hold a disc of `radius` and at the sweep's exact level (>= 70 % within
    3 levels): sweep seen through a loop, not a highlight stripe or a white sole."""
    if not m.any():
        return m
    mu = m.astype(np.uint8)
    n, lab = cv2.connectedComponents(mu, connectivity=4)
    inner = cv2.distanceTransform(mu, cv2.DIST_L2, 3) >= radius
    ids = np.unique(lab[inner])
    ids = ids[ids > 0]
    lut = np.zeros(n, bool)
    if ids.size:
        flat = np.bincount(lab.ravel(), weights=(dev <= 3).ravel(), minlength=n)
        area = np.bincount(lab.ravel(), minlength=n)
        lut[ids] = flat[ids] >= 0.7 * area[ids]
    return lut[lab]


def border_connected(m, seeds):
    """The 4-connected components of `m` (uint8) that hold a pixel of `seeds`."""
    n, lab = cv2.connectedComponents(m, connectivity=4)
    ids = np.unique(lab[seeds & (m > 0)])
    lut = np.zeros(n, bool)
    lut[ids[ids > 0]] = True
    return lut[lab]


def thin_dark_lines(gray, bg, t):
    """Cords, chains, antennas: dark lines a few pixels wide with the sweep on both sides (above and below, or
    left and right). A contact shadow is a dark band too, but the product sits on top of it."""
    bh = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, np.ones((5, 5), np.uint8))
    line = bh >= 25
    if not line.any():
        return line
    b = bg.astype(np.uint8)
    kv, kh = np.ones((t + 1, 1), np.uint8), np.ones((1, t + 1), np.uint8)
    below = cv2.dilate(b, kv, anchor=(0, 0)) > 0
    above = cv2.dilate(b, kv, anchor=(0, t)) > 0
    right = cv2.dilate(b, kh, anchor=(0, 0)) > 0
    left = cv2.dilate(b, kh, anchor=(t, 0)) > 0
    return line & ~bg & ((above & below) | (left & right))


def enclosed_smooth(shadow_reg, core_bg, dcore, min_depth, ratio=1.6, passable=None):
    """Pixels of a shadow-like region that the plain sweep reaches only the long way round: a smooth, light
    product joined to its own shadow through its base (a white mug body above its shadow). Inside a real shadow
    the path through the shadow to the sweep is about as short as the straight line; inside such a product the
    straight line crosses the product's outline to the sweep beside it, while the path through the region must
    go down through the base. Geodesic distance by repeated 3 x 3 dilation at half the analysis size."""
    if not shadow_reg.any():
        return shadow_reg
    ys, xs = np.nonzero(shadow_reg)
    H, W = shadow_reg.shape
    # a margin of 4 px: at half size the sweep just outside the region must still be there to start from
    y0, y1, x0, x1 = max(0, ys.min() - 4), min(H, ys.max() + 5), max(0, xs.min() - 4), min(W, xs.max() + 5)
    reg = shadow_reg[y0:y1, x0:x1]
    h2, w2 = max(2, (y1 - y0) // 2), max(2, (x1 - x0) // 2)
    allowed = cv2.resize(reg.astype(np.uint8), (w2, h2), interpolation=cv2.INTER_NEAREST)
    seed = cv2.resize(core_bg[y0:y1, x0:x1].astype(np.uint8), (w2, h2), interpolation=cv2.INTER_NEAREST)
    geo = np.zeros((h2, w2), np.float32)  # not reached at this size: no evidence either way
    reached = seed.copy()
    allowed = cv2.bitwise_or(allowed, seed)
    if passable is not None:
        allowed = cv2.bitwise_or(allowed, cv2.resize(passable[y0:y1, x0:x1].astype(np.uint8), (w2, h2),
                                                     interpolation=cv2.INTER_NEAREST))
    limit = int(min(h2, w2, 0.15 * max(H, W)) + 4)
    for i in range(1, limit):
        nxt = cv2.bitwise_and(cv2.dilate(reached, K3), allowed)
        new = cv2.subtract(nxt, reached)
        if not new.any():
            break
        geo[new > 0] = 2.0 * i
        reached = nxt
    else:  # still spreading at the limit: what is left of the seed's components is at least that far
        geo[border_connected(allowed, seed > 0) & (reached == 0)] = 2.0 * limit
    geo_full = cv2.resize(geo, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    far = (geo_full > ratio * dcore[y0:y1, x0:x1] + min_depth) & reg
    out = np.zeros_like(shadow_reg)
    out[y0:y1, x0:x1] = far
    return out


def pinched_product(bg, edge, dev, neck):
    """Parts of the background flood that reach the frame only through necks narrower than `neck` px and do not
    look like the plain sweep (less than 70 % within 3 levels of it): the inside of a white garment reached
    through a gap in its outline, its light fabric at the sweep's level in places."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * neck + 1, 2 * neck + 1))
    opened = cv2.morphologyEx(bg.astype(np.uint8), cv2.MORPH_OPEN, k)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=4)
    if n <= 2:
        return np.zeros_like(bg)
    on_edge = np.zeros(n, bool)
    on_edge[np.unique(lab[edge])] = True
    flat = np.bincount(lab.ravel(), weights=(dev <= 3).ravel(), minlength=n)
    lut = ~on_edge & (flat < 0.7 * stats[:, cv2.CC_STAT_AREA])
    lut[0] = False
    if not lut.any():
        return np.zeros_like(bg)
    # the pocket as it was before the opening shaved its outline
    pocket = cv2.dilate(lut[lab].astype(np.uint8), k) > 0
    outside = cv2.dilate((on_edge[lab] & (lab > 0)).astype(np.uint8), k) > 0
    return bg & pocket & ~outside


def accept_shadows(bg, core, min_contact):
    """A shadow-like region stays background only if a good part of its outline fades into the plain sweep (or
    the frame border); a smooth patch of a light product reached through a gap in its outline touches the sweep
    only at that gap."""
    core_bg = (bg & core).astype(np.uint8)
    ext = (bg & ~core).astype(np.uint8)
    if not ext.any():
        return bg
    n, lab = cv2.connectedComponents(ext, connectivity=4)
    perim = (ext > 0) & (cv2.erode(ext, K3) == 0)
    touch = perim & (cv2.dilate(core_bg, K3) > 0)
    edge = np.zeros_like(perim)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    touch |= perim & edge
    pc = np.bincount(lab[perim], minlength=n).astype(np.float64)
    tc = np.bincount(lab[touch], minlength=n).astype(np.float64)
    ok = tc >= min_contact * np.maximum(pc, 1)
    ok[0] = True
    return bg & ok[lab]


def sweep_holes(flat, bg, dev, min_fraction, ring_contrast, max_wall):
    """Enclosed regions that show the sweep (a mug handle's loop): flat, at the sweep's level, roomy, ringed by
    an edge, behind a thin product wall. A printed white logo is a few levels off or far inside the product; a
    highlight stripe on glass is narrow."""
    sh, sw = bg.shape
    side = max(sw, sh)
    encl = (flat & ~bg).astype(np.uint8)
    n_h, hl, stats, _ = cv2.connectedComponentsWithStats(encl, connectivity=8)
    if n_h <= 1:
        return None
    big = np.nonzero(stats[1:, cv2.CC_STAT_AREA] >= max(12, int(min_fraction * sw * sh)))[0] + 1
    if not big.size:
        return None
    wall = None
    prod_area = float((~bg).sum())
    out = np.zeros((sh, sw), bool)
    k9 = np.ones((9, 9), np.uint8)
    for i in big:
        x, y, bw, bh = stats[i, :4]
        if stats[i, cv2.CC_STAT_AREA] > 0.3 * prod_area:  # most of the product: a white body, not its loop
            continue
        x0, y0, x1, y1 = max(0, x - 5), max(0, y - 5), min(sw, x + bw + 5), min(sh, y + bh + 5)
        reg = hl[y0:y1, x0:x1] == i
        regu = reg.astype(np.uint8)
        if cv2.distanceTransform(regu, cv2.DIST_L2, 3).max() < 0.012 * side:
            continue
        if float((dev[y0:y1, x0:x1][reg] <= 3).mean()) < 0.7:
            continue
        ring = (cv2.dilate(regu, k9) > 0) & ~reg & ~bg[y0:y1, x0:x1]
        if not ring.any() or float((dev[y0:y1, x0:x1][ring] >= ring_contrast).mean()) < 0.1:
            continue
        if wall is None:  # the product wall between the hole and the outside sweep: thin for a handle
            wall = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 3)
        if float(wall[y0:y1, x0:x1][ring].min()) > max_wall * side:
            continue
        out[y0:y1, x0:x1] |= reg
    return out if out.any() else None
