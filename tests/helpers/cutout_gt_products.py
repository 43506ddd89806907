"""More procedural products for the cutout ground truth: bags, balls, shoes, headphones, chains, boxes, a model
shot cropped by the frame, a neutral grey speaker; and CATALOG, every kind the ground truth draws. See
cutout_gt_drawing.py for the drawing conventions."""
from __future__ import annotations

import cv2
import numpy as np

from tests.helpers.cutout_gt_drawing import (Canvas, bottle, cap, cylinder, ellipse, garment, glass_tumbler, grain,
                                             line, mug, pick_color, poly, rim_dark, shade, smooth_noise)


def tote(w, h, rng):
    """A canvas tote with two thin handle straps; the loops show the backdrop."""
    cv = Canvas(w, h)
    col = pick_color(rng, [(232, 226, 210), (226, 214, 192), (245, 244, 240), (30, 30, 34), (60, 90, 140)])
    y0 = h * rng.uniform(0.32, 0.42)
    tex = 1 + smooth_noise(w, h, rng, w * 0.2, 0.07) + grain(w, h, rng, 0.03)
    th = w * rng.uniform(0.025, 0.06)
    for hx in (w * 0.33, w * 0.67):
        c = cv.cov(ellipse((hx, y0 + h * 0.02), (w * 0.12, y0 * 0.95), a0=180, a1=360, th=th))
        cv.paint(c, shade(col, 0.85 * tex))
    body = [(w * 0.05, y0), (w * 0.95, y0), (w * 0.99, h - 1), (w * 0.01, h - 1)]
    cov = cv.cov(poly(body))
    cv.paint(cov, shade(col, tex * rim_dark(cv, cov, 0.12, w * 0.01)))
    pc = pick_color(rng)
    cv.paint(cv.cov(ellipse((w / 2, (y0 + h) / 2), (w * 0.18, w * 0.18), th=max(1.5, w * 0.006))), pc)
    cv.paint(cv.cov(poly([(w * 0.42, (y0 + h) / 2 - w * 0.05), (w * 0.58, (y0 + h) / 2 - w * 0.05),
                          (w * 0.5, (y0 + h) / 2 + w * 0.07)])), pc)
    return cv.product(rng)


def backpack(w, h, rng):
    """A backpack seen from the front: rounded body, pocket, zip, a top grab loop (a hole), side straps and a
    thin dangling zip cord."""
    cv = Canvas(w, h)
    col = pick_color(rng)
    tex = 1 + smooth_noise(w, h, rng, w * 0.25, 0.1) + grain(w, h, rng, 0.025)
    cv.paint(cv.cov(ellipse((w / 2, h * 0.1), (w * 0.1, h * 0.08), th=max(2, w * 0.025))), shade(col, 0.7 * tex))
    body = cv.cov(lambda m: cv2.rectangle(m, (int(w * 0.12) << 4, int(h * 0.1) << 4), (int(w * 0.88) << 4, (h - 1) << 4),
                                          255, -1, cv2.LINE_AA, 4))
    body = cv2.GaussianBlur(body, (0, 0), 0.5)
    r = int(w * 0.18)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    body = cv2.morphologyEx(body, cv2.MORPH_OPEN, k)
    cv.paint(body, shade(col, tex * rim_dark(cv, body, 0.2, w * 0.02)))
    for sx in (0.06, 0.94):  # side straps hanging beside the body
        cv.paint(cv.cov(line([(w * sx, h * 0.25), (w * (sx + (0.02 if sx < 0.5 else -0.02)), h * 0.92)],
                             w * rng.uniform(0.02, 0.04))), shade(col, 0.6 * tex))
    pc = pick_color(rng)
    cv.paint(cv.cov(ellipse((w / 2, h * 0.72), (w * 0.28, h * 0.18))), shade(pc, 0.9 * tex))
    cv.paint(cv.cov(line([(w * 0.25, h * 0.6), (w * 0.75, h * 0.6)], max(1, w * 0.006))), (30, 30, 30))
    cv.paint(cv.cov(line([(w * 0.7, h * 0.6), (w * 0.71, h * 0.68), (w * 0.69, h * 0.75)], max(1.2, w * 0.004))),
             (25, 25, 25))
    return cv.product(rng)


def ball(w, h, rng):
    """An exercise ball: sphere shading, a specular spot, seam lines; pale colours included."""
    cv = Canvas(w, h)
    col = pick_color(rng, [(170, 200, 230), (200, 200, 205), (240, 150, 170), (90, 90, 95), (230, 230, 228),
                           (120, 190, 120), (60, 80, 170)])
    cx, cy, R = w / 2, h / 2, min(w, h) / 2 - 1
    nx, ny = (cv.xx - cx) / R, (cv.yy - cy) / R
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    L = np.array([rng.uniform(-0.5, 0.5), -0.6, 0.6])
    L /= np.linalg.norm(L)
    lam = np.clip(nx * L[0] + ny * L[1] + nz * L[2], 0, 1)
    spec = np.clip(lam, 0, 1) ** 40 * rng.uniform(0.5, 1.0)
    cov = cv.cov(ellipse((cx, cy), (R, R)))
    cv.paint(cov, shade(col, 0.35 + 0.7 * lam + grain(w, h, rng, 0.006), spec))
    for a in (-0.4, 0.4):
        cv.paint(cv.cov(ellipse((cx, cy), (R * abs(a) * 1.6, R * 0.98), th=max(1, w * 0.004))), col * 0.6, 0.8)
    return cv.product(rng)


def sneaker(w, h, rng):
    """A side-view sneaker: upper, a white sole (white on white), laces, a swoosh-like stripe."""
    cv = Canvas(w, h)
    col = pick_color(rng)
    upper = [(0.02, 0.78), (0.03, 0.5), (0.2, 0.42), (0.42, 0.2), (0.6, 0.05), (0.72, 0.08), (0.78, 0.35),
             (0.97, 0.5), (0.99, 0.78)]
    tex = 1 + smooth_noise(w, h, rng, w * 0.1, 0.12) + grain(w, h, rng, 0.02)
    cov = cv.cov(poly([(x * w, y * h) for x, y in upper]))
    cv.paint(cov, shade(col, tex * rim_dark(cv, cov, 0.15, w * 0.005)))
    sole = [(0.0, 0.76), (1.0, 0.76), (0.99, 0.93), (0.95, 0.995), (0.04, 0.995), (0.0, 0.9)]
    sc = np.array([245, 245, 243], np.float32) if rng.random() < 0.7 else pick_color(rng)
    cv.paint(cv.cov(poly([(x * w, y * h) for x, y in sole])), shade(sc, 0.93 + 0.07 * tex))
    for i in range(5):
        x = 0.45 + 0.05 * i
        cv.paint(cv.cov(line([(x * w, (0.28 + 0.04 * i) * h), ((x + 0.07) * w, (0.2 + 0.04 * i) * h)],
                             max(1.0, h * 0.015))), (240, 240, 240) if col.mean() < 150 else (30, 30, 30))
    cv.paint(cv.cov(poly([(0.25 * w, 0.65 * h), (0.8 * w, 0.45 * h), (0.6 * w, 0.62 * h)])), pick_color(rng))
    return cv.product(rng)


def headphones(w, h, rng):
    """Over-ear headphones: a thin head band (the space under it shows the backdrop), ear cups and a thin cord."""
    cv = Canvas(w, h)
    col = pick_color(rng, [(25, 25, 28), (235, 235, 235), (150, 150, 155), (200, 40, 50), (60, 90, 160)])
    th = w * rng.uniform(0.03, 0.06)
    cv.paint(cv.cov(ellipse((w / 2, h * 0.55), (w * 0.36, h * 0.48), a0=180, a1=360, th=th)), shade(col, 0.8 + 0 * cv.xx))
    for ex in (0.15, 0.85):
        s, sp = cylinder(cv, w * (ex - 0.13), w * (ex + 0.13), rng, spec=0.5)
        cv.paint(cv.cov(ellipse((w * ex, h * 0.68), (w * 0.13, h * 0.2))), shade(col, s, sp))
    cord = [(w * 0.85, h * 0.86), (w * 0.8, h * 0.95), (w * 0.6, h * 0.99), (w * 0.45, h * 0.9)]
    t = w * rng.uniform(0.004, 0.01)
    cv.paint(cv.cov(line(cord, max(1, t))), col * 0.8, min(1.0, t))
    return cv.product(rng)


def chain(w, h, rng):
    """A necklace: a thin chain (1-4 px) in a V, a pendant."""
    cv = Canvas(w, h)
    metal = pick_color(rng, [(212, 175, 55), (192, 192, 196), (40, 40, 44), (183, 110, 121)])
    t = rng.uniform(1.0, 4.0) * max(1.0, w / 600)
    pts = [(w * 0.05, h * 0.02), (w * 0.2, h * 0.45), (w * 0.5, h * 0.78), (w * 0.8, h * 0.45), (w * 0.95, h * 0.02)]
    xs = np.linspace(0, 1, 60)
    curve = [(float(np.interp(u, np.linspace(0, 1, 5), [p[0] for p in pts])),
              float(np.interp(u, np.linspace(0, 1, 5), [p[1] for p in pts]))) for u in xs]
    cv.paint(cv.cov(line(curve, t)), metal, min(1.0, t / 1.5))
    s, sp = cylinder(cv, w * 0.42, w * 0.58, rng, spec=0.9)
    cv.paint(cv.cov(ellipse((w * 0.5, h * 0.86), (w * 0.08, h * 0.12))), shade(metal, s, sp))
    return cv.product(rng)


def box(w, h, rng):
    """A carton in perspective: three faces lit differently; white cartons make the white-on-white case."""
    cv = Canvas(w, h)
    col = pick_color(rng, [(248, 248, 246), (240, 238, 232), (200, 170, 120), (30, 60, 120), (220, 60, 40)])
    d = rng.uniform(0.15, 0.3)
    front = [(0, h * d), (w * (1 - d), h * d), (w * (1 - d), h - 1), (0, h - 1)]
    top = [(0, h * d), (w * d, 0), (w - 1, 0), (w * (1 - d), h * d)]
    side = [(w * (1 - d), h * d), (w - 1, 0), (w - 1, h * (1 - d)), (w * (1 - d), h - 1)]
    g = grain(w, h, rng, 0.01)
    cv.paint(cv.cov(poly(front)), shade(col, 0.93 + g))
    cv.paint(cv.cov(poly(top)), shade(col, 1.0 + g, 0.1 + 0 * g))
    cv.paint(cv.cov(poly(side)), shade(col, 0.75 + g))
    pc = pick_color(rng)
    cv.paint(cv.cov(poly([(w * 0.1, h * 0.45), (w * 0.6, h * 0.45), (w * 0.6, h * 0.6), (w * 0.1, h * 0.6)])), pc)
    return cv.product(rng)


def speaker(w, h, rng):
    """A neutral mid-grey, smooth product: it must not be taken for a shadow. A thin antenna."""
    cv = Canvas(w, h)
    g = rng.uniform(110, 190)
    col = np.array([g, g, g + rng.uniform(-2, 3)], np.float32)
    cv.paint(cv.cov(line([(w * 0.7, h * 0.2), (w * 0.9, 2)], max(1.5, w * 0.008))), (60, 60, 60))
    body = cv.cov(poly([(w * 0.05, h * 0.2), (w * 0.95, h * 0.2), (w * 0.95, h - 1), (w * 0.05, h - 1)]))
    cv.paint(body, shade(col, 1 + smooth_noise(w, h, rng, w * 0.5, 0.05) + grain(w, h, rng, 0.004)))
    cv.paint(cv.cov(ellipse((w / 2, h * 0.6), (w * 0.28, w * 0.28))), col * 0.45)
    cv.paint(cv.cov(ellipse((w / 2, h * 0.6), (w * 0.09, w * 0.09))), np.minimum(col * 1.3, 255))
    return cv.product(rng)


def model_shot(w, h, rng):
    """A person wearing a tee, cropped by the frame at the bottom (a catalogue model shot): head, hair, neck,
    shoulders and arms; the bottom rows are cut."""
    cv = Canvas(w, h)
    skin = pick_color(rng, [(236, 200, 170), (200, 150, 110), (140, 95, 65), (90, 60, 45)])
    hair = pick_color(rng, [(30, 25, 20), (90, 60, 30), (200, 170, 110), (20, 20, 20)])
    tee_c = pick_color(rng)
    tex = 1 + smooth_noise(w, h, rng, w * 0.15, 0.1) + grain(w, h, rng, 0.015)
    for side in (-1, 1):  # arms
        cv.paint(cv.cov(poly([(w / 2 + side * w * 0.36, h * 0.36), (w / 2 + side * w * 0.47, h * 0.42),
                              (w / 2 + side * w * 0.46, h + 5), (w / 2 + side * w * 0.35, h + 5)])),
                 shade(skin, tex * 0.95))
    torso = [(w * 0.16, h * 0.38), (w * 0.35, h * 0.3), (w * 0.65, h * 0.3), (w * 0.84, h * 0.38),
             (w * 0.93, h * 0.55), (w * 0.82, h * 0.6), (w * 0.8, h + 5), (w * 0.2, h + 5), (w * 0.18, h * 0.6),
             (w * 0.07, h * 0.55)]
    cv.paint(cv.cov(poly([(w * 0.44, h * 0.2), (w * 0.56, h * 0.2), (w * 0.57, h * 0.33), (w * 0.43, h * 0.33)])),
             shade(skin, tex * 0.85))
    cov = cv.cov(poly(torso))
    cv.paint(cov, shade(tee_c, tex * rim_dark(cv, cov, 0.12, w * 0.008)))
    cv.paint(cv.cov(ellipse((w / 2, h * 0.13), (w * 0.1, h * 0.12))), shade(skin, tex))
    cv.paint(cv.cov(ellipse((w / 2, h * 0.09), (w * 0.11, h * 0.09), a0=180, a1=360)), shade(hair, tex))
    return cv.product(rng, floor=False, crop_bottom=True)


# name -> (function(w, h, rng) -> Product, aspect w/h of its box)
CATALOG = {
    "bottle": (bottle, 0.42),
    "glass_bottle": (lambda w, h, r: bottle(w, h, r, glass=True), 0.42),
    "glass_tumbler": (glass_tumbler, 0.8),
    "mug": (mug, 1.25),
    "mug_white": (lambda w, h, r: mug(w, h, r, color=(244, 244, 242)), 1.25),
    "tee": (garment, 0.9),
    "tee_white": (lambda w, h, r: garment(w, h, r, color=(246, 246, 245)), 0.9),
    "longsleeve": (lambda w, h, r: garment(w, h, r, long_sleeves=True), 0.95),
    "cap": (cap, 1.5),
    "tote": (tote, 0.8),
    "backpack": (backpack, 0.75),
    "ball": (ball, 1.0),
    "sneaker": (sneaker, 2.2),
    "headphones": (headphones, 0.95),
    "chain": (chain, 0.8),
    "box": (box, 1.0),
    "speaker": (speaker, 0.7),
    "model_shot": (model_shot, 0.9),
}
FLAT_LAY = {"tee", "tee_white", "longsleeve", "chain"}  # lie on the floor: drop shadows all round, no reflection
