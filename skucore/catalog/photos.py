"""Catalog photos: read (local paths and file:// here; other schemes through an injected reader) and validated
once per distinct photo per ingestion (`PhotoChecker`), with a reason code for every photo that cannot be used."""
from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image, ImageFile

PhotoReader = Callable[[str], bytes]


def validate_photo(data: bytes, *, min_side: int = 400, max_pixels: int = 40_000_000
                   ) -> tuple[str | None, str, tuple[int, int]]:
    """Check one photo's bytes. Returns (reason or None, message, (width, height)); (0, 0) when unknown.

    The size comes from the header and is checked before any pixel is decoded, so a decompression bomb (a small
    file claiming a huge canvas) is refused without allocating it. Then a full decode finds truncated files,
    which `Image.open` alone does not. Relies on Pillow's default LOAD_TRUNCATED_IMAGES = False.
    """
    try:
        with warnings.catch_warnings():
            # Our max_pixels is the limit; Pillow's own warning would only repeat it. Its hard error (at twice
            # MAX_IMAGE_PIXELS) still fires inside open() and is caught below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        return "photo_too_large", f"refused before decoding: {exc}", (0, 0)
    except Exception as exc:  # UnidentifiedImageError, or a header Pillow cannot parse
        return "photo_unreadable", f"not an image Pillow can read ({type(exc).__name__}: {exc})", (0, 0)
    with image:
        size = image.size
        width, height = size
        if width * height > max_pixels:
            return ("photo_too_large", f"{width}x{height} = {width * height} pixels, over the limit of "
                    f"{max_pixels} (refused before decoding)", size)
        if min(width, height) < min_side:
            return "photo_too_small", f"{width}x{height}: shorter side under {min_side} pixels", size
        if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow to pad truncated files: we would miss them
            raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; truncated photos cannot be detected")
        try:
            image.load()
        except (OSError, EOFError, SyntaxError, ValueError) as exc:
            if isinstance(exc, EOFError) or "truncated" in str(exc):
                return "photo_truncated", f"{image.format} data ends early ({exc})", size
            return "photo_unreadable", f"{image.format} data cannot be decoded ({type(exc).__name__}: {exc})", size
    return None, f"{image.format} {width}x{height}", size


def has_scheme(uri: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", uri))


def read_local_photo(uri: str) -> bytes:
    """The default photo reader: local paths and file:// URIs. An injected reader (S3) can delegate to it."""
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif has_scheme(uri):
        raise ValueError(f"no reader for {uri.split('://')[0]}:// URIs; pass read_photo")
    with open(uri, "rb") as fh:
        return fh.read()


@dataclass
class PhotoVerdict:
    reason: str | None
    message: str
    sha256: str | None


class PhotoChecker:
    """Reads and validates photos, once per photo: catalogs repeat one photo across a product's variants.

    Local files are cached by (path, size, mtime_ns), so a repeat costs a stat, not a read; other URIs (s3://) by
    URI for the duration of one load, then by content sha256. The cache lives for one `load_catalog` call only, so
    a long-running process never serves a stale verdict for a replaced file.
    """

    def __init__(self, read_photo: PhotoReader | None, min_side: int, max_pixels: int):
        self.read_photo = read_photo
        self.min_side = min_side
        self.max_pixels = max_pixels
        self.by_key: dict[Any, PhotoVerdict] = {}
        self.by_sha: dict[str, PhotoVerdict] = {}
        self.validated = 0
        self.cache_hits = 0

    def check(self, uri: str) -> PhotoVerdict:
        local = not has_scheme(uri) and self.read_photo is None
        key: Any = uri
        if local:
            try:
                st = os.stat(uri)
            except FileNotFoundError:
                return PhotoVerdict("photo_missing", f"no file at {uri}", None)
            except OSError as exc:
                return PhotoVerdict("photo_unreadable", f"cannot stat {uri}: {exc}", None)
            key = (uri, st.st_size, st.st_mtime_ns)
        if key in self.by_key:
            self.cache_hits += 1
            return self.by_key[key]
        result = self._read_and_validate(uri)
        self.by_key[key] = result
        return result

    def _read_and_validate(self, uri: str) -> PhotoVerdict:
        reader = self.read_photo or read_local_photo
        try:
            data = reader(uri)
        except FileNotFoundError:
            return PhotoVerdict("photo_missing", f"no photo at {uri}", None)
        except IsADirectoryError:
            return PhotoVerdict("photo_missing", f"{uri} is a folder, not a photo", None)
        except Exception as exc:  # an injected reader's errors (S3 permissions, network) are per-photo problems
            return PhotoVerdict("photo_unreadable", f"cannot read {uri}: {type(exc).__name__}: {exc}", None)
        sha = hashlib.sha256(data).hexdigest()
        if sha in self.by_sha:
            self.cache_hits += 1
            return self.by_sha[sha]
        reason, message, _ = validate_photo(data, min_side=self.min_side, max_pixels=self.max_pixels)
        self.validated += 1
        result = PhotoVerdict(reason, message, sha)
        self.by_sha[sha] = result
        return result
