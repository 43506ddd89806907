"""Catalog ingestion: a catalog file in, a validated `catalog_table` and a `catalog_rejects` table out.

`load_catalog` reads CSV (UTF-8, BOM, GB18030/GBK), Excel, Parquet or a Shopify export (see `catalog_formats`),
validates every row (SKU, price, category, photo) and never raises for a bad row: each problem becomes a row in
`rejects` with a snake_case reason, the field and the offending value. A row with any problem stays out of `table`.
Only a catalog that cannot be read at all (or a broken mapping) raises `CatalogError`.

Reject reasons: missing_sku, unsafe_sku, duplicate_sku, missing_price, unparsable_price, non_positive_price,
currency_mismatch, unknown_category (only with unknown_category="reject"), photo_missing, photo_unreadable,
photo_truncated, photo_too_small, photo_too_large.

`content_hash` covers the canonical fields and the photo's bytes (via its sha256), but not `image` (where the
photo lives) nor `source_row` (where the row sits): moving the photo folder or reordering the file must not make
every SKU look changed and re-render a whole promotion.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from skucore.catalog.photos import PhotoChecker, PhotoReader, has_scheme
from skucore.catalog.formats import CatalogError, RawRecord, cell_text, read_source
from skucore.base.safety import is_safe_sku
from skucore.tables import CATALOG_SCHEMA, REJECTS_SCHEMA

__all__ = [
    "DEFAULT_KNOWN_CATEGORIES", "CATEGORY_SYNONYMS", "CatalogError", "CatalogLoad", "load_catalog", "parse_price",
    "normalize_category", "split_selling_points",
]

# The template library's categories (skucore.prompting.templates owns the real list; the Dagster layer passes it in).
DEFAULT_KNOWN_CATEGORIES = ("electronics", "fashion", "home_decor", "beauty", "default")

# Source category (after lowercase, spaces -> "_") -> template category. Shopify "Type" values are free text, and
# the Shopify taxonomy's top levels ("Apparel & Accessories") arrive here too.
CATEGORY_SYNONYMS = {
    "t_shirts": "fashion", "t_shirt": "fashion", "tees": "fashion", "apparel": "fashion", "clothing": "fashion",
    "apparel_&_accessories": "fashion", "hoodies": "fashion", "shirts": "fashion", "bags": "fashion",
    "服装": "fashion", "服饰": "fashion",
    "mugs": "home_decor", "mug": "home_decor", "home": "home_decor", "home_&_garden": "home_decor",
    "homeware": "home_decor", "家居": "home_decor",
    "phones": "electronics", "phone": "electronics", "electronic": "electronics", "数码": "electronics",
    "cosmetics": "beauty", "skincare": "beauty", "health_&_beauty": "beauty", "美妆": "beauty",
}



@dataclass
class CatalogLoad:
    table: pa.Table
    rejects: pa.Table
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- prices

# Currency markers -> ISO code. Longest first, so "HK$" wins over "$". "¥" means CNY here: SKU Studio's
# catalogs are Chinese marketplace catalogs (a JPY catalog would say "JPY" or "円").
_CURRENCY_MARKERS = [
    ("HK$", "HKD"), ("US$", "USD"), ("RMB", "CNY"), ("CNY", "CNY"), ("USD", "USD"), ("EUR", "EUR"),
    ("GBP", "GBP"), ("HKD", "HKD"), ("JPY", "JPY"), ("元", "CNY"), ("円", "JPY"), ("¥", "CNY"), ("￥", "CNY"),
    ("$", "USD"), ("€", "EUR"), ("£", "GBP"),
]
_NUMBER_CHARS = re.compile(r"^[+-]?[0-9.,]+$")


def parse_price(text: Any) -> tuple[float | None, str | None]:
    """Parse a price cell into (value, ISO currency or None). Returns (None, currency) when it is not a number.

    Accepts "¥1,299.00", "1299", "RMB 1299", "$12.50", "1.299,00 €", "129元", numbers from Excel/Parquet. With both
    separators the last one is the decimal point; a lone separator followed by exactly three digits groups
    thousands only if it is a comma ("1,299" = 1299, "12,5" = 12.5, "1.299" = 1.299).
    """
    if isinstance(text, bool):
        return None, None
    if isinstance(text, (int, float)):
        value = float(text)
        return (value, None) if value == value and abs(value) != float("inf") else (None, None)
    if not isinstance(text, str):
        return None, None
    rest = text.strip().upper().replace("\u00a0", " ")
    currency = None
    for marker, code in _CURRENCY_MARKERS:
        if marker in rest:
            currency = currency or code
            rest = rest.replace(marker, " ")
    rest = re.sub(r"[\s']", "", rest)  # "1 299,00" and "1'299.00" group thousands with spaces or apostrophes
    if not rest or not _NUMBER_CHARS.match(rest):
        return None, currency
    return _parse_number(rest), currency


def _parse_number(text: str) -> float | None:
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if "." in text and "," in text:
        decimal = "." if text.rfind(".") > text.rfind(",") else ","
    elif text.count(",") == 1 and len(text.split(",")[1]) != 3:
        decimal = ","  # "12,5" / "12,50": a decimal comma
    elif text.count(".") == 1:
        decimal = "."
    else:
        decimal = None  # "1,299", "1,299,000", "1.299.000": only thousands separators
    if decimal is None:
        whole, frac = text, ""
    else:
        if text.count(decimal) != 1:
            return None
        whole, frac = text.split(decimal)
    thousands = "," if decimal != "," else "."
    groups = whole.split(thousands) if thousands in whole else [whole]
    # Thousands groups must be real groups of three, else "1,2,3" would quietly become 123.
    if len(groups) > 1 and (not groups[0] or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    digits = "".join(groups)
    if not digits.isdigit() or (frac and not frac.isdigit()):
        return None
    return sign * float(f"{digits}.{frac or 0}")


# --------------------------------------------------------------------------------------------------- fields

def normalize_category(value: Any) -> str | None:
    text = cell_text(value)
    if text is None:
        return None
    key = re.sub(r"[\s\-]+", "_", text.strip().lower())
    return CATEGORY_SYNONYMS.get(key, key)


_SELLING_POINT_SPLIT = re.compile(r"[\n;；|]")


def split_selling_points(value: Any) -> list[str]:
    """Selling points from a list (Parquet) or a text cell split on newlines, ";", "；" or "|"."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else _SELLING_POINT_SPLIT.split(str(value))
    return [s for s in (str(i).strip() for i in items if i is not None) if s]


def _json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _attributes_json(extras: dict[str, Any]) -> str | None:
    if not extras:
        return None
    return json.dumps(extras, ensure_ascii=False, sort_keys=True, default=_json_default)


def _content_hash(row: dict[str, Any]) -> str:
    hashed = {k: row[k] for k in ("sku", "name", "category", "color", "material", "price", "currency", "brand",
                                  "selling_points", "attributes", "photo_sha256")}
    canonical = json.dumps(hashed, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------- rows

class _Rejects:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, record: RawRecord, sku: str | None, reason: str, field_name: str, value: Any, message: str):
        text = None if value is None else (value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, default=_json_default))
        self.rows.append({"source_row": record.source_row, "sku": sku, "reason": reason, "field": field_name,
                          "value": text, "message": message})

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=REJECTS_SCHEMA)


def _resolve_image(value: str, base: Path | str) -> str:
    """s3:// and other URIs pass through; a local path becomes absolute, so the table works from any folder.
    `base` may itself be a URI (a catalog stored in S3): relative paths are then joined to it."""
    if has_scheme(value):
        return value
    if isinstance(base, str) and has_scheme(base):
        return f"{base.rstrip('/')}/{value.lstrip('/')}"
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


def load_catalog(
    source: str | os.PathLike,
    *,
    mapping: dict | str | os.PathLike | None = None,
    fmt: str | None = None,
    known_categories: tuple[str, ...] | list[str] | None = None,
    unknown_category: str = "default",
    default_category: str = "default",
    read_photo: PhotoReader | None = None,
    min_side: int = 400,
    max_pixels: int = 40_000_000,
    photo_root: str | os.PathLike | None = None,
    default_currency: str | None = "CNY",
) -> CatalogLoad:
    """Read and validate a catalog file. See the module docstring for formats and reasons.

    `read_photo(uri) -> bytes` reads every photo when given (raise FileNotFoundError for a missing one so it is
    reported as photo_missing); by default local paths are read, relative ones against `photo_root` or the
    catalog's folder. `default_currency` fills rows whose price and currency column name none.
    """
    if unknown_category not in ("default", "reject"):
        raise ValueError(f"unknown_category must be 'default' or 'reject', got {unknown_category!r}")
    started = time.perf_counter()
    path = Path(source)
    read = read_source(path, fmt=fmt, mapping=mapping if not isinstance(mapping, os.PathLike) else Path(mapping))
    known = {normalize_category(c) for c in (known_categories or DEFAULT_KNOWN_CATEGORIES)}
    if unknown_category == "default" and default_category not in known:
        raise ValueError(f"default_category {default_category!r} is not one of the known categories {sorted(known)}")
    if photo_root is None:
        base: Path | str = path.parent
    elif isinstance(photo_root, str) and has_scheme(photo_root):
        base = photo_root
    else:
        base = Path(photo_root)
    photos = PhotoChecker(read_photo, min_side, max_pixels)
    rejects = _Rejects()
    first_seen: dict[str, int] = {}
    defaulted: Counter[str] = Counter()
    rows = []
    for record in read.records:
        row = _validate_record(record, rejects, first_seen, known, unknown_category, default_category,
                               defaulted, photos, base, default_currency)
        if row is not None:
            rows.append(row)
    reject_table = rejects.table()
    rejected_rows = len(set(reject_table.column("source_row").to_pylist()))
    stats = {
        "source": str(path), "format": read.fmt, "encoding": read.encoding,
        "rows_read": len(read.records), "rows_loaded": len(rows), "rows_rejected": rejected_rows,
        "rejects_by_reason": dict(Counter(reject_table.column("reason").to_pylist())),
        "category_defaulted": dict(defaulted),
        "photos_validated": photos.validated, "photo_cache_hits": photos.cache_hits,
        "seconds": round(time.perf_counter() - started, 3),
        **read.stats,
    }
    return CatalogLoad(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), reject_table, stats)


def _validate_record(record: RawRecord, rejects: _Rejects, first_seen: dict[str, int], known: set[str],
                     unknown_category: str, default_category: str, defaulted: Counter, photos: PhotoChecker,
                     base: Path, default_currency: str | None) -> dict[str, Any] | None:
    """Every check runs, so one pass over the rejects shows all of a row's problems; None if any failed."""
    before = len(rejects.rows)
    f = record.fields
    sku = _check_sku(record, rejects, first_seen)
    price, currency = _check_price(record, sku, rejects, default_currency)
    category = _check_category(record, sku, rejects, known, unknown_category, default_category, defaulted)
    image, photo_sha = _check_photo(record, sku, rejects, photos, base)
    if len(rejects.rows) != before:
        return None
    row = {
        "sku": sku, "name": cell_text(f.get("name")), "category": category, "color": cell_text(f.get("color")),
        "material": cell_text(f.get("material")), "price": price, "currency": currency,
        "brand": cell_text(f.get("brand")), "selling_points": split_selling_points(f.get("selling_points")),
        "image": image, "attributes": _attributes_json(record.extras), "photo_sha256": photo_sha,
        "source_row": record.source_row,
    }
    row["content_hash"] = _content_hash(row)
    return row


def _check_sku(record: RawRecord, rejects: _Rejects, first_seen: dict[str, int]) -> str | None:
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


def _check_price(record: RawRecord, sku: str | None, rejects: _Rejects, default_currency: str | None
                 ) -> tuple[float | None, str | None]:
    raw = record.fields.get("price")
    column_currency = cell_text(record.fields.get("currency"))
    column_currency = column_currency.upper() if column_currency else None
    if raw is None:
        rejects.add(record, sku, "missing_price", "price", None, "no price in this row")
        return None, None
    value, currency = parse_price(raw)
    if value is None:
        rejects.add(record, sku, "unparsable_price", "price", raw, "not a price (e.g. 1299, ¥1,299.00, 1.299,00 €)")
        return None, None
    if value <= 0:
        rejects.add(record, sku, "non_positive_price", "price", raw, f"price must be above zero, got {value:g}")
        return None, None
    if currency and column_currency and _currency_code(column_currency) != currency:
        rejects.add(record, sku, "currency_mismatch", "currency", column_currency,
                    f"the price {raw!r} says {currency} but the currency column says {column_currency}")
        return None, None
    return value, currency or (_currency_code(column_currency) if column_currency else default_currency)


def _currency_code(text: str) -> str:
    _, currency = parse_price(f"{text} 1")
    return currency or text


def _check_category(record: RawRecord, sku: str | None, rejects: _Rejects, known: set[str], unknown_category: str,
                    default_category: str, defaulted: Counter) -> str | None:
    raw = record.fields.get("category")
    category = normalize_category(raw)
    if category in known:
        return category
    if unknown_category == "reject":
        rejects.add(record, sku, "unknown_category", "category", raw,
                    f"category {category!r} is not one of {', '.join(sorted(known))}")
        return None
    defaulted[cell_text(raw) or ""] += 1  # "" counts rows with no category at all
    return default_category


def _check_photo(record: RawRecord, sku: str | None, rejects: _Rejects, photos: PhotoChecker, base: Path
                 ) -> tuple[str | None, str | None]:
    raw = cell_text(record.fields.get("image"))
    if raw is None:
        rejects.add(record, sku, "photo_missing", "image", None, "no photo named in this row")
        return None, None
    image = _resolve_image(raw, base)
    result = photos.check(image)
    if result.reason:
        rejects.add(record, sku, result.reason, "image", raw, result.message)
        return None, None
    return image, result.sha256
