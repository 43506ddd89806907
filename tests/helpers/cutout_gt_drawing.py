"""Drawing helpers and the first procedural products (bottles, glass, mugs, garments, caps) with true alpha for
the cutout ground truth (tests/helpers/cutout_groundtruth.py); all drawn here, so there is no licence question.

Each product function takes (canvas width, canvas height, rng) and returns a `Product`: straight-alpha colour
(float32 HxWx3, 0..255) and coverage (float32 HxW, 0..1), drawn at the final pixel size with anti-aliased
edges (OpenCV LINE_AA at 1/16 px precision), then softened by a small lens blur. Surfaces carry shading
(cylinders, spheres, folds), texture (fabric grain, print), specular highlights and darker rims; glass is
semi-transparent (body alpha 0.5-0.85, opaque rims and highlights).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHIFT = 4  # sub-pixel bits for OpenCV drawing
ONE = 1 << SHIFT


@dataclass
class Product:
    color: np.ndarray  # float32 HxWx3, straight (not premultiplied)
    alpha: np.ndarray  # float32 HxW, the true alpha
    floor: bool = True  # stands on (or lies on) a floor: gets floor shadows / reflections
    crop_bottom: bool = False  # a model shot: the frame cuts it at the bottom


class Canvas:
    """Painter-style accumulation of anti-aliased shapes in straight alpha."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.color = np.zeros((h, w, 3), np.float32)
        self.alpha = np.zeros((h, w), np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.xx, self.yy = xx, yy

    def cov(self, draw) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        draw(m)
        return m.astype(np.float32) / 255.0

    def paint(self, cov: np.ndarray, color, opacity=1.0) -> np.ndarray:
        c = cov * opacity if np.isscalar(opacity) else cov * opacity
        col = np.broadcast_to(np.asarray(color, np.float32), self.color.shape) if np.ndim(color) <= 1 else color
        a_new = c + self.alpha * (1 - c)
        num = col * c[..., None] + self.color * (self.alpha * (1 - c))[..., None]
        self.color = np.where(a_new[..., None] > 1e-6, num / np.maximum(a_new, 1e-6)[..., None], col)
        self.alpha = a_new
        return cov

    def erase(self, cov: np.ndarray) -> None:
        self.alpha *= 1.0 - cov

    def product(self, rng, **kw) -> Product:
        blur = float(rng.uniform(0.35, 0.9)) * max(1.0, self.w / 900.0)  # lens softness grows with resolution
        a = cv2.GaussianBlur(self.alpha, (0, 0), blur)
        return Product(np.clip(self.color, 0, 255), np.clip(a, 0, 1), **kw)


def fixed_point(pts):
    return (np.asarray(pts, np.float64) * ONE).round().astype(np.int32)


def poly(pts):
    return lambda m: cv2.fillPoly(m, [fixed_point(pts)], 255, cv2.LINE_AA, SHIFT)


def ellipse(c, ax, ang=0, a0=0, a1=360, th=-1):
    def d(m):
        if th < 0:
            cv2.ellipse(m, tuple(fixed_point(c)), tuple(fixed_point(ax)), ang, a0, a1, 255, -1, cv2.LINE_AA, SHIFT)
        else:  # thick arcs: a polyline of the arc, so the thickness is sub-pixel exact
            t = np.deg2rad(np.linspace(a0, a1, 180))
            r = np.deg2rad(ang)
            x = ax[0] * np.cos(t)
            y = ax[1] * np.sin(t)
            pts = np.stack([c[0] + x * np.cos(r) - y * np.sin(r), c[1] + x * np.sin(r) + y * np.cos(r)], 1)
            cv2.polylines(m, [fixed_point(pts)], abs(a1 - a0) >= 360, 255, max(1, int(round(th))), cv2.LINE_AA, SHIFT)
    return d


def line(pts, th):
    def d(m):
        thi = max(1, int(round(th)))
        if th < 1.5:  # sub-2-px cords: draw 1 px, scale the coverage later via opacity
            thi = 1
        cv2.polylines(m, [fixed_point(pts)], False, 255, thi, cv2.LINE_AA, SHIFT)
    return d


def smooth_noise(w, h, rng, scale, amp):
    """Zero-mean smooth random field (folds, uneven dye), about +-amp."""
    n = (max(2, int(w / scale) + 2), max(2, int(h / scale) + 2))
    low = rng.normal(0, 1, (n[1], n[0])).astype(np.float32)
    f = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    f = cv2.GaussianBlur(f, (0, 0), max(1.0, scale / 5))
    return f / max(1e-6, float(np.abs(f).max())) * amp


def grain(w, h, rng, amp):
    g = rng.normal(0, amp, (h, w)).astype(np.float32)
    return cv2.GaussianBlur(g, (0, 0), 0.6)


def shade(color, s, spec=None):
    """Colour times a shading map (HxW), plus white specular light."""
    out = np.asarray(color, np.float32)[None, None, :] * s[..., None]
    if spec is not None:
        out = out + (255.0 - out) * np.clip(spec, 0, 1)[..., None]
    return np.clip(out, 0, 255)


def cylinder(cv: Canvas, x0, x1, rng, light=None, spec_w=0.07, spec=0.8):
    u = np.clip((cv.xx - x0) / max(1e-3, x1 - x0) * 2 - 1, -1, 1)
    lx = rng.uniform(-0.5, 0.3) if light is None else light
    n = np.sqrt(np.clip(1 - u * u, 0, 1))
    s = 0.45 + 0.55 * np.clip(n * np.sqrt(1 - lx * lx) + u * lx, 0, 1)
    sp = spec * np.exp(-((u - (lx + 0.25)) / spec_w) ** 2)
    return s.astype(np.float32), sp.astype(np.float32)


def rim_dark(cv: Canvas, cov, amount, width):
    """Darken the inside of a shape's outline (fabric thickness, ambient occlusion)."""
    inside = (cov > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    return 1.0 - amount * np.exp(-dist / max(0.5, width))


def pick_color(rng, palette=None):
    pal = palette or [(245, 245, 243), (236, 234, 230), (28, 28, 32), (200, 32, 40), (30, 70, 170),
                      (40, 120, 70), (150, 150, 152), (230, 200, 60), (240, 150, 170), (120, 80, 50),
                      (205, 190, 160), (70, 160, 200), (250, 250, 250)]
    c = np.asarray(pal[int(rng.integers(len(pal)))], np.float32)
    return np.clip(c + rng.normal(0, 6, 3), 0, 255)


# --- products ------------------------------------------------------------------------------------------------------

def bottle(w, h, rng, glass=False):
    """A bottle: cylinder shading, specular stripe, cap, label. `glass`: semi-transparent tinted body."""
    cv = Canvas(w, h)
    cx, bw = w / 2, w * rng.uniform(0.32, 0.46)
    neck = bw * rng.uniform(0.3, 0.45)
    y_sh, y_nk, y_cap = h * rng.uniform(0.3, 0.42), h * rng.uniform(0.12, 0.2), h * 0.02
    body = [(cx - bw, h - 1), (cx - bw, y_sh), (cx - neck, y_nk + (y_sh - y_nk) * 0.35), (cx - neck, y_nk),
            (cx + neck, y_nk), (cx + neck, y_nk + (y_sh - y_nk) * 0.35), (cx + bw, y_sh), (cx + bw, h - 1)]
    s, sp = cylinder(cv, cx - bw, cx + bw, rng)
    col = pick_color(rng, [(40, 110, 190), (120, 60, 20), (30, 90, 40), (20, 20, 24), (230, 230, 232),
                           (200, 40, 60), (170, 210, 230)])
    cov = cv.cov(poly(body))
    if glass:
        tint = np.clip(col * 0.3 + 180, 0, 255)
        body_a = rng.uniform(0.5, 0.8) + 0.25 * (1 - s)  # thicker glass seen at the sides
        cv.paint(cov, shade(tint, 0.85 + 0.15 * s, sp), opacity=np.clip(body_a, 0, 0.97))
        k = max(3, int(w * 0.02)) | 1
        rim = cov - cv2.erode(cov, np.ones((k, k), np.uint8))
        cv.paint(np.clip(rim, 0, 1), shade(tint * 0.7, s), 0.95)
    else:
        cv.paint(cov, shade(col, s + grain(w, h, rng, 0.01), sp))
    if rng.random() < 0.8:  # label
        ly0, ly1 = h * rng.uniform(0.5, 0.6), h * rng.uniform(0.75, 0.9)
        lc = pick_color(rng)
        cv.paint(cv.cov(poly([(cx - bw, ly0), (cx + bw, ly0), (cx + bw, ly1), (cx - bw, ly1)])),
                 shade(lc, 0.75 + 0.25 * s, sp * 0.3))
        tc = (20, 20, 25) if lc.mean() > 128 else (245, 245, 245)
        cv.paint(cv.cov(poly([(cx - bw * 0.6, ly0 + 0.2 * (ly1 - ly0)), (cx + bw * 0.5, ly0 + 0.2 * (ly1 - ly0)),
                              (cx + bw * 0.5, ly0 + 0.32 * (ly1 - ly0)), (cx - bw * 0.6, ly0 + 0.32 * (ly1 - ly0))])),
                 tc)
    cc = pick_color(rng)
    s2, sp2 = cylinder(cv, cx - neck * 1.1, cx + neck * 1.1, rng, spec=0.4)
    cv.paint(cv.cov(poly([(cx - neck * 1.1, y_cap), (cx + neck * 1.1, y_cap), (cx + neck * 1.1, y_nk + 2),
                          (cx - neck * 1.1, y_nk + 2)])), shade(cc, s2, sp2))
    return cv.product(rng)


def glass_tumbler(w, h, rng):
    """A clear drinking glass: alpha 0.5-0.75 in the body, opaque thick base and rims, white highlights."""
    cv = Canvas(w, h)
    cx = w / 2
    t, b = w * rng.uniform(0.38, 0.46), w * rng.uniform(0.28, 0.36)
    y0 = h * rng.uniform(0.05, 0.2)
    body = [(cx - t, y0), (cx + t, y0), (cx + b, h - 1), (cx - b, h - 1)]
    s, sp = cylinder(cv, cx - t, cx + t, rng, spec_w=0.05, spec=1.0)
    tint = np.clip(pick_color(rng, [(200, 220, 215), (215, 215, 220), (190, 205, 225), (225, 210, 180)])
                   + rng.normal(0, 4, 3), 0, 255)
    cov = cv.cov(poly(body))
    a = rng.uniform(0.5, 0.7) + 0.3 * (1 - s)
    cv.paint(cov, shade(tint, 0.8 + 0.2 * s, sp), opacity=np.clip(a, 0, 1))
    th = max(2.0, w * 0.018)
    cv.paint(cv.cov(line([(cx - t, y0), (cx - b, h - 1)], th)), shade(tint * 0.75, s), 0.95)
    cv.paint(cv.cov(line([(cx + t, y0), (cx + b, h - 1)], th)), shade(tint * 0.75, s), 0.95)
    cv.paint(cv.cov(ellipse((cx, y0), (t, max(2, t * 0.08)), th=th)), tint * 0.8, 0.95)
    cv.paint(cv.cov(poly([(cx - b, h - h * 0.09), (cx + b, h - h * 0.09), (cx + b, h - 1), (cx - b, h - 1)])),
             shade(tint * 0.85, s, sp))
    return cv.product(rng)


def mug(w, h, rng, color=None):
    """A tapered mug with a ring handle (its hole shows the backdrop) and a printed logo."""
    cv = Canvas(w, h)
    col = pick_color(rng) if color is None else np.asarray(color, np.float32)
    side = 1 if rng.random() < 0.5 else -1
    bw = w * 0.3
    cx = w / 2 - side * w * 0.08
    top, bot = h * 0.03, h - 1
    tw, bwb = bw, bw * rng.uniform(0.72, 0.95)
    s, sp = cylinder(cv, cx - tw, cx + tw, rng)
    hx = cx + side * (tw * 0.95)
    ring = cv.cov(ellipse((hx, h * 0.48), (w * 0.17, h * 0.24), th=w * rng.uniform(0.045, 0.07)))
    cv.paint(ring, shade(col, 0.6 + 0.3 * s.mean() + grain(w, h, rng, 0.01)))
    bodyc = cv.cov(poly([(cx - tw, top), (cx + tw, top), (cx + bwb, bot), (cx - bwb, bot)]))
    cv.paint(bodyc, shade(col, s + grain(w, h, rng, 0.008), sp))
    cv.paint(cv.cov(ellipse((cx, top + 2), (tw * 0.97, h * 0.025))), shade(col, 0.55 * s))
    lc = (245, 245, 245) if col.mean() < 140 else (30, 40, 60)
    r = w * rng.uniform(0.08, 0.13)
    cv.paint(cv.cov(ellipse((cx, h * 0.5), (r, r), th=max(1.5, w * 0.008))), lc)
    cv.paint(cv.cov(poly([(cx - r * 0.5, h * 0.47), (cx + r * 0.5, h * 0.47), (cx, h * 0.5 + r * 0.5)])), lc)
    return cv.product(rng)


def garment(w, h, rng, color=None, long_sleeves=False):
    """A flat-lay tee: folds, fabric grain, a darker rim, a chest print; white, black, grey or a colour."""
    cv = Canvas(w, h)
    col = pick_color(rng) if color is None else np.asarray(color, np.float32)
    sx, sy = w / 660, h / 740
    sl = [(330, 110), (300, 330), (220, 300)] if not long_sleeves else [(330, 420), (295, 470), (215, 200)]
    shape = [(-120, 10), (-60, 0), (0, 40), (60, 0), (120, 10), sl[0], sl[1], sl[2], (215, 735), (-215, 735),
             (-sl[2][0], sl[2][1]), (-sl[1][0], sl[1][1]), (-sl[0][0], sl[0][1])]
    jit = rng.normal(0, 5, (len(shape), 2))
    pts = [(w / 2 + (x + jx) * sx, max(0.5, min(h - 1, (y + jy) * sy))) for (x, y), (jx, jy) in zip(shape, jit)]
    cov = cv.cov(poly(pts))
    folds = smooth_noise(w, h, rng, w * 0.15, rng.uniform(0.06, 0.16)) + smooth_noise(w, h, rng, w * 0.05, 0.04)
    s = (1.0 + folds) * rim_dark(cv, cov, rng.uniform(0.0, 0.18), w * 0.006) + grain(w, h, rng, 0.015)
    if col.mean() > 225:  # white fabric: shading darkens, highlights stay at the backdrop's level
        s = np.minimum(s, 1.0 + 0.02)
    cv.paint(cov, shade(col, s))
    cv.paint(cv.cov(ellipse((w / 2, 22 * sy), (62 * sx, 40 * sy), a0=0, a1=180)), shade(col, 0.55 + 0.1 * s))
    if rng.random() < 0.7:
        pc = (20, 22, 30) if col.mean() > 128 else (242, 242, 240)
        if rng.random() < 0.3:
            pc = pick_color(rng)
        x0, y0 = w / 2 - 55 * sx, 170 * sy
        cv.paint(cv.cov(poly([(x0, y0), (x0 + 110 * sx, y0), (x0 + 110 * sx, y0 + 150 * sy), (x0, y0 + 150 * sy)])), pc)
        cv.paint(cv.cov(poly([(x0 + 12 * sx, y0 + 12 * sy), (x0 + 98 * sx, y0 + 12 * sy), (x0 + 98 * sx, y0 + 138 * sy),
                              (x0 + 12 * sx, y0 + 138 * sy)])), shade(col, s))
    return cv.product(rng)


def cap(w, h, rng):
    cv = Canvas(w, h)
    crown, brim = pick_color(rng), pick_color(rng)
    cx = w / 2
    cov = cv.cov(ellipse((cx, h * 0.8), (w * 0.4, h * 0.75), a0=180, a1=360))
    sph = np.clip(1 - ((cv.xx - cx) / (w * 0.4)) ** 2 - ((cv.yy - h * 0.8) / (h * 0.75)) ** 2, 0, 1) ** 0.5
    cv.paint(cov, shade(crown, 0.55 + 0.45 * sph + grain(w, h, rng, 0.02), 0.25 * sph ** 8))
    for k in (-1, 1):
        cv.paint(cv.cov(line([(cx, h * 0.06), (cx + k * w * 0.2, h * 0.78)], max(1.0, w * 0.004))), shade(crown, 0.6 + 0 * sph))
    bc = cv.cov(ellipse((cx, h * 0.82), (w * 0.49, h * 0.17)))
    cv.paint(bc, shade(brim, 0.8 + 0.2 * np.clip(1 - np.abs(cv.yy - h * 0.82) / (h * 0.17), 0, 1)))
    cv.paint(cv.cov(ellipse((cx, h * 0.06), (w * 0.03, w * 0.02))), crown * 0.8)
    return cv.product(rng)
