"""Magento 2 (Adobe Commerce) product export / import CSV, one record per sellable SKU.

Conventions: one row per SKU and store view; `store_view_code` empty holds the default values, other rows only
what a store view changes (merged into their SKU as `store_views`, never a duplicate); configurable, bundle and
grouped products are containers whose children (`configurable_variations` `sku=...,color=...|...`) are the SKUs
and inherit what they leave empty; `categories` holds comma-separated paths `Default Category/Men/Tops`, the
deepest is the product's; `base_image` is relative to the media folder (`/r/u/x.jpg`, under
pub/media/catalog/product) unless it is a URL, `no_selection` means none; `additional_attributes` is
`code=value,code=value` with multi-select values joined by `|`; `price` is the price, `special_price` applies
between `special_price_from_date` and `special_price_to_date`. The currency is the store's base currency, which
the file never names.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from skucore.catalog.records import CatalogError, RawRecord, deepest_path, photo_list, sale_applies
from skucore.catalog.formats.tabular import Rows, row_dict

REQUIRED_COLUMNS = ("sku", "product_type", "price")
_CONTAINERS = {"configurable", "bundle", "grouped"}
_NO_IMAGE = "no_selection"
_CONSUMED = {"sku", "store_view_code", "product_type", "categories", "name", "price", "special_price",
             "special_price_from_date", "special_price_to_date", "base_image", "additional_attributes",
             "configurable_variations"}
PHOTO_ROOT_HINT = ("Magento's base_image paths are relative to the store's media folder: set the photo root "
                   "(--photo-root, SKUSTUDIO_PHOTO_ROOT or the mapping file's photos.prefix) to the folder or URL of "
                   "pub/media/catalog/product")


def is_magento_header(header: list[str]) -> bool:
    columns = set(header)
    return all(c in columns for c in REQUIRED_COLUMNS) and ("store_view_code" in columns or "base_image" in columns)


def additional_attributes(text: Any) -> dict[str, str]:
    """`material=Baumwolle|Polyester,color=Rot` -> {"material": "Baumwolle, Polyester", "color": "Rot"}."""
    out: dict[str, str] = {}
    for pair in str(text or "").split(","):
        code, sep, value = pair.partition("=")
        if sep and code.strip() and value.strip():
            out[code.strip()] = ", ".join(v.strip() for v in value.split("|") if v.strip())
    return out


def read_magento(header: list[str], rows: Rows, path: Path, now: dt.datetime
                 ) -> tuple[list[RawRecord], dict[str, Any], bool]:
    """Returns (records, stats, whether any photo path is relative to the media folder)."""
    if not is_magento_header(header):
        raise CatalogError(f"catalog {path}: a Magento 2 export needs the columns {', '.join(REQUIRED_COLUMNS)} "
                           f"and store_view_code or base_image")
    defaults: dict[str, tuple[int, dict[str, Any]]] = {}
    order: list[str] = []
    views: dict[str, dict[str, dict[str, Any]]] = {}
    duplicates: list[tuple[int, dict[str, Any]]] = []
    for source_row, values in rows:
        row = row_dict(header, values)
        sku, view = str(row.get("sku") or ""), row.get("store_view_code")
        if view:
            views.setdefault(sku, {})[str(view)] = {c: v for c, v in row.items() if v is not None and c != "sku"}
        elif sku and sku in defaults:
            duplicates.append((source_row, row))  # a second default row: the loader reports duplicate_sku
        else:
            defaults[sku or f"(row {source_row})"] = (source_row, row)
            order.append(sku or f"(row {source_row})")
    parent_of: dict[str, dict[str, Any]] = {}
    for _, row in defaults.values():
        for variation in str(row.get("configurable_variations") or "").split("|"):
            child = additional_attributes(variation).get("sku")
            if child:
                parent_of[child] = row
    records, containers, relative = [], 0, False
    for key in order:
        source_row, row = defaults[key]
        if str(row.get("product_type") or "").lower() in _CONTAINERS:
            containers += 1
            continue
        record = _record(source_row, row, parent_of.get(key, {}), views.get(key), now)
        relative |= _is_relative(record.fields.get("image"))
        records.append(record)
    for source_row, row in duplicates:
        records.append(_record(source_row, row, {}, None, now))
    records.sort(key=lambda r: r.source_row)
    return records, {"magento_container_rows": containers, "magento_store_view_rows": sum(
        len(v) for v in views.values())}, relative


def _is_relative(image: Any) -> bool:
    return isinstance(image, str) and "://" not in image


def _image(value: Any) -> str | None:
    if not value or value == _NO_IMAGE:
        return None
    text = str(value)
    # "/r/u/x.jpg" is relative to the media folder despite its leading slash.
    return text if "://" in text else text.lstrip("/")


def _record(source_row: int, row: dict[str, Any], parent: dict[str, Any], views: dict | None,
            now: dt.datetime) -> RawRecord:
    attrs = {**additional_attributes(parent.get("additional_attributes")),
             **additional_attributes(row.get("additional_attributes"))}
    special = row.get("special_price")
    on_sale = special is not None and sale_applies(
        row.get("special_price_from_date"), row.get("special_price_to_date"), now)
    category_text = row.get("categories") or parent.get("categories")
    image = _image(row.get("base_image")) if row.get("base_image") else _image(parent.get("base_image"))
    fields = {
        "sku": row.get("sku"), "name": row.get("name"),
        "category": deepest_path(photo_list(category_text)) if category_text else None,
        "price": row.get("price"), "sale_price": special if on_sale else None,
        "image": image, "color": attrs.get("color"), "material": attrs.get("material"),
        "brand": attrs.get("brand") or attrs.get("manufacturer"),
    }
    extras = {c: v for c, v in row.items() if v is not None and c not in _CONSUMED}
    extras.update({k: v for k, v in attrs.items() if k not in ("color", "material")})
    more = [p for p in (_image(i) for i in photo_list(row.get("additional_images"))) if p]
    if more:
        extras["additional_images"] = more
    if views:
        extras["store_views"] = views
    if parent.get("sku"):
        extras["parent_sku"] = parent["sku"]
    return RawRecord(source_row, fields, extras, columns=row)
