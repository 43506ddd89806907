"""The promotion's manifest a CMS reads (JSON, optionally CSV beside it), written last and atomically after
every object it references has been verified; and the removal of delisted or changed SKUs from manifests.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping


from skucore.publish.publishing import PublishedRow, manifest_csv_key, manifest_key, promotion_prefix, sku_prefix
from skucore.publish.targets import (MANIFEST_CACHE_CONTROL, MANIFEST_CONTENT_TYPE, MANIFEST_CSV_CONTENT_TYPE, MANIFEST_FIELDS,
                                     MANIFEST_SCHEMA_VERSION, CdnTarget, ManifestIntegrityError, sha256_hex, validate_key)

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
