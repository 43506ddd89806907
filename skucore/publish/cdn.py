"""CDN publishing: content-addressed image keys, idempotent uploads and a manifest a CMS can trust.

Target-agnostic: everything here talks to a `CdnTarget` (a local folder here; S3 in `resources.cdn`).

Keys (never built from unescaped catalog text; every segment goes through `skucore.base.safety.key_component`):

    promotions/{promotion}/skus/{sku}/{role}-{platform}-{sha256[:16]}.{ext}     image, immutable
    promotions/{promotion}/manifest.json                                      manifest, short max-age
    promotions/{promotion}/manifest.csv                                       optional, written before the JSON

Guarantees:
- Only grade "A" and approved "B" images are published; anything else becomes a skipped row with a reason.
- The same bytes always give the same key, so re-publishing unchanged images uploads nothing: each key is HEADed
  first and skipped when the object exists with the same sha256 in its metadata (an object under the key with a
  missing or different sha256 is re-uploaded: by construction its bytes are ours).
- The manifest is written last, by one atomic write (local: temp file + rename; S3: one PUT), and only after
  every object it references has been HEADed and found with the right sha256; otherwise
  `ManifestIntegrityError` lists the missing keys and nothing is written. A manifest only references keys under
  its own promotion's prefix, so publishing one promotion never overwrites or points into another.
- Target failures (server gone, connection reset) raise `CdnUnavailableError` out of a batch: a publish run fails
  as a whole and a rerun resumes where it stopped (the keys already there are skipped).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import pyarrow as pa

from skucore.base.safety import key_component
from skucore.base.storage import atomic_write_bytes
from skucore.tables import PUBLISHED_SCHEMA, SKIPPED_SCHEMA

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

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

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


# ---- keys ----------------------------------------------------------------------------------------------------------
def format_info(fmt: str) -> tuple[str, str]:
    """(extension, Content-Type) of an image format name ("jpeg", "png", "webp"); ValueError otherwise."""
    info = FORMATS.get(str(fmt).lower())
    if info is None:
        raise ValueError(f"unsupported image format {fmt!r}; expected one of {sorted(FORMATS)}")
    return info


def promotion_prefix(promotion: str) -> str:
    return f"promotions/{key_component(promotion)}/"


def sku_prefix(promotion: str, sku: str) -> str:
    return f"{promotion_prefix(promotion)}skus/{key_component(sku)}/"


def image_key(promotion: str, sku: str, role: str, platform: str, sha256: str, ext: str) -> str:
    """Content-addressed key of one published image; every catalog-derived segment is escaped."""
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex characters, got {sha256!r}")
    ext = str(ext).lower().lstrip(".")
    if ext not in {e for e, _ in FORMATS.values()}:
        raise ValueError(f"unsupported image extension {ext!r}")
    return (f"{sku_prefix(promotion, sku)}"
            f"{key_component(role)}-{key_component(platform)}-{sha256[:16]}.{ext}")


def manifest_key(promotion: str) -> str:
    return f"{promotion_prefix(promotion)}manifest.json"


def manifest_csv_key(promotion: str) -> str:
    return f"{promotion_prefix(promotion)}manifest.csv"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- publish -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedRow:
    promotion: str
    sku: str
    role: str
    platform: str
    key: str
    url: str
    sha256: str
    width: int | None
    height: int | None
    grade: str
    approved: bool | None
    content_type: str
    bytes: int
    action: str  # "uploaded" | "unchanged" | "repaired" (an object under the key lacked or had another sha256)

    def manifest_entry(self) -> dict:
        return {
            "sku": self.sku, "platform": self.platform, "scene": self.role, "role": self.role,
            "url": self.url, "key": self.key, "sha256": self.sha256, "width": self.width,
            "height": self.height, "grade": self.grade, "content_type": self.content_type, "bytes": self.bytes,
        }


@dataclass(frozen=True)
class SkippedImage:
    promotion: str
    sku: str
    role: str | None
    platform: str | None
    grade: str | None
    reason: str  # snake_case: grade_c | b_not_approved | grade_invalid | missing_data | unreadable_path |
    #              bad_format | sha256_mismatch | duplicate_slot
    detail: str = ""


@dataclass
class PublishResult:
    """What `publish_images` did. Iterating / indexing / len() go over the published rows (uploaded or
    unchanged), so it can be used where a `list[PublishedRow]` is expected."""

    rows: list[PublishedRow] = field(default_factory=list)
    skipped: list[SkippedImage] = field(default_factory=list)

    @property
    def uploaded(self) -> int:
        return sum(1 for r in self.rows if r.action in ("uploaded", "repaired"))

    @property
    def unchanged(self) -> int:
        return sum(1 for r in self.rows if r.action == "unchanged")

    @property
    def counts(self) -> dict[str, int]:
        return {"published": len(self.rows), "uploaded": self.uploaded, "unchanged": self.unchanged,
                "skipped": len(self.skipped)}

    def __iter__(self) -> Iterator[PublishedRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def to_table(self) -> pa.Table:
        return pa.Table.from_pylist([asdict(r) for r in self.rows], schema=PUBLISHED_SCHEMA)

    def skipped_table(self) -> pa.Table:
        return pa.Table.from_pylist([asdict(s) for s in self.skipped], schema=SKIPPED_SCHEMA)


def _grade_decision(img: Mapping[str, Any]) -> tuple[bool, str | None, str]:
    grade = img.get("grade")
    g = str(grade).strip().upper() if grade is not None else None
    if g == "A":
        return True, None, g
    if g == "B":
        if img.get("approved") is True:
            return True, None, g
        return False, "b_not_approved", g
    if g == "C":
        return False, "grade_c", g
    return False, "grade_invalid", g if g else ""


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # noqa: BLE001 - size is informative only
        return None, None


def publish_images(target: CdnTarget, promotion: str, sku: str, images: Iterable[Mapping[str, Any]]
                   ) -> PublishResult:
    """Publish one SKU's images of a promotion. Returns a `PublishResult` (list-like over `PublishedRow`s, with
    `.skipped`, `.uploaded`, `.unchanged`).

    Each image: `role` (or `scene`), `platform`, `data` (bytes) or `path`, `format` ("jpeg" | "png" | "webp"),
    `width`, `height` (read from the bytes if absent), `grade` ("A" | "B" | "C"), `approved` (bool, for B),
    `sha256` (computed if absent; if given it must match the bytes).

    Per-image problems become `SkippedImage`s with a reason; target failures raise `CdnUnavailableError`.
    """
    result = PublishResult()
    seen_slots: dict[tuple[str, str], str] = {}
    for img in images:
        role = img.get("role") or img.get("scene")
        platform = img.get("platform")

        def skip(reason: str, detail: str = "", grade: str | None = None) -> None:
            result.skipped.append(SkippedImage(promotion, sku, role, platform,
                                               grade if grade is not None else img.get("grade"), reason, detail))

        if not role or not platform:
            skip("missing_role_or_platform", "image needs role (or scene) and platform")
            continue
        ok, reason, grade = _grade_decision(img)
        if not ok:
            skip(reason or "grade_invalid", f"grade={img.get('grade')!r} approved={img.get('approved')!r}", grade)
            continue
        try:
            ext, content_type = format_info(img.get("format") or "")
        except ValueError as exc:
            skip("bad_format", str(exc), grade)
            continue
        data = img.get("data")
        if data is None and img.get("path"):
            try:
                data = Path(img["path"]).read_bytes()
            except OSError as exc:
                skip("unreadable_path", f"{type(exc).__name__}: {exc.strerror or exc}", grade)
                continue
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            skip("missing_data", "no bytes and no readable path", grade)
            continue
        data = bytes(data)
        digest = sha256_hex(data)
        given = img.get("sha256")
        if given and str(given).lower() != digest:
            skip("sha256_mismatch", f"given {given} but bytes hash to {digest}", grade)
            continue
        slot = (str(role), str(platform))
        if slot in seen_slots:
            skip("duplicate_slot", f"{role}/{platform} already published in this call as {seen_slots[slot]}", grade)
            continue
        key = image_key(promotion, sku, str(role), str(platform), digest, ext)
        seen_slots[slot] = key

        width, height = img.get("width"), img.get("height")
        if width is None or height is None:
            width, height = _image_size(data)

        head = target.head(key)
        if head is not None and head.get("sha256") == digest and (head.get("size") in (None, len(data))):
            action = "unchanged"
        else:
            target.put(key, data, content_type, IMAGE_CACHE_CONTROL,
                       {"sha256": digest, "promotion": promotion, "sku": sku, "role": str(role),
                        "platform": str(platform), "grade": grade})
            action = "uploaded" if head is None else "repaired"
        result.rows.append(PublishedRow(
            promotion=promotion, sku=sku, role=str(role), platform=str(platform), key=key,
            url=target.url_for(key), sha256=digest, width=None if width is None else int(width),
            height=None if height is None else int(height), grade=grade,
            approved=img.get("approved") if isinstance(img.get("approved"), bool) else None,
            content_type=content_type, bytes=len(data), action=action,
        ))
    return result


# ---- manifest ------------------------------------------------------------------------------------------------------
def _entry_from_row(row: PublishedRow | Mapping[str, Any]) -> dict:
    if isinstance(row, PublishedRow):
        e = row.manifest_entry()
    else:
        e = {k: row.get(k) for k in MANIFEST_FIELDS}
        e["role"] = e.get("role") or row.get("scene")
        e["scene"] = e.get("scene") or e["role"]
    missing = [k for k in ("sku", "platform", "role", "key", "sha256") if not e.get(k)]
    if missing:
        raise ValueError(f"manifest row lacks {missing}: {dict(e)}")
    return e


def _iso(generated_at: datetime | str) -> str:
    if isinstance(generated_at, datetime):
        return generated_at.isoformat()
    if isinstance(generated_at, str) and generated_at:
        return generated_at
    raise ValueError("generated_at must be a datetime or a non-empty ISO string (the caller passes it)")


def build_manifest(target: CdnTarget, promotion: str, rows: Iterable[PublishedRow | Mapping[str, Any]],
                   generated_at: datetime | str) -> dict:
    """The manifest document (no I/O except `url_for`). Entries are sorted by (sku, platform, role, key) and
    de-duplicated by key; two different keys for the same (sku, role, platform) slot are an error, as is a key
    outside this promotion's prefix."""
    prefix = promotion_prefix(promotion)
    by_key: dict[str, dict] = {}
    slots: dict[tuple[str, str, str], str] = {}
    for row in rows:
        if isinstance(row, PublishedRow) and row.promotion != promotion:
            raise ValueError(f"row of promotion {row.promotion!r} passed to the manifest of {promotion!r}")
        e = _entry_from_row(row)
        key = validate_key(e["key"])
        if not key.startswith(prefix):
            raise ValueError(f"key {key!r} is outside promotion prefix {prefix!r}")
        e["url"] = target.url_for(key)
        slot = (e["sku"], e["role"], e["platform"])
        if slot in slots and slots[slot] != key:
            raise ValueError(f"two images for sku={slot[0]!r} role={slot[1]!r} platform={slot[2]!r}: "
                             f"{slots[slot]} and {key}")
        slots[slot] = key
        by_key[key] = e
    entries = sorted(by_key.values(), key=lambda e: (e["sku"], e["platform"], e["role"], e["key"]))
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "promotion": promotion,
        "generated_at": _iso(generated_at),
        "count": len(entries),
        "entries": entries,
    }


def _manifest_bytes(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _manifest_csv_bytes(doc: Mapping[str, Any]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS), lineterminator="\n")
    w.writeheader()
    for e in doc["entries"]:
        w.writerow({k: e.get(k) for k in MANIFEST_FIELDS})
    return buf.getvalue().encode("utf-8")


def verify_objects(target: CdnTarget, entries: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """HEAD every entry's key: (missing keys, keys whose stored sha256 differs)."""
    missing, mismatched = [], []
    for e in entries:
        head = target.head(e["key"])
        if head is None:
            missing.append(e["key"])
        elif head.get("sha256") is not None and head["sha256"] != e["sha256"]:
            mismatched.append(e["key"])
    return missing, mismatched


def read_manifest(target: CdnTarget, promotion: str) -> dict | None:
    data = target.get(manifest_key(promotion))
    return None if data is None else json.loads(data.decode("utf-8"))


def write_manifest(target: CdnTarget, promotion: str, rows: Iterable[PublishedRow | Mapping[str, Any]], *,
                   generated_at: datetime | str, write_csv: bool = False, skip_if_unchanged: bool = True) -> str:
    """Write the promotion's manifest last and atomically; return its key.

    Before writing, every referenced object is HEADed; if any is missing (or holds another sha256),
    `ManifestIntegrityError` is raised and nothing is written, so the previous manifest stays as it was.
    With `skip_if_unchanged`, a manifest whose entries equal the stored one is not rewritten (a rerun of an
    unchanged promotion uploads nothing at all; `generated_at` then stays that of the stored manifest).
    The optional CSV is written before the JSON; the JSON is the commit point a CMS should read.
    """
    doc = build_manifest(target, promotion, rows, generated_at)
    missing, mismatched = verify_objects(target, doc["entries"])
    if missing or mismatched:
        raise ManifestIntegrityError(promotion, missing, mismatched)
    key = manifest_key(promotion)
    if skip_if_unchanged:
        try:
            old = read_manifest(target, promotion)
        except ValueError:
            old = None
        if (old is not None and old.get("schema_version") == doc["schema_version"]
                and old.get("entries") == doc["entries"]
                and (not write_csv or target.head(manifest_csv_key(promotion)) is not None)):
            return key
    if write_csv:
        csv_bytes = _manifest_csv_bytes(doc)
        target.put(manifest_csv_key(promotion), csv_bytes, MANIFEST_CSV_CONTENT_TYPE, MANIFEST_CACHE_CONTROL,
                   {"sha256": sha256_hex(csv_bytes), "promotion": promotion})
    data = _manifest_bytes(doc)
    target.put(key, data, MANIFEST_CONTENT_TYPE, MANIFEST_CACHE_CONTROL,
               {"sha256": sha256_hex(data), "promotion": promotion,
                "schema-version": str(MANIFEST_SCHEMA_VERSION)})
    return key


# ---- delisting -----------------------------------------------------------------------------------------------------
@dataclass
class RemoveResult:
    manifest_entries_removed: int
    objects_deleted: list[str]
    manifest_key: str | None  # None when the promotion had no manifest


def remove_sku(target: CdnTarget, promotion: str, sku: str, delete_objects: bool, *,
               generated_at: datetime | str | None = None) -> RemoveResult:
    """Take a delisted SKU out of a promotion (see `remove_skus`)."""
    return remove_skus(target, promotion, [sku], {sku} if delete_objects else set(), generated_at=generated_at)


def remove_skus(target: CdnTarget, promotion: str, skus, delete_objects_of=frozenset(), *,
                generated_at: datetime | str | None = None) -> RemoveResult:
    """Take SKUs out of a promotion: first rewrite the manifest once without their entries (so a CMS stops
    referencing them), then delete the objects of the SKUs in `delete_objects_of`. Never the other order.
    `generated_at` defaults to the stored manifest's value."""
    skus = set(skus)
    old = read_manifest(target, promotion)
    removed = 0
    mkey = None
    if old is not None:
        keep = [e for e in old.get("entries", []) if e.get("sku") not in skus]
        removed = len(old.get("entries", [])) - len(keep)
        mkey = manifest_key(promotion)
        if removed:
            write_manifest(target, promotion, keep,
                           generated_at=generated_at if generated_at is not None else old["generated_at"],
                           write_csv=target.head(manifest_csv_key(promotion)) is not None,
                           skip_if_unchanged=False)
    deleted: list[str] = []
    for sku in sorted(skus & set(delete_objects_of)):
        for key in target.list(sku_prefix(promotion, sku)):
            target.delete(key)
            deleted.append(key)
    return RemoveResult(manifest_entries_removed=removed, objects_deleted=deleted, manifest_key=mkey)
