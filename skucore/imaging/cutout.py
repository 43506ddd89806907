"""Product cutouts from white-background photos: `cut_out(image) -> Cutout`.

Algorithm (no learned model; about 30-60 ms for a 1200 x 1200 photo on one core):

1. Source alpha. An RGBA (or LA / P-with-transparency) image whose alpha is really used (at least 0.1 % of the
   pixels below 255) is passed through: its alpha is the mask, its pixels are untouched, flag "alpha_from_source".
2. Background check (full resolution, the outermost rows and columns). A border pixel is "near-white" when its
   darkest channel >= `white_threshold` and its chroma (max - min channel) <= `max_white_chroma`. The backdrop
   colour B is the median of the near-white border pixels. Fewer than `min_border_white` of the border near-white:
   rejected, `background_not_white` (or `product_fills_frame` when the only background visible is a few scraps of
   pure white at the border). An off-white backdrop (B darker than 245) is accepted and flagged "background_off_white".
3. Segmentation at reduced resolution (longest side `max_side_for_analysis`), with d = max over channels of
   |I - B| (the darkest channel's distance from the backdrop, linear in alpha for a product composited on white)
   and grad = Sobel gradient magnitude of the grey image, max-filtered over (2 * `shadow_edge_guard` + 1)^2:
   - backdrop core: d <= `bg_tolerance` AND grad <= `core_max_gradient`. A lit sweep is flat; a white garment's
     highlights reach the backdrop's level but carry fabric grain, so they are not core (white on white);
   - shadow-like: not core, chroma <= `shadow_max_chroma`, grey level >= `shadow_min_lightness`, darker than B,
     and smooth (grad <= `shadow_max_gradient`): floor shadows are grey, lighter than a dark product and have no
     edges; a garment's outline, seams and folds are edges, and a black product is far too dark;
   - background = the 4-connected components of (core | shadow-like) that hold a core pixel on the frame border.
     Everything else is product, so white regions enclosed by the product (a white logo on a black mug, white print
     on a tee) stay product, and a product at the frame edge is not background (neither core nor smooth grey
     connected to the backdrop);
   - shadow acceptance (`_accept_shadows`): a connected shadow-like region stays background only if at least
     `shadow_min_contact` of its outline fades into the core (or the frame border). A smooth patch of a
     near-white product reached through a gap in its outline touches the backdrop only at the gap, so it stays
     product; if a real shadow and such a patch are joined, both stay product (shadow left in is the lesser
     error). `_limit_shadow_depth` then caps a shadow's geodesic depth at `shadow_max_depth` of the analysis size;
   - enclosed holes (the rule for handles): an enclosed core/shadow-like region becomes background only when it
     (a) is at least `hole_min_fraction` of the frame, (b) looks like the sweep: >= 70 % of it within 2 levels of
     B, (c) is ringed by an edge: >= 10 % of a 4 px ring has d >= `hole_ring_contrast`, and (d) the product wall
     between it and the outer background is thin (<= `hole_max_wall` of the analysis size): a handle, a strap, a
     loop. So a mug handle's or a tote handle's hole becomes transparent, while a printed white logo (a few levels
     off the sweep, or far inside the product: a tee's chest print) and a white tee's highlights stay opaque.
     Known misses: a print of exactly the sweep's white, flat, close to the product's edge, is taken for a hole;
     a hole ringed by a near-white product (a white mug's handle) stays product when the ring's contrast is low.
   - specks of product smaller than `min_speck_fraction` of the frame are dropped; no opening/closing is applied
     to the mask, so straps, cords and handles survive ("thin_parts" flags their presence: what a 5 x 5 opening
     at analysis scale would erase).
4. Edge refinement at full resolution, in a band of a few pixels around the upsampled mask: alpha = d / d_fg,
   where d is measured against the local backdrop colour (the shadow under a product included) and d_fg is the
   local maximum of the product's d within twice the band (the product's colour at that edge). Only pixels that
   the outside can reach without crossing a confidently-product pixel (alpha >= 0.5) take this colour alpha, so a
   garment's light interior behind its darker outline stays opaque. Where the product barely differs from the
   backdrop (d_fg - shadow depth < `min_edge_contrast`: white on white) the alpha is the smoothly upsampled mask.
5. Colours: alpha-255 pixels keep the photo's exact values. For 0 < alpha < 255 the foreground colour is solved
   from I = aF + (1 - a)B (B the local backdrop), clamped, and blended towards the product's nearby colour where
   alpha is small; band pixels with alpha 0 carry that nearby colour too, so resampling never pulls white in.

`Cutout.area_ratio` is the fraction of the frame with mask > 127; `bbox` bounds mask > 0 (exclusive end);
`edges_touched` names the sides ("left", "top", "right", "bottom") with at least 2 pixels of mask > 127 on them.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from skucore.base.types import Cutout, CutoutRejected

__all__ = ["cut_out", "Cutout", "CutoutRejected"]

_SIDES = ("left", "top", "right", "bottom")


def cut_out(
    image: Image.Image,
    *,
    white_threshold: int = 220,
    max_white_chroma: int = 20,
    min_border_white: float = 0.10,
    max_side_for_analysis: int = 600,
    bg_tolerance: int = 6,
    core_max_gradient: float = 1.0,
    shadow_max_chroma: int = 12,
    shadow_min_lightness: int = 90,
    shadow_max_gradient: float = 4.0,
    shadow_edge_guard: int = 1,
    shadow_max_depth: float = 0.10,
    shadow_min_contact: float = 0.25,
    hole_max_wall: float = 0.08,
    hole_min_fraction: float = 2e-4,
    hole_ring_contrast: float = 15.0,
    min_speck_fraction: float = 5e-5,
    min_product_fraction: float = 5e-4,
    max_product_fraction: float = 0.985,
    min_edge_contrast: float = 24.0,
    edge_band_px: int | None = None,
    use_source_alpha: bool = True,
) -> Cutout:
    """Cut the product out of a white-background photo (PIL RGB/RGBA/L/P). See the module docstring.

    Raises CutoutRejected with reason `background_not_white`, `product_fills_frame` or `empty_product`."""
    if not isinstance(image, Image.Image):
        raise TypeError("cut_out expects a PIL.Image.Image")
    if use_source_alpha:
        src = _source_alpha(image)
        if src is not None:
            return _from_source_alpha(src, min_product_fraction)

    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        raise CutoutRejected("empty_product", f"image too small to cut out ({w}x{h})")
    flags: list[str] = []

    # -- 2. the backdrop ------------------------------------------------------------------------------------------
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]]).astype(np.int16)
    bmin, bmax = border.min(1), border.max(1)
    white = (bmin >= white_threshold) & (bmax - bmin <= max_white_chroma)
    frac_white = float(white.mean())
    if frac_white < min_border_white:
        pure = float(((bmin >= 245) & (bmax - bmin <= 6)).mean())
        if pure >= 0.02:
            raise CutoutRejected(
                "product_fills_frame",
                f"only {pure:.1%} of the frame border shows the white backdrop; the product fills the frame")
        med = np.median(border, axis=0).astype(int).tolist()
        raise CutoutRejected(
            "background_not_white",
            f"only {frac_white:.1%} of the frame border is near-white (median border colour {tuple(med)}); "
            f"need at least {min_border_white:.0%} with every channel >= {white_threshold}")
    bcol = np.median(border[white], axis=0).astype(np.float32)  # backdrop colour B (RGB)
    if float(bcol.min()) < 245:
        flags.append("background_off_white")

    # -- 3. segmentation at reduced resolution ---------------------------------------------------------------------
    scale = min(1.0, float(max_side_for_analysis) / max(h, w))
    if scale < 1.0:
        sw, sh = max(8, int(round(w * scale))), max(8, int(round(h * scale)))
        small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    else:
        sw, sh, small = w, h, rgb
    n_small = sw * sh
    bt = tuple(float(v) for v in bcol.round()) + (0.0,)
    diff = cv2.absdiff(small, bt)
    d = cv2.max(cv2.max(diff[..., 0], diff[..., 1]), diff[..., 2])  # uint8 distance from the backdrop
    cmax = cv2.max(cv2.max(small[..., 0], small[..., 1]), small[..., 2])
    cmin = cv2.min(cv2.min(small[..., 0], small[..., 1]), small[..., 2])
    chroma = cv2.subtract(cmax, cmin)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    gf = gray.astype(np.float32)
    gx = cv2.Sobel(gf, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(gf, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    kg = 2 * shadow_edge_guard + 1
    grad = cv2.dilate(cv2.magnitude(gx, gy), np.ones((kg, kg), np.uint8))

    # the backdrop is flat: a near-white pixel with texture around it (fabric grain) is not backdrop core
    core = (d <= bg_tolerance) & (grad <= core_max_gradient)
    shadowish = (~core) & (chroma <= shadow_max_chroma) & (gray >= shadow_min_lightness) & \
        (grad <= shadow_max_gradient) & (gray.astype(np.float32) < float(bcol.mean()))
    cand = (core | shadowish).astype(np.uint8)
    n_lab, labels = cv2.connectedComponents(cand, connectivity=4)
    bmask = np.zeros((sh, sw), bool)
    bmask[0, :] = bmask[-1, :] = bmask[:, 0] = bmask[:, -1] = True
    seeds = np.unique(labels[bmask & core])
    lut = np.zeros(n_lab, bool)
    lut[seeds[seeds > 0]] = True
    bg = lut[labels]
    if not bg.any():
        raise CutoutRejected("product_fills_frame", "no backdrop region connected to the frame border")
    bg = _accept_shadows(bg, core, shadow_min_contact)
    bg = _limit_shadow_depth(bg, core, int(round(shadow_max_depth * max(sw, sh))))

    # enclosed holes that show the backdrop (handle loops)
    encl = ((cand > 0) & ~bg).astype(np.uint8)
    n_h, hl, stats, _ = cv2.connectedComponentsWithStats(encl, connectivity=8)
    if n_h > 1:
        min_hole = max(12, int(hole_min_fraction * n_small))
        big = np.nonzero(stats[1:, cv2.CC_STAT_AREA] >= min_hole)[0] + 1
        if big.size:
            lut_h = np.zeros(n_h, np.int32)
            lut_h[big] = np.arange(1, big.size + 1)
            hl2 = lut_h[hl]
            flat = np.bincount(hl2.ravel(), weights=(d <= 2).ravel(), minlength=big.size + 1)
            area = np.bincount(hl2.ravel(), minlength=big.size + 1).astype(np.float64)
            ring_lab = cv2.dilate(hl2.astype(np.float32), np.ones((9, 9), np.uint8)).astype(np.int32)
            ring = (ring_lab > 0) & (hl2 == 0) & ~bg
            rsum = np.bincount(ring_lab[ring], weights=(d[ring] >= hole_ring_contrast), minlength=big.size + 1)
            rcnt = np.bincount(ring_lab[ring], minlength=big.size + 1).astype(np.float64)
            # the product wall between the hole and the outside backdrop: thin for a handle or a strap
            wall = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 3)
            wmin = np.full(big.size + 1, np.inf)
            np.minimum.at(wmin, ring_lab[ring], wall[ring])
            ok = np.zeros(big.size + 1, bool)
            with np.errstate(invalid="ignore", divide="ignore"):
                ok[1:] = (flat[1:] / area[1:] >= 0.7) & (rsum[1:] / np.maximum(rcnt[1:], 1) >= 0.1) \
                    & (wmin[1:] <= hole_max_wall * max(sw, sh))
            if ok[1:].any():
                bg |= ok[hl2]
                flags.append("holes_background")
    prod = (~bg).astype(np.uint8)

    # drop specks
    n_p, pl, pstats, _ = cv2.connectedComponentsWithStats(prod, connectivity=8)
    if n_p > 1:
        keep = pstats[:, cv2.CC_STAT_AREA] >= max(3, int(min_speck_fraction * n_small))
        keep[0] = False
        prod = keep[pl].astype(np.uint8)
    frac = float(prod.sum()) / n_small
    if frac < min_product_fraction:
        raise CutoutRejected("empty_product", f"no product found ({frac:.3%} of the frame differs from the backdrop)")
    if frac > max_product_fraction:
        raise CutoutRejected("product_fills_frame", f"the product covers {frac:.1%} of the frame; no backdrop visible")
    if int((bg & ~core).sum()) >= 0.002 * n_small:
        flags.append("shadow_removed")
    k3 = np.ones((3, 3), np.uint8)

    # local backdrop colour (shadows included) and the product's nearby colour, at quarter of analysis resolution
    qw, qh = max(4, sw // 2), max(4, sh // 2)
    smallq = cv2.resize(small, (qw, qh), interpolation=cv2.INTER_AREA).astype(np.float32)
    bgq = cv2.resize(bg.astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA)
    bgq = (bgq > 0.99).astype(np.float32)
    fgq = cv2.resize(cv2.erode(prod, k3).astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA)
    fgq = (fgq > 0.99).astype(np.float32)
    wb = cv2.boxFilter(bgq, -1, (5, 5), normalize=False)
    b_local = cv2.boxFilter(smallq * bgq[..., None], -1, (5, 5), normalize=False)
    b_local = np.where(wb[..., None] > 0.5, b_local / np.maximum(wb, 1e-6)[..., None], bcol[None, None, :])
    wf = cv2.boxFilter(fgq, -1, (7, 7), normalize=False)
    f_local = cv2.boxFilter(smallq * fgq[..., None], -1, (7, 7), normalize=False)
    f_local = np.where(wf[..., None] > 0.5, f_local / np.maximum(wf, 1e-6)[..., None], np.nan)
    qs = scale * qw / sw

    # -- 4. full-resolution edges, inside the product's bounding box (plus margins) -------------------------------
    r = edge_band_px if edge_band_px is not None else max(2, int(math.ceil((shadow_edge_guard + 1.5) / scale)))
    pys, pxs = np.nonzero(prod)
    m = int(math.ceil(1 / scale)) + 4 * r + 2
    X0, X1 = max(0, int(pxs.min() / scale) - m), min(w, int((pxs.max() + 1) / scale) + m)
    Y0, Y1 = max(0, int(pys.min() / scale) - m), min(h, int((pys.max() + 1) / scale) + m)
    roi = rgb[Y0:Y1, X0:X1]
    rh, rw = roi.shape[:2]
    if scale < 1.0:
        # bilinear upsampling of the small mask onto the ROI, on the same grid as cv2.resize would use
        fx, fy = sw / w, sh / h
        M = np.array([[fx, 0, (X0 + 0.5) * fx - 0.5], [0, fy, (Y0 + 0.5) * fy - 0.5]], np.float64)
        soft = cv2.warpAffine(prod * 255, M, (rw, rh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    else:
        soft = (prod * 255)[Y0:Y1, X0:X1]
    hard = (soft >= 128).astype(np.uint8)
    kb = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    dil = cv2.dilate(hard, kb)
    ero = cv2.erode(hard, kb)
    band = cv2.subtract(dil, ero)
    ys, xs = np.nonzero(band)
    gy_, gx_ = ys + Y0, xs + X0
    qy = np.minimum((gy_ * qs).astype(np.int32), qh - 1)
    qx = np.minimum((gx_ * qs).astype(np.int32), qw - 1)
    ipx = roi[ys, xs].astype(np.float32)
    bl = b_local[qy, qx].astype(np.float32)
    dl = np.abs(ipx - bl).max(1)  # distance from the local backdrop
    dB = np.abs(bl - bcol[None, :]).max(1)  # local shadow depth
    dd = cv2.absdiff(roi, bt)
    dfull = cv2.max(cv2.max(dd[..., 0], dd[..., 1]), dd[..., 2])
    dfg = cv2.bitwise_and(dfull, dfull, mask=hard)
    kb2 = cv2.getStructuringElement(cv2.MORPH_RECT, (4 * r + 1, 4 * r + 1))
    dmax = cv2.dilate(dfg, kb2)[ys, xs].astype(np.float32)
    denom = dmax - dB
    conf = denom >= min_edge_contrast
    a_col = np.clip(dl / np.maximum(denom, 1.0), 0.0, 1.0)
    a_soft = soft[ys, xs].astype(np.float32) / 255.0
    a_band = np.where(conf, a_col, a_soft)
    # colour alpha only where the outside reaches without crossing a confident product pixel
    reach = (ero == 0).astype(np.uint8)
    reach[ys, xs] = ~((a_band >= 0.5) & conf)
    n_r, rl = cv2.connectedComponents(reach, connectivity=4)
    outer_lut = np.zeros(n_r, bool)
    outer_lut[rl[dil == 0]] = True
    outer_lut[0] = False
    reached = outer_lut[rl[ys, xs]]
    inner_fg = (~reached) & (hard[ys, xs] > 0)
    a_band = np.where(inner_fg, np.maximum(a_band, a_soft), a_band)
    a_band = np.where(inner_fg & conf, 1.0, a_band)
    a_band[a_band < 0.04] = 0.0
    a_band[a_band > 0.97] = 1.0
    mb = np.clip(a_band * 255.0 + 0.5, 0, 255).astype(np.uint8)

    mask = np.zeros((h, w), np.uint8)
    mask_roi = mask[Y0:Y1, X0:X1]
    np.multiply(ero, 255, out=mask_roi)
    mask_roi[ys, xs] = mb

    # thin parts (straps, cords, handles): what a 5 x 5 opening at analysis scale would erase
    fin = (cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA) > 127).astype(np.uint8) if scale < 1.0 \
        else (mask > 127).astype(np.uint8)
    opened = cv2.dilate(cv2.morphologyEx(fin, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)), k3)
    if int(cv2.countNonZero(fin & (1 - opened))) >= max(20, 0.002 * cv2.countNonZero(fin)):
        flags.append("thin_parts")

    # -- 5. colours ---------------------------------------------------------------------------------------------------
    rgba = cv2.merge((*cv2.split(rgb), mask))
    part = (mb > 0) & (mb < 255)
    fl = f_local[qy, qx]
    has_fl = ~np.isnan(fl[:, 0])
    a = mb.astype(np.float32) / 255.0
    f_est = np.clip(bl + (ipx - bl) / np.maximum(a, 0.05)[:, None], 0, 255)
    wgt = np.clip((a - 0.1) / 0.4, 0.0, 1.0)[:, None]
    fl_filled = np.where(has_fl[:, None], fl, f_est)
    col = np.where(part[:, None], wgt * f_est + (1 - wgt) * fl_filled, ipx)
    zero = (mb == 0) & has_fl
    col = np.where(zero[:, None], fl_filled, col)
    upd = part | zero
    rgba[gy_[upd], gx_[upd], :3] = np.clip(col[upd] + 0.5, 0, 255).astype(np.uint8)

    return _finish(rgba, mask, flags)


# ---------------------------------------------------------------------------------------------------------------


def _accept_shadows(bg: np.ndarray, core: np.ndarray, min_contact: float) -> np.ndarray:
    """Keep a shadow-like region as background only if it fades into the plain backdrop along a good part of its
    outline (a floor shadow's outer edge is a smooth transition into the backdrop). A smooth patch of a near-white
    product reached through a gap in its outline touches the backdrop only at that gap: it stays product. When a
    real shadow and such a patch are joined, both stay product: shadow left in is the lesser error."""
    core_bg = (bg & core).astype(np.uint8)
    ext = (bg & ~core).astype(np.uint8)
    if not ext.any():
        return bg
    n, lab = cv2.connectedComponents(ext, connectivity=4)
    k3 = np.ones((3, 3), np.uint8)
    perim = (ext > 0) & (cv2.erode(ext, k3) == 0)
    touch = perim & (cv2.dilate(core_bg, k3) > 0)
    # touching the frame border counts as fading out (a shadow cut by the frame)
    edge = np.zeros_like(perim)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    touch |= perim & edge
    pc = np.bincount(lab[perim], minlength=n).astype(np.float64)
    tc = np.bincount(lab[touch], minlength=n).astype(np.float64)
    ok = tc >= min_contact * np.maximum(pc, 1)
    ok[0] = True
    return bg & ok[lab]


def _limit_shadow_depth(bg: np.ndarray, core: np.ndarray, depth: int) -> np.ndarray:
    """Stop a shadow region from leaking into a smooth, near-white product.

    Shadow pixels are reached from the backdrop through smooth grey; where a product's edge fades into its shadow,
    the fill can run on into the product. A real shadow lies within `depth` pixels (geodesically, inside the
    region) of the plain backdrop. Pixels farther than that are product, and so are the pixels geodesically
    closer to those than to the backdrop (a competitive growth of both), which cuts the leak at its mouth."""
    ext = bg & ~core
    if depth <= 0 or not ext.any():
        return bg
    ys, xs = np.nonzero(ext)
    m = depth + 4
    y0, y1 = max(0, ys.min() - m), min(bg.shape[0], ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(bg.shape[1], xs.max() + m + 1)
    out = bg.copy()
    out[y0:y1, x0:x1] = _limit_roi(bg[y0:y1, x0:x1], core[y0:y1, x0:x1], depth)
    return out


def _limit_roi(bg: np.ndarray, core: np.ndarray, depth: int) -> np.ndarray:
    seed = (bg & core).astype(np.uint8)
    allowed = bg.astype(np.uint8)
    k5 = np.ones((5, 5), np.uint8)  # 2 px per step; barriers are >= 3 px wide
    near = seed
    for _ in range((depth + 1) // 2):
        nxt = cv2.bitwise_and(cv2.dilate(near, k5), allowed)
        if np.array_equal(nxt, near):
            break
        near = nxt
    far = (allowed > 0) & (near == 0)
    if not far.any():
        return bg
    a = near.copy()  # claims of the backdrop side
    b = far.astype(np.uint8)  # claims of the product side
    a = cv2.bitwise_and(a, seed)  # restart the backdrop front from the plain backdrop
    free = cv2.bitwise_and(allowed, cv2.bitwise_not(cv2.bitwise_or(a, b)) & 1)
    while True:
        ga = cv2.bitwise_and(cv2.dilate(a, k5), free)
        free = cv2.bitwise_and(free, 1 - ga)
        gb = cv2.bitwise_and(cv2.dilate(b, k5), free)
        free = cv2.bitwise_and(free, 1 - gb)
        if not ga.any() and not gb.any():
            break
        a = cv2.bitwise_or(a, ga)
        b = cv2.bitwise_or(b, gb)
    return bg & (b == 0)


def _source_alpha(image: Image.Image) -> np.ndarray | None:
    """The image as RGBA when it carries a real alpha channel (>= 0.1 % of pixels below 255), else None."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        return None
    rgba = np.ascontiguousarray(np.asarray(image.convert("RGBA")))
    if float((rgba[..., 3] < 255).mean()) < 1e-3:
        return None
    return rgba


def _from_source_alpha(rgba: np.ndarray, min_product_fraction: float) -> Cutout:
    mask = rgba[..., 3].copy()
    frac = float((mask > 127).mean())
    if frac < min_product_fraction:
        raise CutoutRejected("empty_product", f"the source alpha is (almost) fully transparent ({frac:.3%} opaque)")
    return _finish(rgba.copy(), mask, ["alpha_from_source"])


def _finish(rgba: np.ndarray, mask: np.ndarray, flags: list[str]) -> Cutout:
    h, w = mask.shape
    edges = []
    for side, line in zip(_SIDES, (mask[:, 0], mask[0, :], mask[:, -1], mask[-1, :])):
        if int((line > 127).sum()) >= 2:
            edges.append(side)
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask))  # bounds of mask > 0
    bbox = (int(x), int(y), int(x + bw), int(y + bh))
    on = cv2.countNonZero(cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)[1])
    if edges:
        flags = flags + ["touches_edge"]
    return Cutout(rgba=rgba, mask=mask, bbox=bbox, area_ratio=float(on) / (h * w), touches_edge=bool(edges),
                  edges_touched=tuple(edges), flags=flags)
