"""Catalog ingestion: a catalog file in, a validated `catalog_table` and a `catalog_rejects` table out.

`load_catalog` reads any supported export (`skucore.catalog.formats`), applies the mapping file
(`skucore.catalog.mapping`), validates every record (SKU, price and currency, category, photo) and never raises
for a bad row: each problem becomes a row in `rejects` with a snake_case reason, the field and the offending value.
A record with any problem stays out of `table`. Only a catalog that cannot be used as configured raises
`CatalogError` (a configuration error): no such file, an unknown format, a broken mapping, prices whose currency
nothing names, relative photo paths with no photo root to resolve them.

Reject reasons: unparsable_record, missing_sku, unsafe_sku, duplicate_sku, missing_price, unparsable_price,
non_positive_price, currency_mismatch, unknown_category (only with unknown_category="reject"), and the photo
reasons of `skucore.catalog.photos`.

`content_hash` covers the canonical fields and the photo's bytes (via its sha256), but not `image` (where the
photo lives) nor `source_row` (where the row sits): moving the photo folder or reordering the file must not make
every SKU look changed and re-render a whole promotion.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from skucore.catalog.blob_cache import LocalFolderCache
from skucore.catalog.categories import DEFAULT_KNOWN_CATEGORIES, CategoryMapper, segment_key
from skucore.catalog.formats import CatalogError, RawRecord, cell_text, read_source
from skucore.catalog.records import SourceRead
from skucore.catalog.mapping import CatalogMapping, load_mapping
from skucore.catalog.money import currency_code, is_currency_code, parse_price
from skucore.catalog.photo_fetch import PhotoFetcher
from skucore.catalog.photos import PhotoChecker, PhotoReader, has_scheme
from skucore.catalog.rows import Rejects, attributes_json, check_sku, content_hash, split_selling_points
from skucore.tables import CATALOG_SCHEMA

__all__ = ["DEFAULT_KNOWN_CATEGORIES", "CatalogError", "CatalogLoad", "load_catalog", "preflight_catalog",
           "parse_price", "split_selling_points", "CURRENCY_HELP"]

CURRENCY_HELP = ("set the catalog currency with --currency (e.g. --currency SEK), the SKUSTUDIO_CATALOG_CURRENCY "
                 "environment variable, CatalogSource.currency, or `currency:` in the mapping file")


@dataclass
class CatalogLoad:
    table: pa.Table
    rejects: pa.Table
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    """What a catalog is, once read and configured: everything but its photos."""

    path: Path
    read: SourceRead
    mapping: CatalogMapping
    categories: CategoryMapper
    currency: str | None
    photo_base: Path | str


def _plan(source, *, mapping, fmt, known_categories, unknown_category, default_category, photo_root, currency,
          now) -> _Plan:
    if unknown_category not in ("default", "reject"):
        raise ValueError(f"unknown_category must be 'default' or 'reject', got {unknown_category!r}")
    path = Path(source)
    mapping = load_mapping(Path(mapping) if isinstance(mapping, os.PathLike) else mapping)
    known = tuple(known_categories or DEFAULT_KNOWN_CATEGORIES)
    if unknown_category == "default" and segment_key(default_category) not in {segment_key(c) for c in known}:
        raise ValueError(f"default_category {default_category!r} is not one of the known categories {sorted(known)}")
    categories = CategoryMapper(mapping.category_rules, known, mapping.where)
    read = read_source(path, fmt=fmt, mapping=mapping, now=now)
    catalog_currency = currency or mapping.currency or read.currency
    if catalog_currency is not None:
        if not is_currency_code(catalog_currency):
            raise CatalogError(f"catalog currency {catalog_currency!r} is not a three-letter ISO 4217 code such as "
                               f"USD, EUR or SEK")
        catalog_currency = catalog_currency.strip().upper()
    root = photo_root if photo_root not in (None, "") else mapping.photo_prefix
    if root is None and read.photo_root_hint:
        raise CatalogError(f"catalog {path}: {read.photo_root_hint}")
    if root is None:
        base: Path | str = path.parent
    elif isinstance(root, str) and has_scheme(root):
        base = root
    else:
        base = Path(root)
    return _Plan(path, read, mapping, categories, catalog_currency, base)


def preflight_catalog(source: str | os.PathLike, *, mapping=None, fmt: str | None = None,
                      known_categories=None, photo_root=None, currency: str | None = None) -> dict[str, Any]:
    """Everything `load_catalog` checks before touching a photo: the file reads in its format, the mapping file
    is valid, every price has a currency. Raises CatalogError; returns what it found (format, records)."""
    plan = _plan(source, mapping=mapping, fmt=fmt, known_categories=known_categories, unknown_category="default",
                 default_category="default", photo_root=photo_root, currency=currency, now=None)
    rejects = Rejects()
    _check_currencies(plan, rejects)
    return {"format": plan.read.fmt, "records": len(plan.read.records), "currency": plan.currency}


def _check_currencies(plan: _Plan, rejects: Rejects) -> list[tuple[RawRecord, dict[str, Any] | None]]:
    """Pass 1 over every record: SKU, price, category. Raises CatalogError when prices have no currency."""
    first_seen: dict[str, int] = {}
    no_currency: list[RawRecord] = []
    checked = []
    for record in plan.read.records:
        if record.problem:
            rejects.add(record, None, record.problem[0], "record", None, record.problem[1])
            checked.append((record, None))
            continue
        sku = check_sku(record, rejects, first_seen)
        price = _check_price(record, sku, rejects, plan.currency)
        if price is not None and price[2] is None:
            no_currency.append(record)
        checked.append((record, {"sku": sku, "price": price}))
    if no_currency:
        example, count = no_currency[0], len(no_currency)
        why = ("the file names none" if plan.read.fmt in ("csv", "xlsx", "parquet")
               else f"{plan.read.fmt} exports never name the shop's currency")
        raise CatalogError(
            f"catalog {plan.path}: {count} row{'s have' if count > 1 else ' has'} a price but no currency (e.g. "
            f"row {example.source_row}: {cell_text(example.fields.get('price'))!r}) and no catalog currency is set "
            f"({why}); {CURRENCY_HELP}")
    return checked


def load_catalog(
    source: str | os.PathLike,
    *,
    mapping: CatalogMapping | dict | str | os.PathLike | None = None,
    fmt: str | None = None,
    known_categories: tuple[str, ...] | list[str] | None = None,
    unknown_category: str = "default",
    default_category: str = "default",
    read_photo: PhotoReader | None = None,
    min_side: int = 400,
    max_pixels: int = 40_000_000,
    photo_root: str | os.PathLike | None = None,
    currency: str | None = None,
    fetcher: PhotoFetcher | None = None,
    animated_photos: str = "first_frame",
    photo_fetch_workers: int = 16,
    now: dt.datetime | None = None,
) -> CatalogLoad:
    """Read and validate a catalog file. See the module docstring for formats and reasons.

    `read_photo(uri) -> bytes` reads local and s3:// photos when given (raise FileNotFoundError for a missing one
    so it is reported as photo_missing); by default local paths are read, relative ones against `photo_root`
    (a folder or URL prefix), the mapping file's photo prefix, or the catalog's folder. http(s) photos go through
    `fetcher` (without one: a fetcher with default settings and a throwaway cache, which only validates them).
    `currency` is the catalog currency, for prices that name none.
    """
    started = time.perf_counter()
    plan = _plan(source, mapping=mapping, fmt=fmt, known_categories=known_categories,
                 unknown_category=unknown_category, default_category=default_category, photo_root=photo_root,
                 currency=currency, now=now)
    rejects = Rejects()
    checked = _check_currencies(plan, rejects)
    resolved: dict[str, str] = {}  # variants repeat their product's photo: resolve each name once
    images = {}
    for record, partial in checked:
        raw = cell_text(record.fields.get("image")) if partial is not None else None
        if raw:
            if raw not in resolved:
                resolved[raw] = _resolve_image(raw, plan.photo_base)
            images[id(record)] = resolved[raw]
    with tempfile.TemporaryDirectory(prefix="skustudio-photos-") as scratch:
        if fetcher is None and any(_is_url(u) for u in images.values()):
            fetcher = PhotoFetcher(LocalFolderCache(scratch))
        photos = PhotoChecker(read_photo, min_side, max_pixels, fetcher=fetcher, animated=animated_photos,
                              fetch_workers=photo_fetch_workers)
        photos.prefetch(images.values())
        defaulted: dict[str, list[str]] = {}
        rows = []
        for record, partial in checked:
            if partial is None:
                continue
            row = _finish_record(record, partial, images.get(id(record)), plan, rejects, photos,
                                 unknown_category, default_category, defaulted)
            if row is not None:
                rows.append(row)
    reject_table = rejects.table()
    stats = {
        "source": str(plan.path), "format": plan.read.fmt, "encoding": plan.read.encoding,
        "currency": plan.currency, "currencies": dict(Counter(r["currency"] for r in rows)),
        "rows_read": len(plan.read.records), "rows_loaded": len(rows), "rows_rejected": rejects.rows_rejected(),
        "rejects_by_reason": rejects.by_reason(), "reject_examples": rejects.examples(),
        "category_defaulted": {k: len(v) for k, v in defaulted.items()},
        "category_default_examples": {k: v[:3] for k, v in sorted(defaulted.items(), key=lambda kv: -len(kv[1]))[:10]},
        "rows_defaulted": sum(len(v) for v in defaulted.values()),
        "photos_validated": photos.validated, "photo_cache_hits": photos.cache_hits,
        "photo_fetch": dict(fetcher.stats) if fetcher is not None else None,
        "seconds": round(time.perf_counter() - started, 3),
        **plan.read.stats,
    }
    return CatalogLoad(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), reject_table, stats)


def _is_url(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://"))


def _resolve_image(value: str, base: Path | str) -> str:
    """URIs pass through; a local path becomes absolute, so the table works from any folder. `base` may itself
    be a URI (a catalog stored in S3, a shop's media URL): relative paths are then joined to it."""
    if has_scheme(value):
        return value
    if isinstance(base, str) and has_scheme(base):
        return f"{base.rstrip('/')}/{value.lstrip('/')}"
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else Path(os.path.abspath(Path(base) / path)))


def _finish_record(record: RawRecord, partial: dict[str, Any], image: str | None, plan: _Plan, rejects: Rejects,
                   photos: PhotoChecker, unknown_category: str, default_category: str,
                   defaulted: dict[str, list[str]]) -> dict[str, Any] | None:
    """Pass 2: category and photo. Every check runs, so the rejects show all of a row's problems."""
    f, sku = record.fields, partial["sku"]
    category, fell_to_default = _check_category(record, sku, rejects, plan.categories, unknown_category,
                                                default_category)
    photo = _check_photo(record, sku, rejects, photos, image)
    if rejects.has_record(record) or partial["price"] is None:
        return None
    if fell_to_default:  # "" counts rows with no category at all
        key = cell_text(f.get("category")) or cell_text(f.get("taxonomy")) or ""
        defaulted.setdefault(key, []).append(sku)
    price, list_price, currency = partial["price"]
    row = {
        "sku": sku, "name": cell_text(f.get("name")), "category": category,
        "source_category": cell_text(f.get("category")) or cell_text(f.get("taxonomy")),
        "color": cell_text(f.get("color")), "material": cell_text(f.get("material")), "price": price,
        "list_price": list_price, "currency": currency, "brand": cell_text(f.get("brand")),
        "selling_points": split_selling_points(f.get("selling_points")), "image": image,
        "attributes": attributes_json(record.extras), "photo_sha256": photo.sha256,
        "photo_facts": json.dumps(photo.facts, sort_keys=True) if photo.facts else None,
        "source_row": record.source_row,
    }
    row["content_hash"] = content_hash(row)
    return row


def _check_price(record: RawRecord, sku: str | None, rejects: Rejects, catalog_currency: str | None
                 ) -> tuple[float, float | None, str | None] | None:
    """(price a shopper pays, struck-through list price or None, currency or None when nothing names one)."""
    f = record.fields
    raw, sale_raw, list_raw = f.get("price"), f.get("sale_price"), f.get("list_price")
    if raw is None and sale_raw is not None:
        raw, sale_raw = sale_raw, None  # a sale price alone is the price
    column_text = cell_text(f.get("currency"))
    column = currency_code(column_text) if column_text else None
    if raw is None:
        rejects.add(record, sku, "missing_price", "price", None, "no price in this row")
        return None
    value, currency = parse_price(raw, catalog_currency)
    if value is None:
        rejects.add(record, sku, "unparsable_price", "price", raw, "not a price (e.g. 1299, ¥1,299.00, 1.299,00 €, "
                                                                   "12.99 USD)")
        return None
    if value <= 0:
        rejects.add(record, sku, "non_positive_price", "price", raw, f"price must be above zero, got {value:g}")
        return None
    if currency and column and column != currency:
        rejects.add(record, sku, "currency_mismatch", "currency", column_text,
                    f"the price {raw!r} says {currency} but the currency column says {column_text}")
        return None
    currency = currency or column
    other = {}
    for name, text in (("sale_price", sale_raw), ("list_price", list_raw)):
        if text is None:
            continue
        amount, their_currency = parse_price(text, catalog_currency)
        if amount is None:
            rejects.add(record, sku, "unparsable_price", name, text, f"{name} is not a price")
            return None
        if their_currency and currency and their_currency != currency:
            rejects.add(record, sku, "currency_mismatch", name, text,
                        f"{name} {text!r} is in {their_currency} but the price {raw!r} is in {currency}")
            return None
        currency = currency or their_currency
        other[name] = amount
    currency = currency or catalog_currency
    sale, listed = other.get("sale_price"), other.get("list_price")
    if sale is not None and 0 < sale < value:
        return sale, value, currency
    return value, listed if listed is not None and listed > value else None, currency


def _check_category(record: RawRecord, sku: str | None, rejects: Rejects, categories: CategoryMapper,
                    unknown_category: str, default_category: str) -> tuple[str | None, bool]:
    """(template category, whether it fell to the default)."""
    raw, taxonomy = record.fields.get("category"), record.fields.get("taxonomy")
    category = categories.choose(raw, taxonomy)
    if category is not None:
        return category, False
    if unknown_category == "reject":
        rejects.add(record, sku, "unknown_category", "category", raw,
                    f"category {cell_text(raw)!r} matches no category rule nor template category "
                    f"({', '.join(sorted(categories.known))})")
        return None, False
    return segment_key(default_category), True


@dataclass
class _Photo:
    sha256: str | None
    facts: dict[str, Any]


def _check_photo(record: RawRecord, sku: str | None, rejects: Rejects, photos: PhotoChecker, image: str | None
                 ) -> _Photo:
    raw = cell_text(record.fields.get("image"))
    if image is None:
        rejects.add(record, sku, "photo_missing", "image", None, "no photo named in this row")
        return _Photo(None, {})
    verdict = photos.check(image)
    if verdict.reason:
        rejects.add(record, sku, verdict.reason, "image", raw, verdict.message)
        return _Photo(None, {})
    return _Photo(verdict.sha256, verdict.facts)
