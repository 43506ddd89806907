"""Catalog photos: read (local paths and file:// here, http(s) through the `PhotoFetcher`, other schemes through
an injected reader), decoded as a person sees them (`photo_decode`), and validated once per distinct photo per
ingestion (`PhotoChecker`), with a reason code for every photo that cannot be used.

Reason codes, one meaning each:
  photo_missing           no photo named, no file there, or a folder
  photo_location_refused  a path or object outside the allowed photo locations (never read)
  photo_unreadable        the file or object exists but cannot be read (permissions, S3 errors)
  photo_bad_url, photo_address_refused, photo_connection_failed, photo_timeout, photo_too_large (bytes over the
  download limit), photo_too_many_redirects, photo_http_<status>: fetching an http(s) photo (`photo_fetch`)
  photo_not_an_image, photo_corrupt (data ends early or cannot be decoded), photo_too_many_pixels (a pixel bomb,
  refused from its header), photo_animated (with animated photos refused), photo_unsupported: decoding
  photo_too_small     the shorter side is under the minimum
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from skucore.catalog.photo_decode import PhotoDecodeError, decode_photo
from skucore.catalog.photo_fetch import FetchResult, PhotoFetcher

PhotoReader = Callable[[str], bytes]


class PhotoLocationRefused(PermissionError):
    """Raised by a photo reader for a location it will not read (reason photo_location_refused)."""

    reason = "photo_location_refused"


@dataclass(frozen=True)
class PhotoCheck:
    reason: str | None
    message: str
    size: tuple[int, int]                  # (width, height) as shown, (0, 0) when unknown
    facts: dict[str, Any] = field(default_factory=dict)  # what the decoder found: mode, depth, ICC, orientation


def validate_photo(data: bytes, *, min_side: int = 400, max_pixels: int = 40_000_000,
                   animated: str = "first_frame") -> PhotoCheck:
    """Check one photo's bytes by decoding them as a person sees them. The size is checked from the header before
    any pixel is decoded (a pixel bomb is refused without allocating it); truncated data is an error, never
    padded; the minimum side applies to the photo as shown (after EXIF rotation)."""
    try:
        photo = decode_photo(data, animated=animated, max_pixels=max_pixels)
    except PhotoDecodeError as exc:
        size = _claimed_size(exc.message)
        return PhotoCheck(exc.reason, exc.message, size)
    width, height = photo.size
    facts = photo_facts(photo)
    if min(width, height) < min_side:
        return PhotoCheck("photo_too_small", f"{width}x{height}: shorter side under {min_side} pixels",
                          (width, height), facts)
    return PhotoCheck(None, f"{photo.format} {width}x{height}", (width, height), facts)


def photo_facts(photo) -> dict[str, Any]:
    """Why a photo looks as it does, kept per row (the review desk can say "Adobe RGB, converted")."""
    facts: dict[str, Any] = {"format": photo.format, "mode": photo.original_mode, "bit_depth": photo.bit_depth}
    if photo.orientation != 1:
        facts["exif_orientation"] = photo.orientation
    if photo.had_icc:
        facts["icc"] = photo.icc_description or "embedded profile"
        facts["icc_applied"] = photo.icc_applied
    if photo.frames > 1:
        facts["frames"] = photo.frames
    if photo.has_alpha:
        facts["alpha"] = True
    return facts


def _claimed_size(message: str) -> tuple[int, int]:
    match = re.search(r"(\d+)x(\d+)", message)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def has_scheme(uri: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", uri))


def is_url(uri: str) -> bool:
    return bool(re.match(r"^https?://", uri, re.IGNORECASE))


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
    facts: dict[str, Any] = field(default_factory=dict)


class PhotoChecker:
    """Reads and validates photos, once per photo: catalogs repeat one photo across a product's variants.

    Local files are cached by (path, size, mtime_ns), so a repeat costs a stat, not a read; URLs are fetched all
    at once (`prefetch`, a thread pool with per-host limits) into the fetcher's content-addressed cache; other
    URIs (s3://) by URI; every photo's verdict then by content sha256. The verdicts live for one `load_catalog`
    call only, so a long-running process never serves a stale verdict for a replaced file.
    """

    def __init__(self, read_photo: PhotoReader | None, min_side: int, max_pixels: int, *,
                 fetcher: PhotoFetcher | None = None, animated: str = "first_frame", fetch_workers: int = 16):
        self.read_photo = read_photo
        self.min_side = min_side
        self.max_pixels = max_pixels
        self.fetcher = fetcher
        self.animated = animated
        self.fetch_workers = fetch_workers
        self.fetched: dict[str, FetchResult] = {}
        self.by_key: dict[Any, PhotoVerdict] = {}
        self.by_sha: dict[str, PhotoVerdict] = {}
        self.validated = 0
        self.cache_hits = 0

    def prefetch(self, uris) -> None:
        urls = [u for u in uris if is_url(u)]
        if urls and self.fetcher is not None:
            self.fetched.update(self.fetcher.fetch_many(urls, workers=self.fetch_workers))

    def check(self, uri: str) -> PhotoVerdict:
        if is_url(uri):
            return self._check_url(uri)
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

    def _check_url(self, url: str) -> PhotoVerdict:
        if self.fetcher is None:
            return PhotoVerdict("photo_unreadable", "http(s) photos need a photo fetcher (pass fetcher=)", None)
        if url in self.by_key:
            self.cache_hits += 1
            return self.by_key[url]
        result = self.fetched.get(url) or self.fetcher.fetch(url)
        if not result.ok:
            verdict = PhotoVerdict(result.reason, result.message, None)
        else:
            verdict = self._validate(self.fetcher.photo_bytes(result), result.sha256)
        self.by_key[url] = verdict
        return verdict

    def _read_and_validate(self, uri: str) -> PhotoVerdict:
        reader = self.read_photo or read_local_photo
        try:
            data = reader(uri)
        except FileNotFoundError:
            return PhotoVerdict("photo_missing", f"no photo at {uri}", None)
        except IsADirectoryError:
            return PhotoVerdict("photo_missing", f"{uri} is a folder, not a photo", None)
        except Exception as exc:  # an injected reader's errors (S3 permissions, network) are per-photo problems
            reason = getattr(exc, "reason", None)
            if reason:
                return PhotoVerdict(reason, str(exc), None)
            return PhotoVerdict("photo_unreadable", f"cannot read {uri}: {type(exc).__name__}: {exc}", None)
        return self._validate(data, None)

    def _validate(self, data: bytes, sha: str | None) -> PhotoVerdict:
        sha = sha or hashlib.sha256(data).hexdigest()
        if sha in self.by_sha:
            self.cache_hits += 1
            return self.by_sha[sha]
        check = validate_photo(data, min_side=self.min_side, max_pixels=self.max_pixels, animated=self.animated)
        self.validated += 1
        result = PhotoVerdict(check.reason, check.message, sha, check.facts)
        self.by_sha[sha] = result
        return result
