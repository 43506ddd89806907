"""Google Merchant Center product feeds: RSS 2.0 and Atom 1.0 XML with the `g:` namespace, and the tab-separated
text form, one record per item.

Conventions: attributes are the `g:` elements directly under an item (a `g:price` nested in `g:shipping` is the
shipping's price, not the product's); RSS items may use plain `title`/`link`/`description`, Atom entries `title`,
`link href=` and `summary`; prices carry their currency (`12.99 USD`); `sale_price` applies within
`sale_price_effective_date` (`start/end`, ISO 8601; none: always); `additional_image_link` repeats (XML) or is one
comma-separated cell (TSV); `product_type` is the shop's own category path, `google_product_category` a Google
taxonomy id or path. XML is parsed with defusedxml, DTDs forbidden: a feed never needs one, and entity expansion
is how an XML file turns a few bytes into gigabytes.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from skucore.catalog.records import CatalogError, RawRecord, photo_list, sale_applies
from skucore.catalog.formats.tabular import Rows, row_dict

G = "http://base.google.com/ns/1.0"
ATOM = "http://www.w3.org/2005/Atom"
REQUIRED_TSV_COLUMNS = ("id", "price", "image_link")
_CONSUMED = {"id", "title", "price", "sale_price", "sale_price_effective_date", "image_link", "product_type",
             "google_product_category", "color", "material", "brand", "description", "additional_image_link"}


def is_merchant_center_header(header: list[str]) -> bool:
    columns = {h.strip().lower() for h in header}
    return all(c in columns for c in REQUIRED_TSV_COLUMNS) and ("title" in columns or "link" in columns)


def is_merchant_center_xml(data: bytes) -> bool:
    head = data[:4096]
    return G.encode() in head and (b"<rss" in head or b"<feed" in head)


def parse_xml(data: bytes, path: Path):
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CatalogError(f"catalog {path}: the XML declares a DTD or entities ({type(exc).__name__}); a product "
                           f"feed never needs them, so the file is refused") from None
    except ParseError as exc:
        raise CatalogError(f"catalog {path}: not well-formed XML ({exc})") from None


def read_merchant_center_xml(data: bytes, path: Path, now: dt.datetime) -> tuple[list[RawRecord], dict[str, Any]]:
    root = parse_xml(data, path)
    if root.tag == "rss":
        items, container = root.findall("channel/item"), "rss"
    elif root.tag == f"{{{ATOM}}}feed":
        items, container = root.findall(f"{{{ATOM}}}entry"), "atom"
    else:
        raise CatalogError(f"catalog {path}: XML whose root is <{_local(root.tag)}>, not a Merchant Center RSS "
                           f"<rss> or Atom <feed>")
    records = [_record(index, _item_values(item), now) for index, item in enumerate(items, start=1)]
    return records, {"container": container}


def read_merchant_center_tsv(header: list[str], rows: Rows, path: Path, now: dt.datetime
                             ) -> tuple[list[RawRecord], dict[str, Any]]:
    if not is_merchant_center_header(header):
        raise CatalogError(f"catalog {path}: a Merchant Center text feed needs the columns "
                           f"{', '.join(REQUIRED_TSV_COLUMNS)} and title")
    lowered = [h.strip().lower() for h in header]
    records = []
    for source_row, values in rows:
        row = row_dict(lowered, values)
        row["additional_image_link"] = photo_list(row.get("additional_image_link"))
        records.append(_record(source_row, row, now))
    return records, {"container": "tsv"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _item_values(item) -> dict[str, Any]:
    """The item's direct children by local name; `g:` forms win over plain RSS/Atom ones; repeated elements
    (additional_image_link) as lists; Atom's <link href>, <summary> as link and description."""
    values: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for child in item:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = _local(child.tag)
        text = (child.text or "").strip() or None
        if child.tag.startswith(f"{{{ATOM}}}") or "}" not in child.tag:
            if name == "link" and child.get("href"):
                text = child.get("href")
            name = "description" if name == "summary" else name
            plain.setdefault(name, text)
            continue
        if len(child):  # g:shipping, g:tax ...: nested attributes, kept whole but never the item's own
            values.setdefault(name, {_local(c.tag): (c.text or "").strip() for c in child})
            continue
        if name == "additional_image_link":
            if text:
                values.setdefault(name, []).append(text)
        else:
            values.setdefault(name, text)
    for name, text in plain.items():
        if values.get(name) is None:
            values[name] = text
    return values


def _record(source_row: int, values: dict[str, Any], now: dt.datetime) -> RawRecord:
    on_sale = values.get("sale_price") is not None and _window_applies(values.get("sale_price_effective_date"), now)
    fields = {
        "sku": values.get("id"), "name": values.get("title"), "price": values.get("price"),
        "sale_price": values.get("sale_price") if on_sale else None, "image": values.get("image_link"),
        "category": values.get("product_type"), "taxonomy": values.get("google_product_category"),
        "color": values.get("color"), "material": values.get("material"), "brand": values.get("brand"),
    }
    extras = {k: v for k, v in values.items() if k not in _CONSUMED and v not in (None, [], {})}
    if values.get("additional_image_link"):
        extras["additional_images"] = values["additional_image_link"]
    if values.get("google_product_category"):
        extras["google_product_category"] = values["google_product_category"]
    return RawRecord(source_row, fields, extras, columns=values)


def _window_applies(window: Any, now: dt.datetime) -> bool:
    if not window:
        return True
    start, _, end = str(window).partition("/")
    return sale_applies(start or None, end or None, now)
