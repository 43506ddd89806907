"""CDN publishing: content-addressed image keys and idempotent uploads (the manifest is in
`skucore.publish.manifest`).

Target-agnostic: everything here talks to a `CdnTarget` (`skucore.publish.targets`; S3 in `resources.cdn`).

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

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from skucore.base.safety import key_component
from skucore.tables import PUBLISHED_SCHEMA, SKIPPED_SCHEMA
from skucore.publish.targets import FORMATS, IMAGE_CACHE_CONTROL, SHA256_RE, CdnTarget, format_info, sha256_hex

# ---- keys ----------------------------------------------------------------------------------------------------------
def promotion_prefix(promotion: str) -> str:
    return f"promotions/{key_component(promotion)}/"


def sku_prefix(promotion: str, sku: str) -> str:
    return f"{promotion_prefix(promotion)}skus/{key_component(sku)}/"


def image_key(promotion: str, sku: str, role: str, platform: str, sha256: str, ext: str) -> str:
    """Content-addressed key of one published image; every catalog-derived segment is escaped."""
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
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
