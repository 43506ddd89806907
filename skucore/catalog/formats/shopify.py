"""Shopify product exports, classic layout (before 2024: `Handle`, `Variant SKU`, `Image Src`) and current layout
(`URL handle`, `SKU`, `Product image URL`), one record per variant.

Conventions both layouts share: product-level columns are filled on a product's first row only and inherited by
its later rows; image N of a product sits on row N (so an image on a variant row is the product's Nth image, not
that variant's photo: a variant's photo is its `Variant Image`, else the product's first image); rows with only a
handle and image columns are extra images; `Default Title` as the only option value marks a product without
options; `Compare At Price` is the struck-through price. Prices are bare numbers in the store's currency, which the
file never names.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from skucore.catalog.records import CatalogError, RawRecord, is_color_name, is_material_name
from skucore.catalog.formats.tabular import Rows, row_dict

# Column names per layout (the current layout renamed most of them in 2024).
LAYOUTS: dict[str, dict[str, str]] = {
    "classic": {"handle": "Handle", "sku": "Variant SKU", "price": "Variant Price",
                "list_price": "Variant Compare At Price", "image": "Image Src", "variant_image": "Variant Image",
                "category": "Product Category", "option_name": "Option{n} Name", "option_value": "Option{n} Value"},
    "current": {"handle": "URL handle", "sku": "SKU", "price": "Price", "list_price": "Compare-at price",
                "image": "Product image URL", "variant_image": "Variant image URL", "category": "Product category",
                "option_name": "Option{n} name", "option_value": "Option{n} value"},
}
# Columns that belong to one variant or one image; every other column is product-level.
_ROW_LEVEL = re.compile(
    r"^(variant |image |option\d value$|option\d linked to$|sku$|barcode$|price$|compare.at price|cost per item|"
    r"charge tax|tax code|unit price|inventory|continue selling|weight|requires shipping|fulfillment service|"
    r"product image url|image position|image alt text|variant image url|price / |compare.at price / |"
    r"included / |status / )", re.IGNORECASE)
_IMAGE_COLUMNS = re.compile(r"^(image |product image url|image position|image alt text)", re.IGNORECASE)
_METAFIELD = re.compile(r"^(?P<label>.+?) \((?P<ns>product|variant)\.metafields\.(?P<key>[^)]+)\)$")


def shopify_layout(header: list[str]) -> str | None:
    columns = set(header)
    for layout, names in LAYOUTS.items():
        if names["handle"] in columns and names["sku"] in columns:
            return layout
    return None


def read_shopify(header: list[str], rows: Rows, path: Path) -> tuple[list[RawRecord], dict[str, Any]]:
    """Flatten the export into one record per variant. Returns (records, stats)."""
    layout = shopify_layout(header)
    if layout is None:
        raise CatalogError(f"catalog {path}: a Shopify export needs the columns Handle and Variant SKU (classic) "
                           f"or URL handle and SKU (current layout)")
    names = LAYOUTS[layout]
    products: dict[str, dict[str, Any]] = {}
    image_only = 0
    for source_row, values in rows:
        row = row_dict(header, values)
        handle = row.get(names["handle"]) or f"(row {source_row})"
        product = products.get(handle)
        if product is None:
            product = products[handle] = {"columns": {}, "images": [], "variants": []}
        for column, value in row.items():
            if value is not None and not _ROW_LEVEL.match(column):
                product["columns"].setdefault(column, value)
        if row.get(names["image"]):
            product["images"].append(row[names["image"]])
        if _is_variant_row(row, names):
            product["variants"].append((source_row, row))
        else:
            image_only += 1  # an extra product image, not a product
    records = []
    for product in products.values():
        first_image = product["images"][0] if product["images"] else None
        for source_row, row in product["variants"]:
            merged = {**product["columns"], **{c: v for c, v in row.items() if _ROW_LEVEL.match(c)}}
            records.append(_record(source_row, merged, names, first_image))
    return records, {"layout": layout, "shopify_image_only_rows": image_only}


def _is_variant_row(row: dict[str, Any], names: dict[str, str]) -> bool:
    return any(value is not None and _ROW_LEVEL.match(column) and not _IMAGE_COLUMNS.match(column)
               for column, value in row.items()) or row.get(names["sku"]) is not None


def _record(source_row: int, row: dict[str, Any], names: dict[str, str], first_image: str | None) -> RawRecord:
    options = {}
    for n in (1, 2, 3):
        name, value = row.get(names["option_name"].format(n=n)), row.get(names["option_value"].format(n=n))
        if name and value and value != "Default Title":  # "Default Title" marks a product without options
            options[str(name)] = value
    fields: dict[str, Any] = {
        "sku": row.get(names["sku"]), "name": row.get("Title"), "brand": row.get("Vendor"),
        "price": row.get(names["price"]), "list_price": row.get(names["list_price"]),
        # The Shopify taxonomy path when the product has one, else the shop's own free-text Type.
        "category": row.get(names["category"]) or row.get("Type"),
        "taxonomy": row.get("Google Shopping / Google Product Category")
        or row.get("Google Shopping / Google product category"),
        # A variant's own image, else the product's first image (later rows' images are extra images, not theirs).
        "image": row.get(names["variant_image"]) or first_image,
        "color": next((v for k, v in options.items() if is_color_name(k)), None) or _metafield(row, is_color_name),
        "material": next((v for k, v in options.items() if is_material_name(k)), None)
        or _metafield(row, is_material_name),
    }
    consumed = {names[k] for k in ("sku", "price", "list_price", "image", "variant_image", "category")}
    consumed |= {"Title", "Vendor", "Image Position", "Image Alt Text", "Image position", "Image alt text"}
    consumed |= {names[k].format(n=n) for n in (1, 2, 3) for k in ("option_name", "option_value")}
    extras = {c: v for c, v in row.items() if c not in consumed and v is not None}
    if options:
        extras["options"] = options
    if isinstance(extras.get("Tags"), str):
        extras["Tags"] = [t.strip() for t in extras["Tags"].split(",") if t.strip()]
    return RawRecord(source_row, fields, extras, columns=row)


def _metafield(row: dict[str, Any], matches) -> Any:
    for column, value in row.items():
        match = _METAFIELD.match(column)
        if match and value is not None and matches(match["label"]):
            return value
    return None
