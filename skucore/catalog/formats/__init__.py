"""Reading catalog files into raw records, one module per export format:

- `tabular`: CSV/TSV, Excel .xlsx, Parquet in any layout (columns by a mapping file or common header spellings);
- `shopify`: Shopify product CSV, classic and current layouts;
- `woocommerce`: WooCommerce product CSV;
- `magento`: Magento 2 product CSV;
- `merchant_center`: Google Merchant Center RSS/Atom XML and TSV feeds;
- `google_retail`: Google Retail product NDJSON.

`read_source` detects the format where that is unambiguous (XML with the `g:` namespace, JSON lines with
`priceInfo`, a header only one shop writes) or takes it by name, reads the file with that format's conventions, and
applies the mapping file's renames, constants and photo join. It does no validation: `skucore.catalog.loader`
validates records, checks photos and builds the Arrow tables.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from skucore.catalog.records import CANONICAL_FIELDS, REQUIRED_FIELDS, CatalogError, RawRecord, \
    SourceRead, cell_text, clean_value, utc_now
from skucore.catalog.formats.google_retail import is_retail_json, read_google_retail
from skucore.catalog.formats.magento import PHOTO_ROOT_HINT, is_magento_header, read_magento
from skucore.catalog.formats.merchant_center import is_merchant_center_header, is_merchant_center_xml, \
    read_merchant_center_tsv, read_merchant_center_xml
from skucore.catalog.formats.shopify import read_shopify, shopify_layout
from skucore.catalog.formats.tabular import generic_records, read_csv_table, read_parquet_table, read_xlsx_table
from skucore.catalog.formats.woocommerce import is_woocommerce_header, read_woocommerce
from skucore.catalog.mapping import CatalogMapping, load_mapping

__all__ = ["FORMATS", "CANONICAL_FIELDS", "REQUIRED_FIELDS", "CatalogError", "RawRecord", "SourceRead",
           "cell_text", "clean_value", "detect_container", "read_source"]

# Names for --format. csv, xlsx and parquet are any layout of that container, read with a mapping file or the
# common header spellings; the others are shops' and feeds' own exports.
FORMATS = ("csv", "xlsx", "parquet", "shopify", "woocommerce", "magento2", "merchant_center", "google_retail")
_ALIASES = {"tsv": "csv", "excel": "xlsx", "magento": "magento2", "woo": "woocommerce", "gmc": "merchant_center",
            "retail": "google_retail", "ndjson": "google_retail"}
_TABULAR_FORMATS = ("shopify", "woocommerce", "magento2", "merchant_center")
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet",
               ".pq": "parquet", ".xml": "xml", ".rss": "xml", ".atom": "xml", ".ndjson": "ndjson",
               ".jsonl": "ndjson", ".json": "ndjson"}


def format_name(name: str | None, where: str) -> str | None:
    if name is None:
        return None
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise CatalogError(f"{where}: unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return key


def detect_container(path: Path, data: bytes) -> str:
    """csv | xlsx | parquet | xml | ndjson: from the extension, else the first bytes."""
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind:
        return kind
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith(b"{"):
        return "ndjson"
    return "csv"


def detect_tabular(header: list[str]) -> list[str]:
    checks = {"shopify": shopify_layout(header) is not None, "woocommerce": is_woocommerce_header(header),
              "magento2": is_magento_header(header), "merchant_center": is_merchant_center_header(header)}
    return [name for name, matches in checks.items() if matches]


def read_source(path: Path, *, fmt: str | None = None, mapping: CatalogMapping | dict | str | Path | None = None,
                now: dt.datetime | None = None) -> SourceRead:
    """Read any supported catalog file into raw records. Raises CatalogError for a file that cannot be used."""
    mapping = load_mapping(mapping)
    fmt = format_name(fmt, f"catalog {path}") or format_name(mapping.format, f"mapping {mapping.where}")
    now = now or utc_now()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(f"catalog {path}: file not found") from None
    except IsADirectoryError:
        raise CatalogError(f"catalog {path}: is a folder, not a catalog file") from None
    except OSError as exc:
        raise CatalogError(f"catalog {path}: cannot read ({exc.strerror or exc})") from None
    container = fmt if fmt in ("csv", "xlsx", "parquet") else detect_container(path, data)
    read = _read(path, data, container, fmt, mapping, now)
    _apply_mapping(read, mapping, path)
    return read


def _read(path: Path, data: bytes, container: str, fmt: str | None, mapping: CatalogMapping,
          now: dt.datetime) -> SourceRead:
    if container == "xml":
        if fmt not in (None, "merchant_center"):
            raise CatalogError(f"catalog {path}: an XML file cannot be read as {fmt}; XML catalogs are Merchant "
                               f"Center feeds (--format merchant_center)")
        if fmt is None and not is_merchant_center_xml(data):
            raise CatalogError(f"catalog {path}: XML without Google's g: namespace (http://base.google.com/ns/1.0) "
                               f"is not a format SKU Studio reads; export a Merchant Center feed or a CSV")
        records, stats = read_merchant_center_xml(data, path, now)
        return SourceRead(records, "merchant_center", "utf-8", stats)
    if container == "ndjson":
        if fmt not in (None, "google_retail"):
            raise CatalogError(f"catalog {path}: a JSON lines file cannot be read as {fmt}; JSON catalogs are "
                               f"Google Retail product lines (--format google_retail)")
        if fmt is None and not is_retail_json(data):
            raise CatalogError(f"catalog {path}: JSON that is not Google Retail product lines (no priceInfo or "
                               f"primaryProductId); pass --format google_retail if it is")
        records, stats = read_google_retail(data, path)
        return SourceRead(records, "google_retail", "utf-8", stats)
    encoding = None
    if container == "csv":
        header, rows, encoding = read_csv_table(path, data)
    elif container == "xlsx":
        header, rows = read_xlsx_table(path)
    else:
        header, rows = read_parquet_table(path)
    if fmt is None or fmt == container:
        detected = detect_tabular(header) if fmt is None else []
        if len(detected) > 1:
            raise CatalogError(f"catalog {path}: the columns fit several formats ({', '.join(detected)}); pass "
                               f"--format")
        fmt = detected[0] if detected else container
    if fmt == container:
        filled = set(mapping.constants) | ({"image"} if mapping.photo_join else set())
        records = generic_records(header, rows, mapping.columns, mapping.where, path, filled)
        return SourceRead(records, container, encoding, {})
    _check_columns(mapping, header, path)
    hint = None
    if fmt == "shopify":
        records, stats = read_shopify(header, rows, path)
    elif fmt == "woocommerce":
        records, stats = read_woocommerce(header, rows, path, now)
    elif fmt == "magento2":
        records, stats, relative = read_magento(header, rows, path, now)
        hint = PHOTO_ROOT_HINT if relative else None
    else:
        records, stats = read_merchant_center_tsv(header, rows, path, now)
    return SourceRead(records, fmt, encoding, stats, photo_root_hint=hint)


def _check_columns(mapping: CatalogMapping, available, path: Path) -> None:
    names = set(available)
    for canonical, column in mapping.columns.items():
        if column not in names:
            raise CatalogError(f"mapping {mapping.where}: field {canonical!r} names column {column!r}, which catalog "
                               f"{path} does not have (columns: {', '.join(sorted(map(str, names)))})")


def _apply_mapping(read: SourceRead, mapping: CatalogMapping, path: Path) -> None:
    if mapping.columns and read.fmt in ("merchant_center", "google_retail") and read.stats.get("container") != "tsv":
        _check_columns(mapping, {k for r in read.records if r.columns for k in r.columns}, path)
    generic = read.fmt in ("csv", "xlsx", "parquet")
    joined = mapping.join_photos()
    for record in read.records:
        if record.problem:
            continue
        if not generic and record.columns is not None:
            for canonical, column in mapping.columns.items():
                record.fields[canonical] = _value(record.columns.get(column))
        for canonical, value in mapping.constants.items():
            if clean_value(record.fields.get(canonical)) is None:
                record.fields[canonical] = value
        sku = cell_text(record.fields.get("sku"))
        if sku is not None and sku in joined:
            record.fields["image"] = joined[sku]
    if joined:
        read.stats["photos_joined"] = sum(1 for r in read.records if cell_text(r.fields.get("sku")) in joined)


def _value(value: Any) -> Any:
    return value if isinstance(value, (list, dict)) else clean_value(value)
