"""Per-row pieces of ingestion: the rejects table being built, SKU checks, attributes and the content hash."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

import pyarrow as pa

from skucore.base.safety import is_safe_sku
from skucore.catalog.records import RawRecord, cell_text
from skucore.tables import REJECTS_SCHEMA

MAX_EXAMPLES = 3


class Rejects:
    """The rejects of one ingestion: one row per problem (a record can have several), counted by record."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.records: set[int] = set()

    def add(self, record: RawRecord, sku: str | None, reason: str, field_name: str, value: Any, message: str):
        text = None if value is None else (value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, default=json_default))
        self.rows.append({"source_row": record.source_row, "sku": sku, "reason": reason, "field": field_name,
                          "value": text, "message": message})
        self.records.add(id(record))

    def has_record(self, record: RawRecord) -> bool:
        return id(record) in self.records

    def rows_rejected(self) -> int:
        """Rejected records (rows), not problems: a row with three problems is one rejected row."""
        return len(self.records)

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(r["reason"] for r in self.rows))

    def examples(self) -> dict[str, list[dict[str, Any]]]:
        """Up to three rejected rows per reason, as a person looks them up: row, SKU, value, message."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.rows:
            bucket = out.setdefault(r["reason"], [])
            if len(bucket) < MAX_EXAMPLES:
                bucket.append({"source_row": r["source_row"], "sku": r["sku"],
                               "value": None if r["value"] is None else r["value"][:120],
                               "message": r["message"][:200]})
        return out

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=REJECTS_SCHEMA)


def json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def attributes_json(extras: dict[str, Any]) -> str | None:
    if not extras:
        return None
    return json.dumps(extras, ensure_ascii=False, sort_keys=True, default=json_default)


_SELLING_POINT_SPLIT = re.compile(r"[\n;；|]")


def split_selling_points(value: Any) -> list[str]:
    """Selling points from a list (Parquet) or a text cell split on newlines, ";", "；" or "|"."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else _SELLING_POINT_SPLIT.split(str(value))
    return [s for s in (str(i).strip() for i in items if i is not None) if s]


def content_hash(row: dict[str, Any]) -> str:
    hashed = {k: row[k] for k in ("sku", "name", "category", "color", "material", "price", "currency", "brand",
                                  "selling_points", "attributes", "photo_sha256")}
    # Added only when set, so catalogs without list prices keep the hashes they had (no re-render on upgrade).
    if row.get("list_price") is not None:
        hashed["list_price"] = row["list_price"]
    canonical = json.dumps(hashed, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_sku(record: RawRecord, rejects: Rejects, first_seen: dict[str, int]) -> str | None:
    raw = record.fields.get("sku")
    sku = cell_text(raw)
    if sku is None:
        rejects.add(record, None, "missing_sku", "sku", raw, "no SKU in this row")
        return None
    if not is_safe_sku(sku):
        rejects.add(record, sku, "unsafe_sku", "sku", sku, "SKU must be 1-64 of A-Z a-z 0-9 . _ - (starting with a "
                    "letter or digit, no '..'): it becomes file names, S3 keys and partition keys")
        return sku
    # Case-insensitive: "ab-1" and "AB-1" would overwrite each other on macOS/Windows folders and in many CDNs.
    key = sku.casefold()
    if key in first_seen:
        rejects.add(record, sku, "duplicate_sku", "sku", sku,
                    f"SKU already used by source row {first_seen[key]}; the first occurrence is kept")
    else:
        first_seen[key] = record.source_row
    return sku
