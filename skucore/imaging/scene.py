"""Studio scenes on the CPU: backdrops, product placement, contact shadow, reflection, compositing.

The product's pixels are the photo's own. The cutout is scaled once (Lanczos, premultiplied alpha, which Pillow
does for RGBA) to its placed size; that scaled RGBA is `Scene.scaled_product`, and wherever its alpha is 255 the
scene's pixels are *exactly* its RGB (integer compositing; shadows and reflections are drawn on the backdrop first
and the product goes over them). `skucore.imaging.fidelity` checks that promise on every export.

Backdrops (`backdrop` dict, from a scene template):
- ``{"kind": "white"}``: RGB 255,255,255 exactly (marketplace main images).
- ``{"kind": "gradient", "colours": ["#f4f1ec", "#d9d4cc"]}``: a vertical sweep, top to bottom.
- ``{"kind": "brand", "colour": "#C8102E"}``: a flat brand colour.
- ``{"kind": "surface", "surface": "marble" | "wood" | "linen" | "concrete", "colours": [...]}``: a procedural
  texture from seeded numpy noise.
Colours are "#RRGGBB" strings or (r, g, b) tuples; "color"/"colors" are accepted too. Everything is a pure function
of (backdrop, canvas size, seed).

Shadows (`shadow`, a template field): "drawn" (or true) darkens the backdrop under the product with a contact
shadow consistent with the scene's light; "original" reuses the photo's own floor shadow (`Cutout.shadow`, an
opacity layer in the photo's frame that `cut_out(keep_shadow=True)` returns), scaled and placed with the product;
"none" (or false) draws none. A cutout without a shadow layer gets the drawn shadow. Either shadow darkens the
backdrop only and the product goes over it, so no shadow ever covers a product pixel. A product cut at the bottom
edge (`placement.cut_sides`) stands on nothing: it gets no shadow and no reflection.

Generated scenes: `place_product` gives the init canvas and the inpainting mask; `scene_from_generated` turns a
generator's image (the product pasted back) into a `Scene`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from skucore.base.colour import parse_colour
from skucore.imaging.placement import Placement, composite_rgba, cut_sides, fill_ratio, paste_product, place_scaled
from skucore.imaging.shadows import SHADOW_MODES  # noqa: F401  (re-exported: the template's shadow values)
from skucore.imaging.shadows import (apply_contact_shadow, apply_opacity_shadow, original_shadow_layer, reflection_rgba,
                                     shadow_mode, to_u8)

SURFACES = ("marble", "wood", "linen", "concrete")
BACKDROP_KINDS = ("white", "gradient", "brand", "surface")

_DEFAULT_COLOURS = {
    "gradient": ("#F5F3EF", "#D8D3CB"),
    "brand": ("#E8E4DD",),
    "marble": ("#F2F0EC", "#9A968F"),
    "wood": ("#A0714A", "#6B4429"),
    "linen": ("#E6DCCB", "#CDBFA8"),
    "concrete": ("#B9B7B2", "#8E8C87"),
}


def backdrop_colours(backdrop: dict, default: tuple[str, ...]) -> list[tuple[int, int, int]]:
    vals = None
    for key in ("colours", "colors"):
        if backdrop.get(key):
            vals = list(backdrop[key])
            break
    if vals is None:
        for key in ("colour", "color"):
            if backdrop.get(key):
                vals = [backdrop[key]]
                break
    if vals is None and (backdrop.get("top") or backdrop.get("bottom")):
        vals = [backdrop.get("top") or default[0], backdrop.get("bottom") or default[-1]]
    if not vals:
        vals = list(default)
    return [parse_colour(v) for v in vals]


BRAND_ROLES = ("primary", "secondary", "accent", "text")


def resolve_brand_tokens(backdrop: dict | None, brand_kit: Any = None) -> dict:
    """A backdrop with brand tokens replaced by colours: "brand.primary" (etc.) in `colours`/`colour`, and the
    `{kind: brand, colour: primary|secondary|accent, tint: 0..1}` form (tint mixes toward white). `brand_kit` is
    an object or dict with primary/secondary/accent/text "#RRGGBB"; missing roles use neutral defaults."""
    defaults = {"primary": "#E1251B", "secondary": "#FFFFFF", "accent": "#FFD100", "text": "#1A1A1A"}

    def kit(role: str) -> str:
        v = brand_kit.get(role) if isinstance(brand_kit, dict) else getattr(brand_kit, role, None)
        return v or defaults[role]

    def one(v: Any) -> Any:
        if isinstance(v, str):
            name = v[6:] if v.startswith("brand.") else v
            if name in BRAND_ROLES:
                return kit(name)
        return v

    bd = dict(backdrop or {"kind": "white"})
    for key in ("colours", "colors"):
        if bd.get(key):
            bd[key] = [one(c) for c in bd[key]]
    for key in ("colour", "color"):
        if bd.get(key):
            bd[key] = one(bd[key])
    if bd.get("kind") == "brand":
        if not any(bd.get(k) for k in ("colour", "color", "colours", "colors")):
            bd["colour"] = kit("primary")
        tint = float(bd.pop("tint", 0.0) or 0.0)
        if tint:
            key = next(k for k in ("colour", "color", "colours", "colors") if bd.get(k))
            c = parse_colour(bd[key][0] if isinstance(bd[key], list) else bd[key])
            bd[key] = "#%02X%02X%02X" % tuple(int(round(v + (255 - v) * tint)) for v in c)
    return bd


def _seed_rng(seed: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed) % (1 << 64), salt])


# ----------------------------------------------------------------------------------------------------- backdrops
def _fbm(rng: np.random.Generator, shape: tuple[int, int], base_cells: float, octaves: int,
         persistence: float = 0.5, stretch: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Fractal value noise in [0, 1], float32, HxW. Grid sizes depend on the aspect only, so the same seed gives the
    same pattern at every canvas size."""
    h, w = shape
    longest = max(h, w)
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base_cells * (2 ** o)
        gh = max(2, int(round(cells * h / longest * stretch[0]))) + 2
        gw = max(2, int(round(cells * w / longest * stretch[1]))) + 2
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _lerp(c0, c1, t: np.ndarray) -> np.ndarray:
    c0 = np.asarray(c0, np.float32)
    c1 = np.asarray(c1, np.float32)
    return c0[None, None, :] + (c1 - c0)[None, None, :] * t[..., None]


def make_backdrop(backdrop: dict | None, canvas_size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The backdrop as an HxWx3 uint8 array (a pure function of its arguments)."""
    backdrop = dict(backdrop or {"kind": "white"})
    kind = backdrop.get("kind", "white")
    w, h = int(canvas_size[0]), int(canvas_size[1])
    if kind == "white":
        return np.full((h, w, 3), 255, np.uint8)
    if kind == "brand":
        c = backdrop_colours(backdrop, _DEFAULT_COLOURS["brand"])[0]
        return np.broadcast_to(np.array(c, np.uint8), (h, w, 3)).copy()
    if kind == "gradient":
        cols = backdrop_colours(backdrop, _DEFAULT_COLOURS["gradient"])
        top, bottom = cols[0], cols[-1]
        v = (np.arange(h, dtype=np.float32) + 0.5) / h
        t = v * v * (3 - 2 * v)  # smoothstep: the "sweep" of a paper backdrop
        direction = backdrop.get("direction", "vertical")
        if direction == "vertical":
            rows = _lerp(top, bottom, t[:, None])[:, 0, :]  # (h, 3)
            # soft light fall-off to the sides
            u = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
            img = rows[:, None, :] * (1.0 - 0.06 * (u * u * 4))[None, :, None]
        elif direction == "horizontal":
            u = (np.arange(w, dtype=np.float32) + 0.5) / w
            tu = u * u * (3 - 2 * u)
            cols_ = _lerp(top, bottom, tu[:, None])[:, 0, :]  # (w, 3)
            img = np.broadcast_to(cols_[None, :, :], (h, w, 3)).astype(np.float32)
        elif direction == "radial":
            yy = ((np.arange(h, dtype=np.float32) + 0.5) / h - 0.45)[:, None]
            xx = ((np.arange(w, dtype=np.float32) + 0.5) / w - 0.5)[None, :]
            r = np.clip(np.sqrt(xx * xx + yy * yy) / 0.75, 0, 1)
            img = _lerp(bottom, top, r * r * (3 - 2 * r))  # centre: the last colour, edges: the first
        else:
            raise ValueError(f"gradient direction {direction!r} unknown; valid: vertical, horizontal, radial")
        # a seeded sub-level dither so 8-bit steps do not band
        img = img + (_seed_rng(seed, 1).random((h, w, 1), dtype=np.float32) - 0.5)
        return to_u8(img)
    if kind == "surface":
        surface = backdrop.get("surface", "marble")
        if surface not in SURFACES:
            raise ValueError(f"backdrop surface {surface!r} unknown; valid: {', '.join(SURFACES)}")
        cols = backdrop_colours(backdrop, _DEFAULT_COLOURS[surface])
        if len(cols) == 1:  # one colour given: the texture's second tone is a darker shade of it
            k = 0.62 if surface in ("marble", "wood") else 0.85
            cols = [cols[0], tuple(int(round(c * k)) for c in cols[0])]
        return _surface(surface, tuple(cols), w, h, int(seed)).copy()
    raise ValueError(f"backdrop kind {kind!r} unknown; valid: {', '.join(BACKDROP_KINDS)}")


def _marble(cols, shape, seed):
    h, w = shape
    rng = _seed_rng(seed, 11)
    n = _fbm(rng, shape, 2.5, 5)
    fine = _fbm(rng, shape, 12, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    longest = float(max(h, w))
    phase = (xx * 2.2 + yy * 1.4) / longest * np.pi * 2 + n * 7.0
    vein = np.exp(-np.abs(np.sin(phase)) / 0.07) * (0.45 + 0.55 * fine)
    base, dark = cols[0], cols[-1]
    img = _lerp(base, dark, vein * 0.55)
    img *= (0.97 + 0.05 * n)[..., None]
    return to_u8(img)


def _wood(cols, shape, seed):
    h, w = shape
    rng = _seed_rng(seed, 12)
    n = _fbm(rng, shape, 2.0, 4, stretch=(1.0, 0.25))
    grain = _fbm(rng, shape, 40, 2, stretch=(1.0, 0.05))
    yy = np.arange(h, dtype=np.float32)[:, None] / float(max(h, w))
    rings = 0.5 + 0.5 * np.sin((yy * 9.0 + n * 1.4) * np.pi * 2)
    t = np.clip(0.65 * rings ** 1.5 + 0.35 * grain, 0, 1)
    light, dark = cols[0], cols[-1]
    return to_u8(_lerp(light, dark, t))


def _linen(cols, shape, seed):
    h, w = shape
    rng = _seed_rng(seed, 13)
    period = max(3.0, max(h, w) / 320.0)
    rows = rng.random(h, dtype=np.float32)
    colsn = rng.random(w, dtype=np.float32)
    yy = np.arange(h, dtype=np.float32)
    xx = np.arange(w, dtype=np.float32)
    wy = (0.5 + 0.5 * np.sin(yy / period * np.pi * 2)) * (0.6 + 0.4 * rows)
    wx = (0.5 + 0.5 * np.sin(xx / period * np.pi * 2)) * (0.6 + 0.4 * colsn)
    weave = 0.5 * wy[:, None] + 0.5 * wx[None, :]
    slub = _fbm(rng, shape, 4, 3)
    t = np.clip(0.55 * weave + 0.45 * slub, 0, 1)
    return to_u8(_lerp(cols[0], cols[-1], t * 0.6))


def _concrete(cols, shape, seed):
    h, w = shape
    rng = _seed_rng(seed, 14)
    n = _fbm(rng, shape, 5, 6, persistence=0.6)
    speck = (rng.random(shape, dtype=np.float32) > 0.996).astype(np.float32)
    speck = cv2.GaussianBlur(speck, (0, 0), max(0.6, max(h, w) / 1600.0))
    t = np.clip(0.75 * n + 0.9 * speck, 0, 1)
    return to_u8(_lerp(cols[0], cols[-1], t))


_SURFACE_FUNCS = {"marble": _marble, "wood": _wood, "linen": _linen, "concrete": _concrete}
SURFACE_WORK_SIDE = 1024  # textures are synthesised at most this large, then scaled up (bicubic)


@functools.lru_cache(maxsize=6)
def _surface(surface: str, cols: tuple, w: int, h: int, seed: int) -> np.ndarray:
    scale = min(1.0, SURFACE_WORK_SIDE / max(w, h))
    ww, wh = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
    tex = _SURFACE_FUNCS[surface](list(cols), (wh, ww), seed)
    if (ww, wh) != (w, h):
        tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_CUBIC)
    tex.setflags(write=False)
    return tex


# ---------------------------------------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """A rendered scene. `image` RGB at the canvas size; `product_box` (x0, y0, x1, y1), exclusive end;
    `product_mask` "L" canvas-sized (the placed alpha); `scaled_product` RGBA of the box's size (what fidelity
    compares against and what paste-back uses)."""

    image: Image.Image
    product_box: tuple[int, int, int, int]
    product_mask: Image.Image
    scaled_product: Image.Image
    fill_ratio: float
    backdrop: dict = field(default_factory=dict)
    seed: int = 0

    @property
    def canvas_size(self) -> tuple[int, int]:
        return self.image.size


def render_scene(cutout: Any, backdrop: dict | None, canvas_size: tuple[int, int], *, fill: float, seed: int,
                 shadow: bool | str = True, reflection: bool = False, margin: float = 0.05,
                 product_area: tuple[int, int, int, int] | None = None, cut_edges: str = "flush") -> Scene:
    """Render a studio scene: backdrop, (shadow), (reflection), then the product's own pixels on top.

    `cutout`: `skucore.base.types.Cutout`, RGBA PIL image or HxWx4 uint8 array. `fill` is the product box's fill
    ratio of the canvas; `product_area` (default the canvas) bounds and centres it; `shadow` is a `shadow_mode`
    value; `cut_edges` says what a side cut at the photo's frame does (`placement.cut_sides`). Deterministic in
    all arguments."""
    canvas_size = (int(canvas_size[0]), int(canvas_size[1]))
    backdrop = dict(backdrop or {"kind": "white"})
    mode = shadow_mode(shadow)
    flush = cut_sides(cutout, cut_edges)
    box, scaled, mask = place_scaled(cutout, canvas_size, fill, margin, product_area, flush)
    bg = make_backdrop(backdrop, canvas_size, seed)
    sp = np.asarray(scaled)
    grounded = "bottom" not in flush  # a product cut at the bottom edge stands on nothing
    if grounded and mode == "original":
        layer = original_shadow_layer(cutout, box, canvas_size)
        if layer is not None:
            apply_opacity_shadow(bg, layer)
        else:
            mode = "drawn"
    if grounded and mode == "drawn":
        apply_contact_shadow(bg, sp[..., 3], box)
    if grounded and reflection:
        composite_rgba(bg, reflection_rgba(sp), box[0], box[3])
    composite_rgba(bg, sp, box[0], box[1])
    return Scene(image=Image.fromarray(bg, "RGB"), product_box=box, product_mask=mask, scaled_product=scaled,
                 fill_ratio=fill_ratio(box, canvas_size), backdrop=backdrop, seed=int(seed))


def scene_from_generated(image: Image.Image, placement: Placement, *, backdrop: dict | None = None,
                         seed: int = 0) -> Scene:
    """A `Scene` for a generated image: paste the product back and carry the placement's geometry."""
    out = paste_product(image, placement)
    return Scene(image=out, product_box=placement.product_box, product_mask=placement.product_mask,
                 scaled_product=placement.scaled_product, fill_ratio=placement.fill_ratio,
                 backdrop=dict(backdrop or {}), seed=int(seed))


def place_product(cutout: Any, canvas_size: tuple[int, int], *, fill: float, margin: float = 0.05,
                  product_area: tuple[int, int, int, int] | None = None, background: dict | None = None,
                  seed: int = 0, grow: int = 2, cut_edges: str = "flush") -> Placement:
    """Place the product for an inpainting generator (`SceneRequest.init_image` / `.mask`), cut sides flush as in
    `render_scene`."""
    canvas_size = (int(canvas_size[0]), int(canvas_size[1]))
    box, scaled, mask = place_scaled(cutout, canvas_size, fill, margin, product_area, cut_sides(cutout, cut_edges))
    bg = make_backdrop(background or {"kind": "white"}, canvas_size, seed)
    composite_rgba(bg, np.asarray(scaled), box[0], box[1])
    keep = (np.asarray(mask) == 255).astype(np.uint8)
    if grow > 0:
        keep = cv2.erode(keep, np.ones((3, 3), np.uint8), iterations=int(grow))
    regen = np.where(keep > 0, 0, 255).astype(np.uint8)
    return Placement(init_image=Image.fromarray(bg, "RGB"), mask=Image.fromarray(regen, "L"), product_box=box,
                     product_mask=mask, scaled_product=scaled, fill_ratio=fill_ratio(box, canvas_size))
