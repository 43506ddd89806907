"""Product placement on a canvas: where the cutout goes (`placement_box`), at what size (`scale_product`: Lanczos
on premultiplied alpha), and integer compositing that keeps the product's own pixels wherever alpha is 255
(`composite_rgba`). `place_product` prepares a generated scene (init canvas, inpainting mask, scaled product) and
`paste_product` puts the product's own pixels back over whatever a generator returned.

Fill ratio: ``max(box_w / canvas_w, box_h / canvas_h)`` of the product's bounding box, see `skucore.base.platforms`.

Products cut at the frame edge (`Cutout.edges_touched`: a model shot cut at the legs, a bust, a sleeve cut at the
side) never float with a cut edge in mid-air. With `cut_edges="flush"` (the default; a template's `cut_edges`
field) each cut side lies on that side of the product area, which is the canvas edge unless an overlay band is
there (`typography.overlay_layout(..., flush=...)` moves its bands off the cut sides):
- cut at the bottom (a bust, a model cut at the legs): sits on the bottom edge, centred across, sized by `fill`;
- cut at the left or right: flush with that side, centred vertically, sized by `fill`;
- cut at the top only (a model shot cropped at the face, feet in frame): hangs from the top edge and reaches down
  to the floor line (the bottom margin), so the feet stand on the floor; narrower if its width binds;
- cut at two opposite sides: spans the area between them; where the other dimension cannot fit, it is fitted and
  the bottom (resp. left) side stays flush;
- no margin on a flush side; the other sides keep theirs.
`cut_edges="ignore"` centres the product as if it were whole (for photos whose edge contact is an accident).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

WHITE = (255, 255, 255)
SIDES = ("left", "top", "right", "bottom")
CUT_EDGE_MODES = ("flush", "ignore")
MIN_EDGE_PIXELS = 2  # as `cut_out`: a side is cut when at least this many pixels of mask > 127 lie on it


def cut_sides(cutout: Any, mode: str = "flush") -> tuple[str, ...]:
    """The sides of the frame the product is cut at and that the placement keeps flush (see the module docstring):
    `Cutout.edges_touched`, or for an RGBA image / array the sides its alpha reaches (>= 2 px of alpha > 127)."""
    if mode not in CUT_EDGE_MODES:
        raise ValueError(f"cut_edges={mode!r} unknown; valid: {', '.join(CUT_EDGE_MODES)}")
    if mode == "ignore":
        return ()
    if hasattr(cutout, "edges_touched"):
        edges = tuple(getattr(cutout, "edges_touched") or ())
    else:
        if isinstance(cutout, Image.Image):
            alpha = np.asarray(cutout.convert("RGBA").getchannel("A"))
        elif isinstance(cutout, np.ndarray) and cutout.ndim == 3 and cutout.shape[2] == 4:
            alpha = cutout[..., 3]
        else:
            return ()
        on = alpha > 127
        rows = {"left": on[:, 0], "top": on[0], "right": on[:, -1], "bottom": on[-1]}
        edges = tuple(side for side in SIDES if int(rows[side].sum()) >= MIN_EDGE_PIXELS)
    unknown = set(edges) - set(SIDES)
    if unknown:
        raise ValueError(f"unknown cut side(s) {sorted(unknown)}; valid: {', '.join(SIDES)}")
    return tuple(side for side in SIDES if side in edges)


def cutout_crop(cutout: Any) -> Image.Image:
    """The product's bounding box as RGBA. Accepts `skucore.base.types.Cutout` (or anything with `cropped_rgba()`),
    an RGBA `PIL.Image` (cropped to its alpha's bounding box) or an HxWx4 uint8 array."""
    if hasattr(cutout, "cropped_rgba"):
        im = cutout.cropped_rgba()
    elif isinstance(cutout, Image.Image):
        im = cutout.convert("RGBA") if cutout.mode != "RGBA" else cutout
        box = im.getchannel("A").getbbox()
        if box is None:
            raise ValueError("cutout has an empty alpha channel")
        im = im.crop(box)
    elif isinstance(cutout, np.ndarray) and cutout.ndim == 3 and cutout.shape[2] == 4:
        return cutout_crop(Image.fromarray(np.ascontiguousarray(cutout, dtype=np.uint8), "RGBA"))
    else:
        raise TypeError(f"cannot use {type(cutout).__name__} as a cutout")
    if im.mode != "RGBA":
        im = im.convert("RGBA")
    if im.width < 1 or im.height < 1:
        raise ValueError("cutout has an empty bounding box")
    return im


def placement_box(product_size: tuple[int, int], canvas_size: tuple[int, int], *, fill: float,
                  margin: float = 0.05, product_area: tuple[int, int, int, int] | None = None,
                  flush: tuple[str, ...] | list[str] = ()) -> tuple[int, int, int, int]:
    """Where the scaled product goes: (x0, y0, x1, y1), exclusive end. Scaled so that its fill ratio of the
    *canvas* (``max(w / W, h / H)``) is `fill`, but shrunk where needed to stay `margin` x canvas side inside
    `product_area` (default the canvas; overlays reserve bands outside it); centred in that area. Sides named in
    `flush` (the product's cut sides) lie on the area's edge instead (see the module docstring)."""
    bw, bh = product_size
    cw, ch = canvas_size
    if bw < 1 or bh < 1:
        raise ValueError(f"product size {product_size} is empty")
    if not (0 < fill <= 1):
        raise ValueError(f"fill={fill} must be in (0, 1]")
    unknown = set(flush) - set(SIDES)
    if unknown:
        raise ValueError(f"flush side(s) {sorted(unknown)} unknown; valid: {', '.join(SIDES)}")
    left, top, right, bottom = (side in flush for side in SIDES)
    ax0, ay0, ax1, ay1 = product_area if product_area is not None else (0, 0, cw, ch)
    aw, ah = ax1 - ax0, ay1 - ay0
    inner_w = max(1.0, aw - (0 if left else margin * cw) - (0 if right else margin * cw))
    inner_h = max(1.0, ah - (0 if top else margin * ch) - (0 if bottom else margin * ch))
    fit = min(inner_w / bw, inner_h / bh)
    s = min(fill * min(cw / bw, ch / bh), fit)
    if left and right:
        s = min(aw / bw, inner_h / bh)
    if top and bottom:
        s = min(ah / bh, inner_w / bw) if not (left and right) else min(aw / bw, ah / bh)
    elif top:  # hangs from the top edge down to the floor line
        s = fit if not (left and right) else s
    w = max(1, min(int(round(bw * s)), int(inner_w)))
    h = max(1, min(int(round(bh * s)), int(inner_h)))
    if left:
        x0 = ax0
    elif right:
        x0 = ax1 - w
    else:
        x0 = ax0 + (aw - w) // 2
    if bottom:
        y0 = ay1 - h
    elif top:
        y0 = ay0
    else:
        y0 = ay0 + (ah - h) // 2
    return (x0, y0, x0 + w, y0 + h)


def fill_ratio(box: tuple[int, int, int, int], canvas_size: tuple[int, int]) -> float:
    x0, y0, x1, y1 = box
    return max((x1 - x0) / canvas_size[0], (y1 - y0) / canvas_size[1])


def bbox_area_ratio(box: tuple[int, int, int, int], canvas_size: tuple[int, int]) -> float:
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0) / float(canvas_size[0] * canvas_size[1])


def scale_product(crop: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The one resize of the product: Lanczos on premultiplied alpha (Pillow does RGBA -> RGBa -> RGBA)."""
    if crop.size == tuple(size):
        return crop.copy()
    return crop.resize(tuple(size), Image.Resampling.LANCZOS)


def composite_rgba(base: np.ndarray, fg: np.ndarray, x0: int, y0: int) -> None:
    """Composite RGBA `fg` over RGB `base` in place at (x0, y0), integer arithmetic, clipped to the canvas.
    Where fg alpha is 255 the result is exactly fg's RGB."""
    H, W = base.shape[:2]
    h, w = fg.shape[:2]
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    f = fg[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    b = base[cy0:cy1, cx0:cx1]
    a = f[..., 3:4].astype(np.uint16)
    # x = fg*a + bg*(255-a) <= 65025 fits uint16; round(x / 255) == (x + 127) // 255 == ((t + (t >> 8)) >> 8)
    # with t = x + 128 (exact for 0 <= x <= 65025), so alpha 255 gives fg exactly.
    t = f[..., :3].astype(np.uint16) * a
    t += b.astype(np.uint16) * (255 - a)
    t += 128
    t += t >> 8
    t >>= 8
    b[...] = t.astype(np.uint8)


# ------------------------------------------------------------------------------------------- shadow / reflection
def place_scaled(cutout: Any, canvas_size, fill, margin, product_area, flush: tuple[str, ...] = ()):
    """(box, scaled RGBA, canvas-sized "L" mask) of the product placed by `placement_box`."""
    crop = cutout_crop(cutout)
    box = placement_box(crop.size, canvas_size, fill=fill, margin=margin, product_area=product_area, flush=flush)
    scaled = scale_product(crop, (box[2] - box[0], box[3] - box[1]))
    mask = Image.new("L", tuple(canvas_size), 0)
    mask.paste(scaled.getchannel("A"), box[:2])
    return box, scaled, mask


@dataclass
class Placement:
    """Input for a generated scene: `init_image` RGB (product placed on `background`), `mask` "L" with
    white = regenerate (everything but the product's fully opaque interior, grown by `grow` px into the product so
    the model can blend the edge; paste-back restores it) and black = keep."""

    init_image: Image.Image
    mask: Image.Image
    product_box: tuple[int, int, int, int]
    product_mask: Image.Image
    scaled_product: Image.Image
    fill_ratio: float

    @property
    def canvas_size(self) -> tuple[int, int]:
        return self.init_image.size


def paste_product(image: Image.Image, placed: Any) -> Image.Image:
    """Put the product's own pixels back over a generated scene (alpha composite). A scene of another size is
    first resized to the placement's canvas (Lanczos)."""
    size = placed.canvas_size if isinstance(placed, Placement) else placed.image.size
    im = image.convert("RGB") if image.mode != "RGB" else image
    if im.size != size:
        im = im.resize(size, Image.Resampling.LANCZOS)
    arr = np.array(im, dtype=np.uint8)
    x0, y0 = placed.product_box[:2]
    composite_rgba(arr, np.asarray(placed.scaled_product), x0, y0)
    return Image.fromarray(arr, "RGB")
