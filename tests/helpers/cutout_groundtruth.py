"""Synthetic ground truth for `skucore.imaging.cutout`: transparent products composited onto white.

Each product is drawn as an RGBA image with an anti-aliased alpha (drawn at 4x and reduced with area averaging),
then composited onto a white backdrop that carries a soft floor shadow, then JPEG-compressed at quality 85..92.
The true alpha is the product's own alpha: the shadow is background.

    from tests.helpers.cutout_groundtruth import groundtruth_set, make_product, composite_on_white
    for case in groundtruth_set(size=1200, seed=0):
        case.name, case.photo (PIL RGB), case.alpha (uint8 HxW)

Everything is seeded: the same arguments give the same bytes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

SS = 4  # supersampling factor for anti-aliased shapes


@dataclass
class GroundTruthCase:
    name: str
    photo: Image.Image  # RGB, white background, JPEG-compressed
    alpha: np.ndarray  # uint8 HxW, the product's true alpha
    rgba: np.ndarray  # uint8 HxWx4, the product as drawn (straight alpha)


# ---------------------------------------------------------------------------------------------------------------
# Drawing helpers: a "layer" is (colour image float32 HxWx3, coverage float32 HxW) at the final size.


class _Canvas:
    """Accumulates shapes painter-style; shapes are rasterised at SS x and area-reduced for anti-aliasing."""

    def __init__(self, size: int):
        self.size = size
        self.color = np.zeros((size, size, 3), np.float32)
        self.alpha = np.zeros((size, size), np.float32)

    def _coverage(self, draw) -> np.ndarray:
        big = np.zeros((self.size * SS, self.size * SS), np.uint8)
        draw(big, SS)
        return cv2.resize(big, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    def paint(self, draw, color, texture: np.ndarray | None = None, erase: bool = False) -> np.ndarray:
        cov = self._coverage(draw)
        if erase:  # cut a hole: coverage removes alpha
            self.alpha *= 1.0 - cov
            return cov
        col = np.broadcast_to(np.asarray(color, np.float32), self.color.shape)
        if texture is not None:
            col = col + texture[..., None] if texture.ndim == 2 else col + texture
        col = np.clip(col, 0, 255)
        # "over" in straight alpha
        a_new = cov + self.alpha * (1 - cov)
        num = col * cov[..., None] + self.color * (self.alpha * (1 - cov))[..., None]
        self.color = np.where(a_new[..., None] > 1e-6, num / np.maximum(a_new, 1e-6)[..., None], col)
        self.alpha = a_new
        return cov

    def rgba(self) -> np.ndarray:
        out = np.zeros((self.size, self.size, 4), np.uint8)
        out[..., :3] = np.clip(self.color + 0.5, 0, 255).astype(np.uint8)
        out[..., 3] = np.clip(self.alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        return out


def _pts(points, ss):
    return (np.asarray(points, np.float64) * ss).round().astype(np.int32)


def _poly(points):
    def draw(img, ss):
        cv2.fillPoly(img, [_pts(points, ss)], 255, lineType=cv2.LINE_8)
    return draw


def _ellipse(center, axes, angle=0.0, thickness=-1, start=0, end=360):
    def draw(img, ss):
        c = tuple(int(round(v * ss)) for v in center)
        ax = tuple(int(round(v * ss)) for v in axes)
        th = -1 if thickness < 0 else max(1, int(round(thickness * ss)))
        cv2.ellipse(img, c, ax, angle, start, end, 255, th, lineType=cv2.LINE_8)
    return draw


def _polyline(points, thickness):
    def draw(img, ss):
        cv2.polylines(img, [_pts(points, ss)], False, 255, max(1, int(round(thickness * ss))), lineType=cv2.LINE_8)
    return draw


def _rect(x0, y0, x1, y1):
    return _poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _shading(size: int, rng: np.random.Generator, amp: float, scale: float) -> np.ndarray:
    """Smooth random shading (folds, lighting), zero-mean, about +-amp."""
    n = max(2, int(size / scale))
    low = rng.normal(0, 1, (n, n)).astype(np.float32)
    sh = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    sh = cv2.GaussianBlur(sh, (0, 0), scale / 4)
    sh /= max(1e-6, float(np.abs(sh).max()))
    return sh * amp


def _grain(size: int, rng: np.random.Generator, amp: float) -> np.ndarray:
    return rng.normal(0, amp, (size, size)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Products. Each returns (rgba uint8, floor_y, floor_x0, floor_x1): where its shadow sits.


def mug(size: int, rng: np.random.Generator, body=(22, 24, 30), logo=(236, 236, 236), handle_side="left"):
    """A tapered mug with a ring handle whose hole shows the background, and a light logo on the body."""
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.47, 0.53)
    top, bot = 330 * s, 860 * s
    wt, wb = 230 * s, 170 * s
    tex = _shading(size, rng, 10, 150 * s) + _grain(size, rng, 1.5)
    hx = cx - 230 * s if handle_side == "left" else cx + 230 * s
    c.paint(_ellipse((hx, 560 * s), (105 * s, 140 * s), thickness=38 * s), body, tex)  # handle ring: hole shows bg
    c.paint(_poly([(cx - wt, top), (cx + wt, top), (cx + wb, bot), (cx - wb, bot)]), body, tex)
    c.paint(_ellipse((cx, bot), (wb, 16 * s)), body, tex)
    c.paint(_rect(cx - 70 * s, 470 * s, cx + 70 * s, 720 * s), logo, _grain(size, rng, 1.5))  # logo frame
    c.paint(_rect(cx - 52 * s, 488 * s, cx + 52 * s, 702 * s), body, tex)
    c.paint(_polyline([(cx - 20 * s, 540 * s), (cx + 5 * s, 560 * s), (cx + 5 * s, 640 * s), (cx + 25 * s, 665 * s)],
                      14 * s), logo)
    return c.rgba(), bot + 10 * s, cx - wb - 40 * s, cx + wb + 40 * s


def tote(size: int, rng: np.random.Generator, color=(226, 214, 192)):
    """A canvas tote (light beige) with two thin handles and a printed circle."""
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.47, 0.53)
    x0, x1, y0, y1 = cx - 300 * s, cx + 300 * s, 480 * s, 1000 * s
    tex = _shading(size, rng, 9, 120 * s) + _grain(size, rng, 3.0)
    for hx in (cx - 140 * s, cx + 140 * s):  # handles: thin arcs, their holes show the background
        c.paint(_ellipse((hx, 480 * s), (70 * s, 190 * s), thickness=16 * s, start=180, end=360), color, tex)
    c.paint(_poly([(x0, y0), (x1, y0), (x1 + 15 * s, y1), (x0 - 15 * s, y1)]), color, tex)
    c.paint(_ellipse((cx, 740 * s), (140 * s, 140 * s), thickness=4 * s), (40, 40, 50))
    c.paint(_poly([(cx - 70 * s, 700 * s), (cx + 70 * s, 700 * s), (cx, 810 * s)]), (225, 70, 90), _grain(size, rng, 2))
    return c.rgba(), y1, x0, x1


def tee(size: int, rng: np.random.Generator, color=(238, 238, 236), outline: float = 18.0, print_color=(30, 34, 48)):
    """A flat-lay T-shirt. Near-white colours make the white-on-white case; `outline` darkens the garment's edge
    the way real packshots show it (seams, the fabric's thickness); 0 makes the hardest case."""
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.48, 0.52)
    shape = [(-120, 230), (-60, 215), (0, 250), (60, 215), (120, 230), (330, 330), (280, 470), (210, 440),
             (215, 960), (-215, 960), (-210, 440), (-280, 470), (-330, 330)]
    pts = [(cx + dx * s, y * s) for dx, y in shape]
    tex = _shading(size, rng, 9, 90 * s) + _shading(size, rng, 4, 30 * s) + _grain(size, rng, 2.0)
    cov = c.paint(_poly(pts), color, tex)
    if outline > 0:  # darken a thin rim inside the edge
        inner = cv2.erode((cov > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(3 * s)))
        rim = cv2.GaussianBlur((1 - inner).astype(np.float32), (0, 0), 1.2 * s + 0.3)
        c.color = np.clip(c.color - outline * rim[..., None], 0, 255)
    c.paint(_rect(cx - 50 * s, 420 * s, cx + 50 * s, 580 * s), print_color)
    c.paint(_rect(cx - 36 * s, 434 * s, cx + 36 * s, 566 * s), color, tex)
    c.paint(_polyline([(cx - 15 * s, 470 * s), (cx, 480 * s), (cx, 530 * s), (cx + 15 * s, 545 * s)], 10 * s),
            print_color)
    return c.rgba(), 960 * s, cx - 230 * s, cx + 230 * s


def bottle_at_edge(size: int, rng: np.random.Generator, color=(40, 110, 190)):
    """A bottle cut off by the frame's bottom and right edges, with a thin hanging cord (a thin part)."""
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.74, 0.80)
    tex = _shading(size, rng, 14, 100 * s) + _grain(size, rng, 2.0)
    c.paint(_polyline([(cx - 40 * s, 300 * s), (cx - 160 * s, 420 * s), (cx - 190 * s, 640 * s)], 4 * s),
            (30, 30, 30))
    c.paint(_rect(cx - 45 * s, 240 * s, cx + 45 * s, 400 * s), (230, 230, 235), _grain(size, rng, 1.5))  # cap
    c.paint(_poly([(cx - 60 * s, 400 * s), (cx + 60 * s, 400 * s), (cx + 340 * s, 560 * s), (cx + 340 * s, size + 50),
                   (cx - 340 * s, size + 50), (cx - 340 * s, 560 * s)]), color, tex)
    c.paint(_rect(cx - 160 * s, 700 * s, cx + 160 * s, 900 * s), (245, 245, 245), _grain(size, rng, 1.5))  # label
    c.paint(_rect(cx - 120 * s, 760 * s, cx + 60 * s, 790 * s), (200, 40, 40))
    return c.rgba(), None, 0, 0


def cap(size: int, rng: np.random.Generator, crown=(28, 28, 30), brim=(30, 60, 200)):
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.47, 0.53)
    tex = _shading(size, rng, 10, 90 * s) + _grain(size, rng, 2.5)
    c.paint(_ellipse((cx, 700 * s), (260 * s, 280 * s), start=180, end=360), crown, tex)
    c.paint(_ellipse((cx, 700 * s), (300 * s, 60 * s)), brim, tex)
    c.paint(_ellipse((cx, 425 * s), (18 * s, 12 * s)), crown, tex)
    c.paint(_rect(cx - 40 * s, 520 * s, cx + 40 * s, 640 * s), (240, 240, 240), _grain(size, rng, 1.5))
    c.paint(_rect(cx - 28 * s, 532 * s, cx + 28 * s, 628 * s), crown, tex)
    return c.rgba(), 760 * s, cx - 300 * s, cx + 300 * s


def grey_speaker(size: int, rng: np.random.Generator, color=(150, 150, 152)):
    """A mid-grey, low-chroma, smooth product: it must not be taken for a shadow. Has a thin antenna."""
    c = _Canvas(size)
    s = size / 1200
    cx = size * rng.uniform(0.45, 0.55)
    tex = _shading(size, rng, 8, 200 * s) + _grain(size, rng, 1.0)
    c.paint(_polyline([(cx + 120 * s, 420 * s), (cx + 220 * s, 180 * s)], 3 * s), (60, 60, 60))
    c.paint(_poly([(cx - 200 * s, 420 * s), (cx + 200 * s, 420 * s), (cx + 200 * s, 900 * s),
                   (cx - 200 * s, 900 * s)]), color, tex)
    c.paint(_ellipse((cx, 650 * s), (120 * s, 120 * s)), (60, 60, 64), tex)
    c.paint(_ellipse((cx, 650 * s), (40 * s, 40 * s)), (200, 200, 204), tex)
    return c.rgba(), 900 * s, cx - 210 * s, cx + 210 * s


PRODUCTS = {
    "mug_black": lambda n, r: mug(n, r),
    "mug_red": lambda n, r: mug(n, r, body=(200, 30, 36), logo=(244, 240, 238), handle_side="right"),
    "mug_white": lambda n, r: mug(n, r, body=(236, 236, 238), logo=(30, 80, 160)),
    "tote": lambda n, r: tote(n, r),
    "tee_black": lambda n, r: tee(n, r, color=(32, 32, 36), outline=0, print_color=(240, 240, 240)),
    "tee_white": lambda n, r: tee(n, r),
    "tee_white_no_outline": lambda n, r: tee(n, r, color=(236, 236, 234), outline=0),
    "bottle_at_edge": lambda n, r: bottle_at_edge(n, r),
    "cap": lambda n, r: cap(n, r),
    "grey_speaker": lambda n, r: grey_speaker(n, r),
}


def make_product(kind: str, size: int = 1200, seed: int = 0) -> np.ndarray:
    """The product `kind` (a key of PRODUCTS) as RGBA uint8 (straight alpha)."""
    rgba, *_ = PRODUCTS[kind](size, np.random.default_rng(seed))
    return rgba


def composite_on_white(rgba: np.ndarray, *, seed: int = 0, shadow: tuple | None = None, shadow_depth: float = 55.0,
                       jpeg_quality: int | None = 88, background=(255, 255, 255)) -> Image.Image:
    """Composite a straight-alpha RGBA product onto a white backdrop with an optional soft floor shadow
    (`shadow` = (floor_y, x0, x1)) and JPEG compression; returns an RGB PIL image."""
    rng = np.random.default_rng(seed)
    h, w = rgba.shape[:2]
    bg = np.empty((h, w, 3), np.float32)
    bg[:] = np.asarray(background, np.float32)
    if shadow is not None:
        fy, x0, x1 = shadow
        sh = np.zeros((h, w), np.float32)
        cx, half = (x0 + x1) / 2, (x1 - x0) / 2
        cv2.ellipse(sh, (int(cx), int(fy)), (int(half * 1.05), int(max(8, half * 0.12))), 0, 0, 360, 1.0, -1,
                    lineType=cv2.LINE_AA)
        sigma = max(4.0, half * rng.uniform(0.08, 0.14))
        sh = cv2.GaussianBlur(sh, (0, 0), sigma)
        sh = sh / max(1e-6, float(sh.max()))
        bg *= (1.0 - (shadow_depth / 255.0) * sh)[..., None]
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * a + bg * (1 - a)
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
    if jpeg_quality:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(jpeg_quality))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def make_case(kind: str, size: int = 1200, seed: int = 0) -> GroundTruthCase:
    rng = np.random.default_rng(seed)
    rgba, fy, x0, x1 = PRODUCTS[kind](size, rng)
    shadow = None if fy is None else (fy, x0, x1)
    q = int(rng.integers(85, 93))
    depth = float(rng.uniform(35, 70))
    photo = composite_on_white(rgba, seed=seed + 1, shadow=shadow, shadow_depth=depth, jpeg_quality=q)
    return GroundTruthCase(f"{kind}#{seed}", photo, rgba[..., 3].copy(), rgba)


def groundtruth_set(size: int = 1200, seed: int = 0, per_kind: int = 2,
                    kinds: list[str] | None = None) -> list[GroundTruthCase]:
    """`per_kind` seeded variants of every product kind."""
    cases = []
    for i, kind in enumerate(kinds or list(PRODUCTS)):
        for j in range(per_kind):
            cases.append(make_case(kind, size, seed * 1000 + i * 10 + j))
    return cases


def iou(mask: np.ndarray, true_alpha: np.ndarray) -> float:
    """IoU of mask > 127 against true_alpha > 127."""
    a, b = mask > 127, true_alpha > 127
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
