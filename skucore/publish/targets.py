"""CDN targets: where published images and manifests go. `CdnTarget` is the protocol (put, head, get, delete,
URL of a key); `LocalFolderCdn` is the embedded default (atomic writes: temp file + rename); the S3 target lives
in `resources.cdn` (one PUT per object). Errors: `CdnUnavailableError` (the target is down: a run fails as a
whole and a rerun resumes), `CdnIntegrityError`, `ManifestIntegrityError`.

See `skucore.publish.publishing` for what is published and under which keys, and `skucore.publish.manifest` for
the manifest a CMS reads.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable


from skucore.base.storage import atomic_write_bytes

MANIFEST_SCHEMA_VERSION = 1
IMAGE_CACHE_CONTROL = "public, max-age=31536000, immutable"
MANIFEST_CACHE_CONTROL = "public, max-age=60"
MANIFEST_CONTENT_TYPE = "application/json; charset=utf-8"
MANIFEST_CSV_CONTENT_TYPE = "text/csv; charset=utf-8"

# format (as written by the exporters / PIL) -> (file extension, Content-Type)
FORMATS: dict[str, tuple[str, str]] = {
    "jpeg": ("jpg", "image/jpeg"),
    "jpg": ("jpg", "image/jpeg"),
    "png": ("png", "image/png"),
    "webp": ("webp", "image/webp"),
}
PUBLISHABLE_GRADES = ("A", "B")

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

MANIFEST_FIELDS = (
    "sku", "platform", "scene", "role", "url", "key", "sha256", "width", "height", "grade",
    "content_type", "bytes",
)


# ---- errors --------------------------------------------------------------------------------------------------------
class CdnError(Exception):
    """Base of every CDN error."""


class CdnUnavailableError(CdnError):
    """The target cannot be reached (connection refused or reset, timeout, 5xx after retries).

    The message names the operation, the endpoint and the key; never credentials."""

    def __init__(self, message: str, *, endpoint: str | None = None, key: str | None = None,
                 operation: str | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.key = key
        self.operation = operation


class CdnIntegrityError(CdnError):
    """An object was stored with other bytes than we sent (checksum or ETag mismatch), or a key is invalid."""


class ManifestIntegrityError(CdnError):
    """A manifest would reference objects that are missing (or hold other bytes) on the target; nothing written."""

    def __init__(self, promotion: str, missing: Sequence[str], mismatched: Sequence[str] = ()):
        self.promotion = promotion
        self.missing = list(missing)
        self.mismatched = list(mismatched)
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {', '.join(self.missing[:20])}"
                         + (" ..." if len(self.missing) > 20 else ""))
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} with another sha256: {', '.join(self.mismatched[:20])}"
                         + (" ..." if len(self.mismatched) > 20 else ""))
        super().__init__(f"manifest for promotion {promotion!r} not written; referenced objects " + "; ".join(parts))


# ---- the target protocol -------------------------------------------------------------------------------------------
@runtime_checkable
class CdnTarget(Protocol):
    """Where published objects go. Keys are '/'-separated, relative to the target's root/prefix.

    `head(key)` returns None when the object does not exist, else a dict with at least
    `key, size, sha256 (from the stored metadata; None if absent), content_type, cache_control, metadata,
    last_modified`."""

    def head(self, key: str) -> dict | None: ...

    def put(self, key: str, data: bytes, content_type: str, cache_control: str,
            metadata: Mapping[str, str]) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def url_for(self, key: str) -> str: ...

    def list(self, prefix: str) -> list[str]: ...


def validate_key(key: str) -> str:
    """Reject keys that could escape a folder or collide with a target's own bookkeeping."""
    if not isinstance(key, str) or not key:
        raise CdnIntegrityError(f"invalid CDN key {key!r}: empty")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise CdnIntegrityError(f"invalid CDN key {key!r}: absolute, backslash or NUL")
    for seg in key.split("/"):
        if seg in ("", ".", "..") or seg.startswith("."):
            raise CdnIntegrityError(f"invalid CDN key {key!r}: empty, dot or hidden segment {seg!r}")
    return key


# ---- local folder target -------------------------------------------------------------------------------------------
class LocalFolderCdn:
    """A folder that stands in for a CDN bucket (the embedded default).

    Object `key` is the file `root/key`, written atomically (temp file + fsync + rename). Its metadata (sha256,
    Content-Type, Cache-Control) is a JSON sidecar at `root/.cdn-meta/key.json`, written after the object; an
    object without its sidecar reads as "sha256 unknown" and is simply uploaded again. `list()` never shows the
    sidecars or temporary files. `url_for()` is `base_url/key` (URL-quoted) or a file:// URI.
    """

    META_DIR = ".cdn-meta"

    def __init__(self, root: str | os.PathLike, base_url: str | None = None):
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.puts = 0  # number of put() calls that wrote an object (handy for tests and metadata)

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise CdnIntegrityError(f"invalid CDN key {key!r}: resolves outside {self.root}")
        return path

    def _meta_path(self, key: str) -> Path:
        validate_key(key)
        return self.root / self.META_DIR / f"{key}.json"

    def head(self, key: str) -> dict | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        meta: dict[str, Any] = {}
        try:
            meta = json.loads(self._meta_path(key).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            meta = {}
        user_meta = dict(meta.get("metadata") or {})
        return {
            "key": key,
            "size": st.st_size,
            "sha256": user_meta.get("sha256"),
            "content_type": meta.get("content_type"),
            "cache_control": meta.get("cache_control"),
            "metadata": user_meta,
            "last_modified": st.st_mtime_ns,
        }

    def put(self, key: str, data: bytes, content_type: str, cache_control: str,
            metadata: Mapping[str, str]) -> None:
        path = self._path(key)
        meta_doc = {"content_type": content_type, "cache_control": cache_control, "metadata": dict(metadata)}
        # An old sidecar must not vouch for new bytes: drop it first, write the object, then the new sidecar.
        try:
            self._meta_path(key).unlink()
        except FileNotFoundError:
            pass
        atomic_write_bytes(path, data)
        atomic_write_bytes(self._meta_path(key), json.dumps(meta_doc, sort_keys=True).encode("utf-8"))
        self.puts += 1

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        for p in (self._path(key), self._meta_path(key)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def url_for(self, key: str) -> str:
        path = self._path(key)
        if self.base_url:
            return f"{self.base_url}/{urllib.parse.quote(key, safe='/')}"
        return path.as_uri()

    def list(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        if not self.root.exists():
            return out
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue  # temporary files of atomic writes
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)


def format_info(fmt: str) -> tuple[str, str]:
    """(extension, Content-Type) of an image format name ("jpeg", "png", "webp"); ValueError otherwise."""
    info = FORMATS.get(str(fmt).lower())
    if info is None:
        raise ValueError(f"unsupported image format {fmt!r}; expected one of {sorted(FORMATS)}")
    return info


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
