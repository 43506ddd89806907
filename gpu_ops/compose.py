"""Putting the product's own pixels back over a generated scene (one implementation for every backend).

Mask convention (as `skucore.base.types.SceneRequest`): an "L" image, white (255) = regenerate (background),
black (0) = keep (product); values in between are the product's anti-aliased edge, with product opacity
`(255 - mask) / 255`.

Guarantees of `paste_product`:
- every pixel whose mask is 0 equals the original pixel exactly (bytes, not "close");
- edge pixels (0 < mask < 255) are the alpha blend of original and scene;
- the feathered seam and the contact shadow touch only pixels whose mask is non-zero (background side).

Latent cells: Z-Image's VAE works on 8 x 8 pixel cells and the inpaint pipelines binarise the mask per cell
(nearest neighbour), so a kept region snaps to cells. `latent_safe_mask` shrinks the kept region by a cell
before the model sees it (the model repaints the product's outer ring, which the paste-back replaces), and the
default feather (`DEFAULT_FEATHER_PX`) is wider than a cell, so no cell-sized halo of the canvas survives.

Only numpy, Pillow and OpenCV: no torch here, so the CPU renderer and the tests can use it directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

LATENT_CELL_PX = 8  # the VAE's downscale factor: one latent pixel covers 8 x 8 image pixels
DEFAULT_FEATHER_PX = 12.0  # wider than a latent cell


@dataclass(frozen=True)
class ShadowSpec:
    """A soft elliptical contact shadow under the product's footprint, drawn on the background only.
    `strength` is the darkening at the centre (0..1); sizes are fractions of the product's bounding box;
    `dx_frac` moves the shadow sideways (a fraction of the box width, + = right: away from a light on the
    left)."""

    strength: float = 0.35
    width_frac: float = 0.9
    height_frac: float = 0.08
    blur_frac: float = 0.04
    dx_frac: float = 0.0


def _as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[2] < 3:
            raise ValueError(f"expected an HxWx3 uint8 array, got shape {arr.shape}")
        return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8, copy=False))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _as_mask_array(mask: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        arr = mask
        if arr.ndim == 3:
            arr = arr[:, :, 0]
        return arr.astype(np.uint8, copy=False)
    return np.asarray(mask.convert("L"), dtype=np.uint8)


def product_bbox(mask: Image.Image | np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive end, of the pixels the mask keeps (mask < 255); None if there are none."""
    m = _as_mask_array(mask)
    ys, xs = np.nonzero(m < 255)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def contact_shadow_map(mask: Image.Image | np.ndarray, spec: ShadowSpec = ShadowSpec()) -> np.ndarray:
    """Darkening factor in [0, strength] (float32 HxW) for a contact shadow under the product."""
    import cv2

    m = _as_mask_array(mask)
    h, w = m.shape
    shadow = np.zeros((h, w), np.float32)
    box = product_bbox(m)
    if box is None or spec.strength <= 0:
        return shadow
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx, cy = (x0 + x1 - 1) / 2.0 + spec.dx_frac * bw, float(y1 - 1)
    axes = (max(1, int(round(bw * spec.width_frac / 2))), max(1, int(round(bh * spec.height_frac))))
    cv2.ellipse(shadow, (int(round(cx)), int(round(cy))), axes, 0, 0, 360, 1.0, thickness=-1)
    sigma = max(0.8, spec.blur_frac * max(bw, bh))
    shadow = cv2.GaussianBlur(shadow, (0, 0), sigmaX=sigma, sigmaY=sigma)
    peak = float(shadow.max())
    if peak > 0:
        shadow = shadow / peak
    return (shadow * float(spec.strength)).astype(np.float32)


def _nearest_product_colours(original: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the colour of the nearest fully kept product pixel and the distance to it."""
    import cv2

    src = np.where(keep, 0, 255).astype(np.uint8)
    dist, labels = cv2.distanceTransformWithLabels(
        src, cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # With DIST_LABEL_PIXEL every zero pixel gets its own label, numbered 1.. in row-major scan order.
    ys, xs = np.nonzero(keep)
    lut_colours = np.zeros((len(ys) + 1, 3), np.float32)
    lut_colours[1:] = original[ys, xs].astype(np.float32)
    return lut_colours[labels], dist.astype(np.float32)


def pad_to_multiple(img: Image.Image, multiple: int, fill_mask: bool) -> Image.Image:
    """`img` padded right/bottom to multiples of `multiple`: masks with white (regenerate), images with
    their edge pixels (never stretched)."""
    w, h = img.size
    pw, ph = math.ceil(w / multiple) * multiple, math.ceil(h / multiple) * multiple
    if (pw, ph) == (w, h):
        return img
    arr = np.asarray(img)
    pad = ((0, ph - h), (0, pw - w)) + (((0, 0),) if arr.ndim == 3 else ())
    out = np.pad(arr, pad, mode="constant", constant_values=255) if fill_mask else np.pad(arr, pad, mode="edge")
    return Image.fromarray(out, img.mode)


def latent_safe_mask(mask: Image.Image, cell: int = LATENT_CELL_PX) -> Image.Image:
    """The mask to hand the model: the kept (product) region shrunk by one latent cell, so that after the
    pipeline snaps it to cells no kept cell holds canvas outside the product (which would come back as a
    halo of the canvas colour). The product's own pixels are pasted back afterwards, so nothing of the
    product is lost."""
    import cv2

    m = np.asarray(mask.convert("L"), dtype=np.uint8)
    keep = (m < 128).astype(np.uint8)
    if cell > 0 and keep.any():
        keep = cv2.erode(keep, np.ones((2 * cell + 1, 2 * cell + 1), np.uint8), borderType=cv2.BORDER_CONSTANT,
                         borderValue=0)
    return Image.fromarray(np.where(keep.astype(bool), 0, 255).astype(np.uint8), "L")


def paste_product(
    generated: Image.Image | np.ndarray,
    original: Image.Image | np.ndarray,
    mask: Image.Image | np.ndarray,
    feather_px: float = DEFAULT_FEATHER_PX,
    feather_strength: float = 0.5,
    shadow: ShadowSpec | None = None,
) -> Image.Image:
    """Composite the product's original pixels over a generated scene and return an RGB image.

    `generated` is the scene (RGB), `original` the canvas with the product placed (RGB), `mask` "L" with
    white = regenerated background, black = product. Pixels with mask 0 come back exactly as in
    `original`. `feather_px` > 0 fades the product's own edge colours into the scene over that many pixels
    on the background side (at most `feather_strength` of the way), hiding the step between the exact
    product and the model's reconstruction of it. `shadow` adds a contact shadow on the background.
    """
    gen = _as_rgb_array(generated)
    orig = _as_rgb_array(original)
    m = _as_mask_array(mask)
    if gen.shape != orig.shape or m.shape != orig.shape[:2]:
        raise ValueError(
            f"size mismatch: generated {gen.shape[1]}x{gen.shape[0]}, original {orig.shape[1]}x{orig.shape[0]}, "
            f"mask {m.shape[1]}x{m.shape[0]}"
        )
    keep = m == 0
    if not keep.any() and not (m < 255).any():
        return Image.fromarray(gen.copy(), "RGB")

    bg = gen.astype(np.float32)
    if shadow is not None:
        s = contact_shadow_map(m, shadow)
        bg *= (1.0 - s)[:, :, None]
    if feather_px > 0 and feather_strength > 0 and keep.any():
        ext, dist = _nearest_product_colours(orig, keep)
        w = np.clip(1.0 - (dist - 1.0) / float(feather_px), 0.0, 1.0) * float(feather_strength)
        w[keep] = 0.0
        bg = bg * (1.0 - w[:, :, None]) + ext * w[:, :, None]
    alpha = (255.0 - m.astype(np.float32)) / 255.0
    out = orig.astype(np.float32) * alpha[:, :, None] + bg * (1.0 - alpha[:, :, None])
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    # Exactness where the product is fully opaque (no float round trip, whatever the arithmetic above did).
    out[keep] = orig[keep]
    return Image.fromarray(out, "RGB")


def place_product(
    canvas_size: tuple[int, int],
    product_rgba: Image.Image,
    product_box: tuple[int, int, int, int],
) -> tuple[Image.Image, Image.Image]:
    """Place an RGBA product into `product_box` (x0, y0, x1, y1, exclusive end) of a canvas of `canvas_size`
    (w, h). Returns (canvas RGB with the product over black, mask "L" white = background). The product is
    resized with Lanczos only if its size differs from the box."""
    w, h = canvas_size
    x0, y0, x1, y1 = (int(v) for v in product_box)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 0 or bh <= 0:
        raise ValueError(f"empty product box {product_box}")
    prod = product_rgba.convert("RGBA")
    if prod.size != (bw, bh):
        prod = prod.resize((bw, bh), Image.LANCZOS)
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    canvas.paste(prod.convert("RGB"), (x0, y0))
    alpha = Image.new("L", (w, h), 0)
    alpha.paste(prod.getchannel("A"), (x0, y0))
    mask = Image.eval(alpha, lambda v: 255 - v)
    return canvas, mask


def upscale_cpu(image: Image.Image, target_size: tuple[int, int], radius: float = 1.2, percent: int = 60,
                threshold: int = 2) -> Image.Image:
    """Lanczos resample to `target_size` (w, h), then an unsharp mask."""
    out = image.convert("RGB").resize(tuple(target_size), Image.LANCZOS)
    if out.size[0] > image.size[0] or out.size[1] > image.size[1]:
        out = out.filter(ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=threshold))
    return out


def upscale_scene(
    image: Image.Image,
    target_size: tuple[int, int],
    product_rgba: Image.Image | None,
    product_box: tuple[int, int, int, int] | None,
    method: str = "cpu",
    refiner=None,
    feather_px: float = DEFAULT_FEATHER_PX,
) -> Image.Image:
    """Enlarge a generated scene to `target_size` (w, h) and paste the product back at that scale.

    `product_rgba` is the product (RGBA, ideally the high-resolution cutout) and `product_box` its box in
    the TARGET pixels. `method`: "cpu" = Lanczos + unsharp mask; "img2img" = the CPU enlargement followed
    by `refiner(enlarged_rgb) -> RGB image of the same size` (an img2img pass from a low noise level, see
    `ZImageBackend.refine`), then the product pasted back again. Product pixels with alpha 255 come back
    exactly as `product_rgba` (after resizing it to the box, if its size differs).
    """
    if method not in ("cpu", "img2img"):
        raise ValueError(f"upscale method must be 'cpu' or 'img2img', got {method!r}")
    big = upscale_cpu(image, target_size)
    if method == "img2img":
        if refiner is None:
            raise ValueError("upscale method 'img2img' needs a refiner (a loaded ZImageBackend)")
        big = refiner(big)
        if big.size != tuple(target_size):
            big = big.resize(tuple(target_size), Image.LANCZOS)
    if product_rgba is None or product_box is None:
        return big.convert("RGB")
    canvas, mask = place_product(tuple(target_size), product_rgba, product_box)
    return paste_product(big, canvas, mask, feather_px=feather_px, shadow=None)


def restore_low_frequencies(refined: Image.Image, original: Image.Image, radius_px: float = 2 * LATENT_CELL_PX,
                            passes: int = 4) -> Image.Image:
    """`refined` with its low frequencies (a Gaussian of `radius_px`) replaced by `original`'s: the fine
    detail of a refine pass on the composition, colours and light of its input. One pass leaves what the blur
    only half removes (mid frequencies); each further pass halves that again."""
    import cv2

    target = np.asarray(original.convert("RGB").resize(refined.size, Image.LANCZOS), dtype=np.float32)
    out = np.asarray(refined.convert("RGB"), dtype=np.float32)
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigmaX=radius_px, sigmaY=radius_px)  # noqa: E731
    low_target = blur(target)
    for _ in range(max(1, passes)):
        out = np.clip(out + low_target - blur(out), 0, 255)
    return Image.fromarray(np.rint(out).astype(np.uint8), "RGB")
