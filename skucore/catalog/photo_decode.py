"""A product photo's bytes -> 8-bit sRGB pixels as a person sees the photo in a browser or a photo viewer.

`Image.open(...).convert("RGB")` is not that: it ignores the EXIF orientation (a phone photo published sideways),
clips 16-bit grey at 255 (a 16-bit PNG turns 96% white), ignores embedded ICC profiles (Adobe RGB and Display P3
photos come out dull, CMYK ones garish), and decodes Photoshop's inverted CMYK JPEGs only by luck. `decode_photo`
does each step deliberately and reports what it found, so a catalog row can say why its photo looks as it does.

Steps: header first (size checked against `max_pixels` before any pixel is decoded), first frame only (animations
are taken at their first frame or refused), full decode (truncated data is an error, never padded), bit depth
scaled (not clipped) to 8 bits, colour converted through the embedded ICC profile to sRGB with LittleCMS (Pillow's
ImageCms), EXIF orientation applied last (the same mapping as `ImageOps.exif_transpose`).

Errors raise `PhotoDecodeError` with a reason code: photo_not_an_image, photo_corrupt, photo_too_many_pixels,
photo_animated (with animated="reject"), photo_unsupported (an image mode no viewer shows either).
"""
from __future__ import annotations

import functools
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFile

from skucore.catalog.image_sniff import sniff_image_type

__all__ = ["DecodedPhoto", "PhotoDecodeError", "decode_photo", "DECODE_REASONS"]

DECODE_REASONS = ("photo_not_an_image", "photo_corrupt", "photo_too_many_pixels", "photo_animated",
                  "photo_unsupported")

# Formats whose extra frames are an animation. Extra frames of a TIFF (pages, thumbnails) or an MPO (a camera's
# depth map or HDR gain map) are not: those always give their first frame, even with animated="reject".
_ANIMATION_FORMATS = {"GIF", "PNG", "WEBP", "AVIF"}

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the photo upright (the table in ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PROFILE_SPACE_FOR_MODE = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}
_DECODE_ERRORS = (OSError, EOFError, SyntaxError, ValueError, struct.error, zlib.error, IndexError, TypeError)


class PhotoDecodeError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DecodedPhoto:
    """`pixels`: H x W x 3 (RGB) or H x W x 4 (RGBA, only when some pixel is not opaque), uint8, sRGB, upright."""

    pixels: np.ndarray
    format: str | None         # Pillow's name for the container: JPEG, PNG, WEBP ...
    original_mode: str         # the mode Pillow decoded: I;16, CMYK, P, LA ...
    bit_depth: int             # bits per channel in the file (1, 8, 16, 32)
    had_icc: bool              # an ICC profile was embedded
    icc_applied: bool          # ... and the colours were converted through it
    icc_description: str | None
    orientation: int           # the EXIF orientation that was applied (1: stored upright)
    frames: int                # frames in the file; only the first is decoded

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def to_image(self) -> Image.Image:
        return Image.fromarray(self.pixels)


def decode_photo(data: bytes, *, animated: str = "first_frame", max_pixels: int = 40_000_000) -> DecodedPhoto:
    if animated not in ("first_frame", "reject"):
        raise ValueError(f"animated must be 'first_frame' or 'reject', got {animated!r}")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # padded truncated photos would be published with grey bands
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; truncated photos cannot be detected")
    image = _open(data, max_pixels)
    if image is None:
        return _decode_float_tiff(data, max_pixels)
    with image:
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and animated == "reject" and image.format in _ANIMATION_FORMATS:
            raise PhotoDecodeError("photo_animated", f"{image.format} animation with {frames} frames; "
                                                     "animated photos are refused by the photo settings")
        orientation = _orientation(image)
        icc = image.info.get("icc_profile") or None
        bit_depth = _bit_depth(image, data)
        original_mode = image.mode
        try:
            image.load()
        except Image.DecompressionBombError as exc:
            raise PhotoDecodeError("photo_too_many_pixels", str(exc)) from None
        except _DECODE_ERRORS as exc:
            raise PhotoDecodeError("photo_corrupt", _corrupt_message(image, exc)) from None
        colour, alpha = _split_colour(image, bit_depth)
        rgb, icc_applied, description = _to_srgb(colour, icc)
        fmt = image.format
    pixels = np.asarray(rgb, dtype=np.uint8)
    if alpha is not None:
        alpha_pixels = np.asarray(alpha, dtype=np.uint8)
        if alpha_pixels.min() < 255:  # an all-opaque alpha channel carries nothing: keep the photo RGB
            pixels = np.dstack([pixels, alpha_pixels])
    if orientation in _UPRIGHT:
        pixels = np.asarray(Image.fromarray(pixels).transpose(_UPRIGHT[orientation]))
    return DecodedPhoto(np.ascontiguousarray(pixels), fmt, original_mode, bit_depth, icc is not None, icc_applied,
                        description, orientation if orientation in _UPRIGHT else 1, frames)


# --------------------------------------------------------------------------------------------------- opening

def _open(data: bytes, max_pixels: int) -> Image.Image | None:
    """The opened image with its size checked, or None for a TIFF that only OpenCV reads (float RGB)."""
    kind = sniff_image_type(data[:32])
    try:
        with warnings.catch_warnings():
            # max_pixels is the limit here; Pillow's own DecompressionBombError (twice its MAX_IMAGE_PIXELS)
            # still fires inside open() and is reported below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise PhotoDecodeError("photo_too_many_pixels", f"refused before decoding: {exc}") from None
    except _DECODE_ERRORS as exc:  # UnidentifiedImageError is an OSError
        if kind == "tiff" and isinstance(exc, Image.UnidentifiedImageError):
            return None
        if kind is None:
            raise PhotoDecodeError("photo_not_an_image", f"the bytes are not an image ({_first_bytes(data)})") \
                from None
        raise PhotoDecodeError("photo_corrupt", f"{kind} header cannot be read ({type(exc).__name__}: {exc})") \
            from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PhotoDecodeError("photo_too_many_pixels", f"{width}x{height} = {width * height} pixels, over the "
                                                        f"limit of {max_pixels} (refused before decoding)")
    if width == 0 or height == 0:
        image.close()
        raise PhotoDecodeError("photo_corrupt", f"{width}x{height}: an image without pixels")
    return image


def _first_bytes(data: bytes) -> str:
    if not data:
        return "empty"
    text = data[:24].decode("latin-1")
    return "starts " + repr(text if text.isprintable() else data[:12])


def _corrupt_message(image: Image.Image, exc: Exception) -> str:
    ends_early = isinstance(exc, EOFError) or "truncated" in str(exc)
    what = "data ends early" if ends_early else "data cannot be decoded"
    return f"{image.format} {what} ({type(exc).__name__}: {exc})"


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block: the photo itself may be fine, show it as stored
        return 1
    return value if isinstance(value, int) else 1


def _bit_depth(image: Image.Image, data: bytes) -> int:
    if image.format == "PNG" and data[12:16] == b"IHDR":
        return data[24]  # Pillow reads 16-bit RGB PNGs as 8-bit RGB; the header keeps the truth
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        if bits:
            return max(bits) if isinstance(bits, tuple) else int(bits)
    return {"1": 1, "I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 32, "F": 32}.get(image.mode, 8)


# --------------------------------------------------------------------------------------------------- modes

def _split_colour(image: Image.Image, bit_depth: int) -> tuple[Image.Image, Image.Image | None]:
    """The colour part (mode L, RGB or CMYK, 8 bits, still in the file's colour space) and the alpha (L) or None."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        return _grey_from_integers(image, bit_depth), None
    if mode == "F":
        return _grey_from_floats(image), None
    if mode == "1":
        return image.convert("L"), None
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info or image.palette.mode == "RGBA"
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode in ("LA", "La"):
        image = image.convert("LA") if mode == "La" else image
        return image.getchannel("L"), image.getchannel("A")
    if mode in ("RGBA", "RGBa"):
        image = image.convert("RGBA") if mode == "RGBa" else image
        return image.convert("RGB"), image.getchannel("A")
    if mode in ("RGB", "L"):
        return image, None
    if mode == "CMYK":
        if image.format == "JPEG" and "adobe" not in image.info:
            # Pillow reads every CMYK JPEG with Adobe's inverted polarity. Without Adobe's APP14 marker the file
            # follows the JPEG convention (0 = no ink), so undo Pillow's inversion.
            return Image.eval(image, lambda v: 255 - v), None
        return image, None
    if mode in ("RGBX", "YCbCr", "HSV"):
        return image.convert("RGB"), None
    if mode == "LAB":
        lab_to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                              "LAB", "RGB")
        return ImageCms.applyTransform(image, lab_to_srgb), None
    raise PhotoDecodeError("photo_unsupported", f"{image.format} image mode {mode} has no sRGB rendering")


def _grey_from_integers(image: Image.Image, bit_depth: int) -> Image.Image:
    # Scale, never clip: Pillow's convert("L") clips 16-bit values at 255, which whitens almost every pixel.
    values = np.asarray(image).astype(np.float64)
    top = float(2 ** min(bit_depth, 32) - 1) if bit_depth > 8 else 65535.0
    if image.mode == "I" and bit_depth >= 32 and values.min() < 0:  # signed 32-bit data
        values = values - float(-(2 ** 31))
    return Image.fromarray(np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8))


def _grey_from_floats(image: Image.Image) -> Image.Image:
    # Float images have no fixed range: 0..1 is the common convention (TIFF from raw converters); larger values
    # are taken as 0..255.
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
    return Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8))


def _decode_float_tiff(data: bytes, max_pixels: int) -> DecodedPhoto:
    """TIFFs Pillow cannot identify (32-bit float or integer RGB, from raw converters and scanners) through
    OpenCV. The size and orientation come from the first IFD, read here, so the pixel limit holds before decoding."""
    import cv2  # imported here: only these rare files pay for it

    width, height, orientation = _tiff_facts(data)
    if width * height > max_pixels:
        raise PhotoDecodeError("photo_too_many_pixels", f"{width}x{height} = {width * height} pixels, over the "
                                                        f"limit of {max_pixels} (refused before decoding)")
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.size == 0:
        raise PhotoDecodeError("photo_corrupt", "TIFF data cannot be decoded (Pillow and OpenCV both failed)")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype.kind == "f":
        values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scaled = values * (255.0 if values.max(initial=0.0) <= 1.0 else 1.0)
    else:
        scaled = array.astype(np.float64) * (255.0 / np.iinfo(array.dtype).max)
    pixels = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels >= 3:  # OpenCV orders colour channels BGR(A)
        pixels = np.dstack([pixels[:, :, 2::-1], pixels[:, :, 3:4]]) if channels == 4 else pixels[:, :, 2::-1]
    if pixels.shape[2] == 4 and pixels[:, :, 3].min() == 255:
        pixels = pixels[:, :, :3]
    if orientation in _UPRIGHT:
        pixels = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).transpose(_UPRIGHT[orientation]))
    return DecodedPhoto(np.ascontiguousarray(pixels), "TIFF", f"opencv:{array.dtype}x{channels}",
                        array.dtype.itemsize * 8, False, False, None, orientation if orientation in _UPRIGHT else 1,
                        1)


def _tiff_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, orientation) from a classic TIFF's first IFD."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        tags = {}
        for i in range(min(count, 512)):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * i)
            if tag in (256, 257, 274):
                tags[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
    except struct.error:
        raise PhotoDecodeError("photo_corrupt", "TIFF header ends early") from None
    if 256 not in tags or 257 not in tags:
        raise PhotoDecodeError("photo_corrupt", "TIFF header names no image size")
    return tags[256], tags[257], tags.get(274, 1)


# --------------------------------------------------------------------------------------------------- colour

_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(colour: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool, str | None]:
    description = None
    if icc:
        try:
            transform, description = _icc_transform(bytes(icc), colour.mode)
        except (OSError, ValueError, ImageCms.PyCMSError, TypeError):
            transform = None  # a damaged profile: show the numbers as sRGB, as browsers do
        if transform is not None:
            return ImageCms.applyTransform(colour, transform), True, description
    return (colour if colour.mode == "RGB" else colour.convert("RGB")), False, description


@functools.lru_cache(maxsize=32)
def _icc_transform(icc: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform | None, str | None]:
    """A cached profile -> sRGB transform (one shop uses one profile for thousands of photos). None when the
    profile's colour space is not the image's (a CMYK profile left on an RGB file)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    description = (ImageCms.getProfileDescription(profile) or "").strip() or None
    if profile.profile.xcolor_space.strip() != _PROFILE_SPACE_FOR_MODE.get(mode):
        return None, description
    # NOCACHE: LittleCMS's one-pixel cache makes a shared transform unsafe across threads.
    flags = ImageCms.Flags.NOCACHE | ImageCms.Flags.BLACKPOINTCOMPENSATION
    transform = ImageCms.buildTransform(profile, _SRGB, mode, "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                        flags=flags)
    return transform, description
