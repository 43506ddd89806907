"""Google Retail (Vertex AI Search for commerce) product JSON lines: one `Product` per line, one record per
sellable product.

Conventions: `type` PRIMARY or VARIANT; a VARIANT names its product in `primaryProductId` and inherits what it
leaves out; a PRIMARY that has variants is not sold itself (its variants are), one without variants is;
`priceInfo {currencyCode, price, originalPrice}` (price = what a buyer pays, originalPrice = before discount);
`images [{uri, height, width}]`, the first is the main photo; `categories` full paths joined with " > ", the
deepest is the product's; `colorInfo {colorFamilies, colors}`, `sizes`, `brands`, `materials`, `attributes`
`{key: {text: [...]} | {numbers: [...]}}`. A line that is not a JSON object becomes one `unparsable_record`
reject: one bad line never sinks the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skucore.catalog.records import CatalogError, RawRecord, deepest_path

_INHERITED = ("title", "categories", "brands", "images", "priceInfo", "colorInfo", "materials", "description")


def is_retail_json(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and (b'"priceInfo"' in head or b'"primaryProductId"' in head)


def read_google_retail(data: bytes, path: Path) -> tuple[list[RawRecord], dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path}: JSON lines must be UTF-8 ({exc.reason} at byte {exc.start})") from None
    products: list[tuple[int, dict | None, str | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            product = json.loads(line)
        except json.JSONDecodeError as exc:
            products.append((number, None, f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(product, dict):
            products.append((number, None, f"a JSON {type(product).__name__}, not a product object"))
            continue
        products.append((number, product, None))
    if products and all(p is None for _, p, _ in products):
        raise CatalogError(f"catalog {path}: no line is a JSON product object; is this Google Retail NDJSON?")
    by_id = {str(p["id"]): p for _, p, _ in products if p is not None and p.get("id") is not None}
    has_variants = {str(p.get("primaryProductId")) for _, p, _ in products
                    if p is not None and str(p.get("type", "")).upper() == "VARIANT"}
    records, primaries = [], 0
    for number, product, problem in products:
        if product is None:
            records.append(RawRecord(number, {}, problem=("unparsable_record", f"line {number}: {problem}")))
            continue
        if str(product.get("type", "PRIMARY")).upper() != "VARIANT" and str(product.get("id")) in has_variants:
            primaries += 1
            continue
        primary = by_id.get(str(product.get("primaryProductId"))) if product.get("primaryProductId") else None
        merged = {**{k: primary[k] for k in _INHERITED if primary and k in primary}, **product}
        records.append(_record(number, merged))
    return records, {"retail_primary_with_variants": primaries}


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _record(number: int, product: dict[str, Any]) -> RawRecord:
    price_info = product.get("priceInfo") if isinstance(product.get("priceInfo"), dict) else {}
    color_info = product.get("colorInfo") if isinstance(product.get("colorInfo"), dict) else {}
    images = [i.get("uri") for i in product.get("images") or [] if isinstance(i, dict) and i.get("uri")]
    categories = [c for c in product.get("categories") or [] if isinstance(c, str)]
    fields = {
        "sku": product.get("id"), "name": product.get("title"),
        "price": price_info.get("price"), "list_price": price_info.get("originalPrice"),
        "currency": price_info.get("currencyCode"), "image": images[0] if images else None,
        "category": deepest_path(categories), "brand": _first(product.get("brands")),
        "color": _first(color_info.get("colors")) or _first(color_info.get("colorFamilies")),
        "material": _first(product.get("materials")),
    }
    extras: dict[str, Any] = {}
    for key in ("sizes", "uri", "availability", "gtin", "languageCode", "primaryProductId", "description"):
        if product.get(key) not in (None, [], ""):
            extras[key] = ", ".join(map(str, product[key])) if isinstance(product[key], list) else product[key]
    for key, value in (product.get("attributes") or {}).items():
        if isinstance(value, dict):
            items = value.get("text") or value.get("numbers") or []
            extras[key] = ", ".join(map(str, items))
    if len(images) > 1:
        extras["additional_images"] = images[1:]
    columns = {**product, **{f"priceInfo.{k}": v for k, v in price_info.items()}}
    return RawRecord(number, fields, extras, columns=columns)
