"""Product cutouts from packshots on a white or off-white sweep: `cut_out(image, **options) -> Cutout`.

No learned model (none ships in a registry package under a licence that allows this use). Floor shadows, contact
shadows and glossy-floor reflections are background; bench/bench_cutout.py measures accuracy and speed.

1. Source alpha. An RGBA / LA / P-with-transparency image whose alpha is really used (>= 0.1 % below 255) is
   passed through: its alpha is the mask, its pixels untouched, flag "alpha_from_source".
2. Analysis copy at an integer reduction (long side about `analysis_side`, 400 px; area averaging).
3. The sweep as a surface (cutout_backdrop.fit_backdrop): a 2-D polynomial per channel (degree 3 plus u^4, v^4,
   u^2 v^2) fitted to smooth pixels from the frame border inwards, refitted as the inliers grow; a pixel much
   darker than the fit is never an inlier, so the fit follows the lit sweep, not its shadows. Light falloff, the
   floor/wall curve, vignetting and colour casts are in the model. The frame border must look like a sweep (light,
   near-neutral) or the photo is rejected `background_not_white` (`product_fills_frame` when only scraps of white
   show). A sweep darker than 245 is flagged "background_off_white".
4. Per pixel, against the fitted sweep B: dev = max |I - B|; the shadow factor k = <I, B> / <B, B> (the neutral
   darkening that best explains the pixel) and the residual res = max |I - k B| (what a shadow cannot explain).
   - core: dev <= `bg_tolerance` and flat (gradient below the sweep's own noise level, at least
     `core_max_gradient`): plain sweep. A white garment's weave is rougher than the sweep.
   - shadow-like: neutral (res small; a little tint allowed in proportion to depth: light bounced off a coloured
     product), k in [0.3, 1), and gentle: gradient <= `shadow_max_gradient`, or a slope that is a small part of
     the depth and that survives blurring (a soft shadow), where a product outline's slope collapses.
   - background = the components of (core | shadow-like), outlines with 1-2 px gaps closed, that hold core on the
     frame border; a shadow-like region stays background only if enough of its outline fades into core.
   - plain sweep = core reached from the border through core only, plus roomy components at the sweep's exact
     level (sweep seen through a loop); a highlight at the sweep's level on a white product is not plain sweep.
   - holes (a mug's handle): enclosed flat regions at the sweep's level, roomy, ringed by an edge, behind a thin
     wall, and smaller than 30 % of the product.
5. Glossy-floor reflection (cutout_backdrop.find_reflection): the axis is the lowest row still as strong as the
   product; under it, rows must repeat the rows above mirrored (cosine of the rows' patterns, levels removed),
   be at most half as strong, fade over a length, and lie inside the mirrored silhouette. Everything under the
   axis is then floor.
6. Markers and a watershed at analysis size: background markers = plain sweep, reflection, shadow within 3 % of
   the plain sweep; product markers = non-background pixels away from it (neutral pixels further away: a shadow
   fringe or a contact shadow is neutral; a thin neutral band with the floor right under it is left open),
   dark thin lines with sweep on both sides (cords, chains), and shadow-like pixels that the sweep reaches only
   the long way round (geodesic distance >> straight distance: a smooth light product joined to its own shadow
   through its base); the way round may cross a floor shadow's far edge (neutral, getting lighter towards the
   floor below, wider than an outline), which can be too sharp to count as shadow itself. The watershed climbs
   a cost image of colour relative to the sweep with log luminance, so a
   shadow's edge (a factor of 2 at most) is a lower ridge than a product's outline.
7. Edges at full resolution (cutout_edges.refine), in a band of about 1.75 analysis pixels around the mask:
   alpha = distance from the LOCAL backdrop (shadow included) / the product's own distance at that edge (its
   largest nearby distance); where the product barely differs from the backdrop (white on white) the smoothly
   upsampled mask is used; deep inside the analysis outline the product stays opaque. The local backdrop is read
   within about 15 px where there is background that close (a contact shadow darkens the floor right at the
   product's foot), and partial alpha further than an edge's blur (3 px per 1200) from any near-opaque pixel is
   dropped: under a dark product a dark contact shadow reads as a half-covered edge by colour alone.
8. Colours: alpha-255 pixels keep the photo's exact values; partial pixels are solved from I = aF + (1 - a)B and
   pulled towards the product's nearby colour where alpha is small; alpha-0 band pixels next to the product carry
   that colour, so resampling never pulls the sweep in.

`keep_shadow=True` also returns `Cutout.shadow`: uint8 opacity of the photo's own floor shadow (1 - Y / Y_sweep in
the background, zero under the product and the reflection), for a scene that wants the original shadow.
`area_ratio` = fraction of mask > 127; `bbox` bounds mask > 0 (exclusive end); `edges_touched` names the sides
with at least 2 pixels of mask > 127 on them ("touches_edge" flag). Other flags: "shadow_removed",
"holes_background", "reflection_removed", "background_off_white", "thin_parts" (straps, cords, antennas: parts
a 3 x 3 opening at analysis size would erase; the mask itself is never opened).
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from skucore.imaging.cutout_backdrop import check_border, find_reflection, fit_backdrop
from skucore.imaging.cutout_edges import refine
from skucore.imaging.cutout_regions import (accept_shadows, border_connected, enclosed_smooth, pinched_product, roomy,
                                            sweep_holes, thin_dark_lines)
from skucore.base.types import Cutout, CutoutRejected

__all__ = ["cut_out", "Cutout", "CutoutRejected"]

_SIDES = ("left", "top", "right", "bottom")
K3 = np.ones((3, 3), np.uint8)


def cut_out(
    image: Image.Image,
    *,
    keep_shadow: bool = False,
    analysis_side: int = 400,
    min_backdrop_level: int = 185,
    max_backdrop_chroma: int = 30,
    min_border_backdrop: float = 0.10,
    bg_tolerance: float = 7.0,
    core_max_gradient: float = 1.0,
    shadow_max_residual: float = 7.0,
    shadow_tint: float = 0.15,
    shadow_min_factor: float = 0.3,
    shadow_max_gradient: float = 5.0,
    shadow_slope: float = 0.3,
    shadow_min_contact: float = 0.25,
    product_min_residual: float = 16.0,
    product_max_factor: float = 0.3,
    edge_zone: int = 2,
    neutral_zone: float = 0.045,
    contact_band: float = 0.012,
    shadow_bg_depth: float = 0.03,
    shadow_fg_depth: float = 0.03,
    geodesic_ratio: float = 2.0,
    pocket_neck: float = 0.01,
    colour_bleed: float = 0.3,
    hole_min_fraction: float = 2e-4,
    hole_ring_contrast: float = 15.0,
    hole_max_wall: float = 0.08,
    min_speck_fraction: float = 5e-5,
    min_product_fraction: float = 5e-4,
    max_product_fraction: float = 0.985,
    min_edge_contrast: float = 24.0,
    reflections: bool = True,
    loop_sweep: bool = True,
    use_source_alpha: bool = True,
) -> Cutout:
    """Cut the product out of a packshot on a white or off-white sweep (PIL RGB/RGBA/L/P).

    Raises CutoutRejected with reason `background_not_white`, `product_fills_frame` or `empty_product`."""
    if not isinstance(image, Image.Image):
        raise TypeError("cut_out expects a PIL.Image.Image")
    if use_source_alpha:
        src = _source_alpha(image)
        if src is not None:
            return _from_source_alpha(src, min_product_fraction)
    rgb = np.ascontiguousarray(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        raise CutoutRejected("empty_product", f"image too small to cut out ({w}x{h})")
    flags: list[str] = []

    # -- analysis copy, gradient ----------------------------------------------------------------------------------
    # an integer reduction factor: OpenCV's area resize has a fast path for it, and the grids align exactly
    f = max(1, int(round(max(h, w) / analysis_side)))
    scale = 1.0 / f
    sw, sh = max(8, w // f), max(8, h // f)
    small = cv2.resize(rgb[:sh * f, :sw * f], (sw, sh), interpolation=cv2.INTER_AREA) if f > 1 else rgb
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    grad0 = cv2.magnitude(gx, gy)
    grad = cv2.dilate(grad0, K3)  # a pixel next to an edge is not smooth

    # -- the backdrop: a smooth surface, checked on the frame border ----------------------------------------------
    bpx = max(2, int(round(0.015 * max(sw, sh))))
    check_border(small, bpx, min_backdrop_level, max_backdrop_chroma, min_border_backdrop)
    B, lat = fit_backdrop(small, grad, bpx, 3.0)
    border_level = np.concatenate([B[0], B[-1], B[:, 0], B[:, -1]]).min(1)
    if float(np.median(border_level)) < 245:
        flags.append("background_off_white")

    ap, Bp = [p.astype(np.float32) for p in cv2.split(small)], cv2.split(B)
    dev = cv2.max(cv2.max(cv2.absdiff(ap[0], Bp[0]), cv2.absdiff(ap[1], Bp[1])), cv2.absdiff(ap[2], Bp[2]))
    bb = Bp[0] * Bp[0] + Bp[1] * Bp[1] + Bp[2] * Bp[2]
    kf = (ap[0] * Bp[0] + ap[1] * Bp[1] + ap[2] * Bp[2]) / bb  # the shadow factor that best explains the pixel
    res = cv2.max(cv2.max(cv2.absdiff(ap[0], kf * Bp[0]), cv2.absdiff(ap[1], kf * Bp[1])),
                  cv2.absdiff(ap[2], kf * Bp[2]))  # what a neutral darkening of the sweep cannot explain

    # -- backdrop and shadow regions reached from the frame border ------------------------------------------------
    # flat means flatter than the sweep's own noise allows (a q75 JPEG of a grey sweep is grainier than a
    # clean white one); a white garment's weave is rougher than the sweep
    edge_grad = np.concatenate([grad[:bpx].ravel(), grad[-bpx:].ravel(), grad[:, :bpx].ravel(), grad[:, -bpx:].ravel()])
    core_grad = max(core_max_gradient, 2.5 * float(np.median(edge_grad)))
    core = (dev <= bg_tolerance) & (grad <= core_grad)
    # neutral: a darkening of the sweep. A shadow next to a coloured product takes a little of its colour
    # (light bounced off it), so the allowance grows with the shadow's depth
    neutral = res <= cv2.max(dev * shadow_tint, shadow_max_residual)
    # smooth: a soft shadow's slope is a small part of its depth; an outline's is about its whole contrast
    # (and stays as steep when blurred, while an outline's slope collapses)
    gb = cv2.GaussianBlur(gray, (0, 0), 2.0)
    gradb = cv2.magnitude(cv2.Sobel(gb, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
                          cv2.Sobel(gb, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))
    gentle = (grad <= shadow_max_gradient) | ((grad <= dev * shadow_slope) & (grad <= 1.4 * gradb + 1.0))
    shadowish = (~core) & neutral & (kf >= shadow_min_factor) & (kf < 1.0) & gentle
    # a product's outline with a one- or two-pixel gap in it still holds the flood back
    barrier = cv2.morphologyEx((~(core | shadowish)).astype(np.uint8), cv2.MORPH_CLOSE, K3)
    cand = ((core | shadowish) & (barrier == 0)).astype(np.uint8)
    edge = np.zeros((sh, sw), bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    bg = border_connected(cand, edge & core)
    if not bg.any():
        raise CutoutRejected("product_fills_frame", "no backdrop region connected to the frame border")
    bg = accept_shadows(bg, core, shadow_min_contact)
    bg &= ~pinched_product(bg, edge, dev, max(2, int(round(pocket_neck * max(sw, sh)))))
    # the plain sweep: flat backdrop reached from the border without crossing a shadow (a highlight at the
    # sweep's level on a white product reached through its shadow is not the sweep); 1-px gaps in what is not at the
    # sweep's level are closed, as for bg: a highlight stripe on a light product is no corridor for the sweep
    core_barrier = cv2.morphologyEx((~core).astype(np.uint8), cv2.MORPH_CLOSE, K3)
    core_bg = border_connected((core & bg & (core_barrier == 0)).astype(np.uint8), edge & core)
    if loop_sweep:  # sweep seen inside a loop (headphones)
        core_bg |= roomy(core & bg & ~core_bg, 0.02 * max(sw, sh), dev)

    # -- enclosed holes that show the sweep (handle loops) ----------------------------------------------------------
    holes = sweep_holes(core | shadowish, bg, dev, hole_min_fraction, hole_ring_contrast, hole_max_wall)
    if holes is not None:
        bg |= holes
        core_bg |= holes
        flags.append("holes_background")

    # -- glossy-floor reflection ------------------------------------------------------------------------------------
    refl = np.zeros((sh, sw), bool)
    if reflections:
        found = find_reflection(small, B, ~bg)
        if found is not None:
            ax, end, _, _ = found
            refl[ax + 1:min(sh, end + 2)] = True
            # under the base everything is floor: the reflection, and the shadows it lies in
            if (refl & ~bg).sum() >= 0.001 * sw * sh:
                flags.append("reflection_removed")
            else:
                refl[:] = False

    # -- markers and watershed: edges, fringes, contact shadows ----------------------------------------------------
    # background: the plain sweep, shadows near it, holes, the reflection. A smooth light product can join its
    # own shadow without an edge between them; pixels of such a region far from the plain sweep are product.
    side = max(sw, sh)
    shadow_reg = bg & ~core_bg
    dcore = cv2.distanceTransform((~core_bg).astype(np.uint8), cv2.DIST_L2, 3)
    notbg = (~bg & ~refl).astype(np.uint8)
    dist = cv2.distanceTransform(notbg, cv2.DIST_L2, 3)
    # a thin neutral band with the floor right under it: perhaps a contact shadow, left to the watershed
    t = max(2, int(round(contact_band * side)))
    below = cv2.dilate(bg.astype(np.uint8), np.ones((t + 1, 1), np.uint8), anchor=(0, 0)) > 0
    # next to a strongly coloured product, JPEG's halved colour resolution tints a shadow: still neutral here
    neutral_fg = neutral | (res <= colour_bleed * cv2.dilate(res, np.ones((7, 7), np.uint8)))
    fg = (dist > edge_zone) & ~(neutral_fg & (dist <= neutral_zone * side) & (kf > 0.12)) & ~(neutral_fg & below)
    fg |= thin_dark_lines(gray, bg, t)
    # a floor shadow's far edge may be too sharp to count as shadow, yet it is neutral and gets lighter towards the
    # floor below it: the path from the shadow to the sweep may cross it (a product's outline is not like that)
    floor_edge = neutral & ~bg & (kf >= shadow_min_factor) & (gy > 0) & (gy >= 2.0 * cv2.absdiff(gx, 0)) & \
        (gradb >= 0.5 * grad)
    fg |= enclosed_smooth(shadow_reg, core_bg, dcore, shadow_fg_depth * side, geodesic_ratio, floor_edge)
    fg &= ~refl
    markers = np.zeros((sh, sw), np.int32)
    markers[core_bg | refl | (shadow_reg & (dcore <= shadow_bg_depth * side))] = 1
    markers[fg] = 2
    # the watershed runs on the product's neighbourhood only
    ys_, xs_ = np.nonzero(markers != 1)
    if ys_.size == 0:
        raise CutoutRejected("empty_product", "no product found (everything looks like the sweep)")
    m = 4
    y0, y1 = max(0, ys_.min() - m), min(sh, ys_.max() + m + 1)
    x0, x1 = max(0, xs_.min() - m), min(sw, xs_.max() + m + 1)
    cost = _cost_image([p[y0:y1, x0:x1] for p in ap], [p[y0:y1, x0:x1] for p in Bp])
    # padded by one replicated pixel: OpenCV's watershed marks its image's outermost pixels as boundary (-1), which
    # would drop a product's last row where the frame cuts it
    mk = cv2.copyMakeBorder(markers[y0:y1, x0:x1], 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    cv2.watershed(cv2.copyMakeBorder(cost, 1, 1, 1, 1, cv2.BORDER_REPLICATE), mk)
    markers[:] = 1
    markers[y0:y1, x0:x1] = mk[1:-1, 1:-1]
    prod = (markers == 2).astype(np.uint8)

    n_p, pl, pstats, _ = cv2.connectedComponentsWithStats(prod, connectivity=8)
    if n_p > 1:
        keep = pstats[:, cv2.CC_STAT_AREA] >= max(3, int(min_speck_fraction * sw * sh))
        keep[0] = False
        prod = keep[pl].astype(np.uint8)
    frac = float(prod.sum()) / (sw * sh)
    if frac < min_product_fraction:
        raise CutoutRejected("empty_product", f"no product found ({frac:.3%} of the frame differs from the backdrop)")
    if frac > max_product_fraction:
        raise CutoutRejected("product_fills_frame", f"the product covers {frac:.1%} of the frame; no backdrop visible")
    bgfinal = prod == 0
    if int((bgfinal & ~core & (dev > bg_tolerance)).sum()) >= 0.002 * sw * sh:
        flags.append("shadow_removed")
    # straps, cords, antennas: parts a 3 x 3 opening at analysis size would erase (nothing here opens the mask)
    opened = cv2.dilate(cv2.morphologyEx(prod, cv2.MORPH_OPEN, K3), K3)
    if cv2.countNonZero(cv2.subtract(prod, opened)) >= max(8, 0.002 * cv2.countNonZero(prod)):
        flags.append("thin_parts")

    rgba, mask = refine(rgb, prod, bgfinal & ~refl, small, B, dev, scale, min_edge_contrast=min_edge_contrast)
    shadow = _shadow_layer(small, B, bgfinal & ~refl, (w, h)) if keep_shadow else None
    return _finish(rgba, mask, flags, shadow)


def _cost_image(ap, Bp):
    """What the watershed climbs: colour relative to the sweep (casts and falloff divided out), with luminance
    on a log scale so that a shadow's edge (a factor of 2 at most) is a lower ridge than a product's outline."""
    q = [cv2.divide(x, b) for x, b in zip(ap, Bp)]
    m = (q[0] + q[1] + q[2]) * (1.0 / 3.0)
    inv = 220.0 / (m + 0.08)
    c1 = cv2.multiply(q[0] - q[1], inv) + 128.0
    c2 = cv2.multiply(q[2] - q[1], inv) + 128.0
    ll = cv2.log(cv2.max(m, 0.02)) * 45.0 + 220.0
    img = cv2.convertScaleAbs(cv2.merge((ll, c1, c2)))
    return cv2.GaussianBlur(img, (3, 3), 0)


def _shadow_layer(small, B, bg, size):
    """The photo's own floor shadow as an opacity (uint8, full size): how much darker than the sweep each
    background pixel is; zero under the product."""
    y = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    yb = B @ np.array([0.299, 0.587, 0.114], np.float32)
    op = np.clip(1.0 - y / np.maximum(yb, 1.0), 0, 1) * bg
    op[op < 0.02] = 0
    op = cv2.GaussianBlur(op, (3, 3), 0)
    return np.clip(cv2.resize(op, size, interpolation=cv2.INTER_LINEAR) * 255 + 0.5, 0, 255).astype(np.uint8)


def _source_alpha(image):
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        return None
    rgba = np.ascontiguousarray(np.asarray(image.convert("RGBA")))
    if float((rgba[..., 3] < 255).mean()) < 1e-3:
        return None
    return rgba


def _from_source_alpha(rgba, min_product_fraction):
    mask = rgba[..., 3].copy()
    frac = float((mask > 127).mean())
    if frac < min_product_fraction:
        raise CutoutRejected("empty_product", f"the source alpha is (almost) fully transparent ({frac:.3%} opaque)")
    return _finish(rgba.copy(), mask, ["alpha_from_source"], None)


def _finish(rgba, mask, flags, shadow):
    h, w = mask.shape
    edges = [side for side, line in zip(_SIDES, (mask[:, 0], mask[0, :], mask[:, -1], mask[-1, :]))
             if int((line > 127).sum()) >= 2]
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask))
    on = cv2.countNonZero(cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)[1])
    if edges:
        flags = flags + ["touches_edge"]
    cut = Cutout(rgba=rgba, mask=mask, bbox=(int(x), int(y), int(x + bw), int(y + bh)),
                 area_ratio=float(on) / (h * w), touches_edge=bool(edges), edges_touched=tuple(edges), flags=flags,
                 shadow=shadow)
    return cut
