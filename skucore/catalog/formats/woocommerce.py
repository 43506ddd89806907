"""WooCommerce product CSV exports (`WC_Product_CSV_Exporter`), one record per simple product and per variation.

Conventions: `Type` simple / variable / variation / grouped / external; a variable product is a template, its
variations are the SKUs and name it in `Parent` by SKU or as `id:<ID>`; a variation without `Images` shows its
parent's first image, and inherits the parent's categories, brand and single-valued attributes; `Images` is a
comma-separated list (first = main); `Categories` holds comma-separated paths `A > B` (a comma inside a name is
escaped `\\,`), the deepest is the product's; `Regular price` is the price, `Sale price` applies between `Date sale
price starts` and `ends` (either may be empty). Prices are plain numbers in the store currency, never named.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from skucore.catalog.records import CatalogError, RawRecord, deepest_path, is_color_name, is_material_name, \
    photo_list, sale_applies
from skucore.catalog.formats.tabular import Rows, row_dict

REQUIRED_COLUMNS = ("Type", "SKU", "Regular price")
_NOT_RECORDS = {"variable", "grouped"}
_ATTRIBUTE = re.compile(r"^Attribute (\d+) (name|value\(s\))$")
_CONSUMED = {"SKU", "Name", "Type", "Parent", "Categories", "Images", "Regular price", "Sale price", "Brands",
             "Date sale price starts", "Date sale price ends"}


def is_woocommerce_header(header: list[str]) -> bool:
    columns = set(header)
    return all(c in columns for c in REQUIRED_COLUMNS) and ("Parent" in columns or "Images" in columns)


def read_woocommerce(header: list[str], rows: Rows, path: Path, now: dt.datetime
                     ) -> tuple[list[RawRecord], dict[str, Any]]:
    if not is_woocommerce_header(header):
        raise CatalogError(f"catalog {path}: a WooCommerce export needs the columns {', '.join(REQUIRED_COLUMNS)} "
                           f"and Parent or Images")
    parsed = [(source_row, row_dict(header, values)) for source_row, values in rows]
    parents: dict[str, dict[str, Any]] = {}
    for _, row in parsed:
        if str(row.get("Type") or "").lower() in _NOT_RECORDS:
            for key in (row.get("SKU"), f"id:{row.get('ID')}" if row.get("ID") else None):
                if key:
                    parents[str(key)] = row
    records, templates = [], 0
    for source_row, row in parsed:
        kinds = {k.strip().lower() for k in str(row.get("Type") or "simple").split(",")}
        if kinds & _NOT_RECORDS:
            templates += 1
            continue
        parent = parents.get(str(row.get("Parent"))) if row.get("Parent") else None
        records.append(_record(source_row, row, parent or {}, now))
    return records, {"woocommerce_parent_rows": templates}


def attributes(row: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    values: dict[str, str] = {}
    for column, value in row.items():
        match = _ATTRIBUTE.match(column)
        if match and value is not None:
            (names if match[2] == "name" else values)[match[1]] = str(value)
    return {names[n]: values[n] for n in names if n in values}


def categories(text: Any) -> str | None:
    if not text:
        return None
    paths = [p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\),", str(text))]
    return deepest_path(paths)


def _record(source_row: int, row: dict[str, Any], parent: dict[str, Any], now: dt.datetime) -> RawRecord:
    own = attributes(row)
    # The parent's attributes the variation does not set: one value is the product's (Färg: Röd on every size);
    # several ("S, M, L") are the choices the variations make, so they say nothing about this one.
    inherited = {k: v for k, v in attributes(parent).items() if k not in own and "," not in v}
    attrs = {**inherited, **own}
    images = photo_list(row.get("Images")) or photo_list(parent.get("Images"))[:1]
    on_sale = row.get("Sale price") is not None and sale_applies(
        row.get("Date sale price starts"), row.get("Date sale price ends"), now)
    fields = {
        "sku": row.get("SKU"), "name": row.get("Name"),
        "category": categories(row.get("Categories")) or categories(parent.get("Categories")),
        "brand": row.get("Brands") or parent.get("Brands"),
        "price": row.get("Regular price"), "sale_price": row.get("Sale price") if on_sale else None,
        "image": images[0] if images else None,
        "color": next((v for k, v in attrs.items() if is_color_name(k)), None),
        "material": next((v for k, v in attrs.items() if is_material_name(k)), None),
    }
    extras = {c: v for c, v in row.items() if v is not None and c not in _CONSUMED and not _ATTRIBUTE.match(c)
              and not c.startswith("Attribute ")}
    extras.update(attrs)  # flat, as prompts read attributes
    if len(images) > 1:
        extras["more_images"] = images[1:]
    if row.get("Parent"):
        extras["Parent"] = row["Parent"]
    if isinstance(extras.get("Tags"), str):
        extras["Tags"] = [t.strip() for t in extras["Tags"].split(",") if t.strip()]
    if row.get("Sale price") is not None and not on_sale:
        extras["sale_price_not_applied"] = row["Sale price"]
    return RawRecord(source_row, fields, extras, columns=row)
