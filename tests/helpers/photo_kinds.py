"""Make one test photo of every kind a shop's photo library holds, each from the same reference packshot, with
what a person sees when they open it (the expected pixels) or the reason code it must be refused with.

    python -m tests.helpers.photo_kinds --out /tmp/kinds [--reference packshot.jpg]

writes <kind><suffix>, <kind>.expected.png and kinds.json. Tests call `make_photo_kinds()` directly.

The reference is a real packshot (BSD-3, Spree sample images) cropped to 300x240: not square, so a sideways photo
is caught by its shape as well as its pixels. `naive_is_wrong` marks the hostile kinds: `Image.open(...)
.convert("RGB")` (what the pipeline did before) shows something else, which the tests also check, so a kind that
stopped being hostile (a Pillow change) is noticed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, features

from tests.helpers.icc_profiles import adobe_rgb_profile, cmyk_from_srgb, cmyk_printing_profile, display_p3_profile

PACKSHOT_FOLDERS = (Path(__file__).resolve().parents[2] / "data" / "samples" / "packshots",)
DEFAULT_PACKSHOT = "ruby_hoodie.jpg"  # saturated red: colour-space mistakes show up plainly on it
REFERENCE_SIZE = (300, 240)


@dataclass(frozen=True)
class PhotoKind:
    name: str
    suffix: str
    data: bytes
    expected: np.ndarray | None     # H x W x 3|4 uint8 sRGB, upright; None when the photo must be refused
    reason: str | None = None       # the reason code decoding must give, when expected is None
    max_mean_abs: float = 1.0       # tolerance, 8-bit units; lossy formats get more
    naive_is_wrong: bool = False
    animated: bool = False          # refused with animated="reject"
    description: str = ""


def reference_photo(path: str | os.PathLike | None = None, size: tuple[int, int] = REFERENCE_SIZE) -> Image.Image:
    if path is None:
        folder = next((f for f in PACKSHOT_FOLDERS if (f / DEFAULT_PACKSHOT).exists()), None)
        if folder is None:
            raise FileNotFoundError(f"no {DEFAULT_PACKSHOT} in {', '.join(map(str, PACKSHOT_FOLDERS))}")
        path = folder / DEFAULT_PACKSHOT
    with Image.open(path) as image:
        image = image.convert("RGB")
    # Crop to the target aspect ratio around the centre, then shrink.
    target = size[0] / size[1]
    width, height = image.size
    if width / height > target:
        new_width = round(height * target)
        box = ((width - new_width) // 2, 0, (width - new_width) // 2 + new_width, height)
    else:
        new_height = round(width / target)
        box = (0, (height - new_height) // 2, width, (height - new_height) // 2 + new_height)
    return image.crop(box).resize(size, Image.Resampling.LANCZOS)


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _cv2_encode(suffix: str, array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(suffix, array)
    assert ok, f"OpenCV could not write {suffix}"
    return encoded.tobytes()


def _without_app14(jpeg: bytes) -> bytes:
    """Drop Adobe's APP14 segment from a JPEG (segments before the scan: FFxx + 2-byte length)."""
    out, i = bytearray(jpeg[:2]), 2
    while i < len(jpeg) and jpeg[i] == 0xFF and jpeg[i + 1] != 0xDA:
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if jpeg[i + 1] != 0xEE:
            out += jpeg[i:i + 2 + length]
        i += 2 + length
    return bytes(out + jpeg[i:])


def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.new("RGB", (8, 8), (10, 20, 30)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _srgb_to(profile_bytes: bytes, image: Image.Image) -> Image.Image:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(profile_bytes))
    transform = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), profile, "RGB", "RGB",
                                        ImageCms.Intent.RELATIVE_COLORIMETRIC)
    return ImageCms.applyTransform(image, transform)


# EXIF orientation -> how the camera stored an upright scene (the inverse of the transpose that shows it upright).
_STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def make_photo_kinds(reference: Image.Image | None = None) -> dict[str, PhotoKind]:
    ref = reference if reference is not None else reference_photo()
    rgb = np.asarray(ref.convert("RGB"))
    grey_image = ref.convert("L")
    grey = np.asarray(grey_image)
    grey_rgb = np.repeat(grey[:, :, None], 3, axis=2)
    rng = np.random.default_rng(9)
    # The packshot's near-white background becomes transparent: a cut-out, as shops upload them.
    cut_alpha = np.where(rgb.min(axis=2) > 240, 0, 255).astype(np.uint8)
    cut_alpha[:, :20] = 128  # a half-transparent band: alpha is not only 0 or 255
    kinds: list[PhotoKind] = []

    def add(*args, **kwargs):
        kinds.append(PhotoKind(*args, **kwargs))

    jpeg = _save(ref, "JPEG", quality=95)
    add("jpeg_srgb", ".jpg", jpeg, rgb, max_mean_abs=3.0, description="control: a plain sRGB JPEG")
    for orientation, stored in _STORED_FOR_ORIENTATION.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(f"jpeg_exif_orientation_{orientation}", ".jpg",
            _save(ref.transpose(stored), "JPEG", quality=95, exif=exif.tobytes()), rgb, max_mean_abs=3.0,
            naive_is_wrong=True, description=f"camera JPEG stored turned, EXIF orientation {orientation}")

    # 16 bits: noise below the 8-bit step, so the data really uses 16 bits.
    def widen(values: np.ndarray) -> np.ndarray:
        noise = rng.integers(-100, 101, values.shape)
        return np.clip(values.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)

    grey16 = widen(grey)
    add("png16_grey", ".png", _save(Image.fromarray(grey16), "PNG"), grey_rgb, naive_is_wrong=True,
        description="16-bit greyscale PNG (I;16); a clipping conversion turns it almost all white")
    rgb16 = widen(rgb)
    add("png48_rgb", ".png", _cv2_encode(".png", rgb16[:, :, ::-1]), rgb, description="48-bit RGB PNG")
    rgba16 = np.dstack([rgb16, cut_alpha.astype(np.uint16) * 257])
    add("png64_rgba", ".png", _cv2_encode(".png", rgba16[:, :, [2, 1, 0, 3]]), np.dstack([rgb, cut_alpha]),
        naive_is_wrong=True, description="64-bit RGBA PNG (a cut-out with 16-bit alpha)")
    be16 = Image.frombytes("I;16B", ref.size, grey16.astype(">u2").tobytes())
    add("tiff16_grey_big_endian", ".tif", _save(be16, "TIFF"), grey_rgb, naive_is_wrong=True,
        description="16-bit big-endian greyscale TIFF (I;16B)")
    add("tiff48_rgb", ".tif", _cv2_encode(".tiff", rgb16[:, :, ::-1]), rgb, description="48-bit RGB TIFF")
    add("tiff_float_grey", ".tif", _save(Image.fromarray(grey.astype(np.float32) / 255.0), "TIFF"), grey_rgb,
        naive_is_wrong=True, description="32-bit float greyscale TIFF (mode F, values 0..1)")
    add("tiff_float_rgb", ".tif", _cv2_encode(".tiff", (rgb[:, :, ::-1].astype(np.float32) / 255.0)), rgb,
        naive_is_wrong=True, description="32-bit float RGB TIFF (Pillow cannot open it; read via OpenCV)")

    cmyk_plain = ref.convert("CMYK")
    add("cmyk_jpeg_adobe", ".jpg", _save(cmyk_plain, "JPEG", quality=95), rgb, max_mean_abs=4.0,
        description="CMYK JPEG with Adobe's APP14 marker (inverted polarity, as Photoshop writes)")
    normal_polarity = _without_app14(_save(Image.eval(cmyk_plain, lambda v: 255 - v), "JPEG", quality=95))
    add("cmyk_jpeg_no_adobe_marker", ".jpg", normal_polarity, rgb, max_mean_abs=4.0, naive_is_wrong=True,
        description="CMYK JPEG without APP14: JPEG polarity (0 = no ink)")
    cmyk_icc = np.round(cmyk_from_srgb(rgb / 255.0) * 255).astype(np.uint8)
    add("cmyk_jpeg_icc", ".jpg", _save(Image.fromarray(cmyk_icc, "CMYK"), "JPEG", quality=95,
                                       icc_profile=cmyk_printing_profile()),
        rgb, max_mean_abs=4.0, naive_is_wrong=True, description="CMYK JPEG with its printing profile embedded")
    add("cmyk_tiff", ".tif", _save(cmyk_plain, "TIFF"), rgb, description="CMYK TIFF without a profile")

    palette = ref.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    indices = np.asarray(palette).copy()
    indices[cut_alpha == 0] = 255
    entries = (palette.getpalette() + [0] * 768)[:765] + [0, 0, 0]
    transparent = Image.fromarray(indices, "P")
    transparent.putpalette(entries)
    lookup = np.array(entries, np.uint8).reshape(256, 3)[indices]
    add("palette_png_transparent", ".png", _save(transparent, "PNG", transparency=255),
        np.dstack([lookup, np.where(indices == 255, 0, 255).astype(np.uint8)]), naive_is_wrong=True,
        description="palette PNG with a transparent index (tRNS)")
    add("palette_gif", ".gif", _save(palette, "GIF"), np.asarray(palette.convert("RGB")), max_mean_abs=0.5,
        description="single-frame palette GIF")

    add("grey_jpeg", ".jpg", _save(grey_image, "JPEG", quality=95), grey_rgb, max_mean_abs=3.0,
        description="8-bit greyscale JPEG (L)")
    grey_alpha = Image.merge("LA", [grey_image, Image.fromarray(cut_alpha)])
    add("grey_alpha_png", ".png", _save(grey_alpha, "PNG"), np.dstack([grey_rgb, cut_alpha]), naive_is_wrong=True,
        description="greyscale + alpha PNG (LA)")
    bilevel = grey_image.convert("1", dither=Image.Dither.NONE)
    add("bilevel_png", ".png", _save(bilevel, "PNG"), np.repeat(np.asarray(bilevel.convert("L"))[:, :, None], 3, 2),
        max_mean_abs=0.0, description="1-bit PNG")
    rgba = Image.fromarray(np.dstack([rgb, cut_alpha]))
    add("rgba_png", ".png", _save(rgba, "PNG"), np.asarray(rgba), max_mean_abs=0.0, naive_is_wrong=True,
        description="RGBA cut-out PNG")

    add("adobe_rgb_jpeg", ".jpg", _save(_srgb_to(adobe_rgb_profile(), ref), "JPEG", quality=95,
                                        icc_profile=adobe_rgb_profile()),
        rgb, max_mean_abs=3.0, naive_is_wrong=True, description="Adobe RGB (1998) JPEG with its profile")
    add("display_p3_png", ".png", _save(_srgb_to(display_p3_profile(), ref), "PNG", icc_profile=display_p3_profile()),
        rgb, max_mean_abs=1.5, naive_is_wrong=True, description="Display P3 PNG (an iPhone photo) with its profile")

    add("webp_lossless", ".webp", _save(ref, "WEBP", lossless=True), rgb, max_mean_abs=0.0, description="WebP")
    if features.check("avif"):
        add("avif", ".avif", _save(ref, "AVIF", quality=90), rgb, max_mean_abs=4.0, description="AVIF")

    second = Image.eval(ref, lambda v: 255 - v)  # frame 2 differs everywhere: taking it would be caught
    gif_frames = [ref.quantize(colors=256, method=Image.Quantize.MEDIANCUT),
                  second.quantize(colors=256, method=Image.Quantize.MEDIANCUT)]
    add("animated_gif", ".gif", _save(gif_frames[0], "GIF", save_all=True, append_images=gif_frames[1:],
                                      duration=200, loop=0, optimize=False),
        np.asarray(gif_frames[0].convert("RGB")), max_mean_abs=0.5, animated=True, description="2-frame GIF")
    add("animated_webp", ".webp", _save(ref, "WEBP", save_all=True, append_images=[second], duration=200,
                                        lossless=True),
        rgb, max_mean_abs=0.0, animated=True, description="2-frame lossless animated WebP")
    add("animated_png", ".png", _save(ref, "PNG", save_all=True, append_images=[second], duration=200), rgb,
        max_mean_abs=0.0, animated=True, description="2-frame APNG")
    add("tiff_two_pages", ".tif", _save(ref, "TIFF", save_all=True, append_images=[second]), rgb,
        max_mean_abs=0.0, description="2-page TIFF: pages are not an animation, the first page is the photo")

    add("truncated_jpeg", ".jpg", jpeg[: len(jpeg) // 2], None, "photo_corrupt", description="JPEG cut in half")
    png = _save(ref, "PNG")
    add("truncated_png", ".png", png[: len(png) * 2 // 3], None, "photo_corrupt", description="PNG cut short")
    add("html_error_page", ".jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>", None,
        "photo_not_an_image", description="an error page saved under a .jpg name")
    add("empty_file", ".jpg", b"", None, "photo_not_an_image", description="zero bytes")
    add("pixel_bomb_png", ".png", _png_claiming(20_000, 20_000), None, "photo_too_many_pixels",
        description="a tiny PNG whose header claims 20000x20000 pixels")
    return {kind.name: kind for kind in kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--reference", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for kind in make_photo_kinds(reference_photo(args.reference)).values():
        (args.out / f"{kind.name}{kind.suffix}").write_bytes(kind.data)
        if kind.expected is not None:
            Image.fromarray(kind.expected).save(args.out / f"{kind.name}.expected.png")
        manifest.append({"name": kind.name, "file": f"{kind.name}{kind.suffix}", "reason": kind.reason,
                         "max_mean_abs": kind.max_mean_abs, "naive_is_wrong": kind.naive_is_wrong,
                         "animated": kind.animated, "description": kind.description})
    (args.out / "kinds.json").write_text(json.dumps(manifest, indent=2))
    print(f"{len(manifest)} photo kinds written to {args.out}")


if __name__ == "__main__":
    main()
