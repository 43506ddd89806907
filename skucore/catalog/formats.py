"""Reading catalog files into raw records: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), Excel .xlsx, Parquet, and
Shopify product exports.

This module only turns a file into `RawRecord`s (canonical field -> raw value, plus leftover columns); it does no
validation. `skucore.catalog.loader` validates records, checks photos and builds the Arrow tables.

`source_row` is the row a person finds when they open the file: for CSV and Excel the spreadsheet row number
(the header is row 1, the first data row is 2); for Parquet, which has no header row, the 0-based row index that
pyarrow and pandas show.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

# The canonical fields a source column can feed. The rest of CATALOG_SCHEMA is computed.
CANONICAL_FIELDS = (
    "sku", "name", "category", "color", "material", "price", "currency", "brand", "selling_points", "image",
)
# Without these a catalog is not a catalog: a file that lacks them is a configuration error, not 10,000 rejects.
REQUIRED_FIELDS = ("sku", "price", "image")

# Header spellings we accept without a mapping file (compared after `_header_key`). Chinese headers are what
# Chinese back-office Excel exports carry.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "sku_id", "item_sku", "product_sku", "variant_sku", "货号", "商品编码", "sku编码"),
    "name": ("name", "title", "product_name", "product_title", "商品名称", "名称", "标题"),
    "category": ("category", "product_category", "type", "product_type", "类目", "品类", "分类"),
    "color": ("color", "colour", "颜色"),
    "material": ("material", "fabric", "材质", "面料"),
    "price": ("price", "sale_price", "unit_price", "价格", "售价"),
    "currency": ("currency", "currency_code", "币种"),
    "brand": ("brand", "vendor", "品牌"),
    "selling_points": ("selling_points", "selling_point", "highlights", "features", "卖点"),
    "image": ("image", "image_path", "image_url", "image_uri", "photo", "photo_path", "picture", "图片", "主图"),
}


class CatalogError(Exception):
    """The catalog as a whole cannot be read (missing file, unknown format, bad encoding, bad mapping).

    The message always names the file, so the Dagster UI shows which source to fix.
    """


@dataclass
class RawRecord:
    """One source row before validation. `fields` holds canonical field -> raw value (str, number, list or None);
    `extras` holds the leftover source columns (and, for Shopify, options), which become `attributes`."""

    source_row: int
    fields: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceRead:
    records: list[RawRecord]
    fmt: str
    encoding: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- values

def clean_value(value: Any) -> Any:
    """Normalise a cell: strip text, and turn empty text and NaN into None (the contract: missing is null)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def cell_text(value: Any) -> str | None:
    """A cell as text. Excel stores an all-digit SKU such as 10023 as the number 10023.0: give back "10023"."""
    value = clean_value(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


# --------------------------------------------------------------------------------------------------- detection

_EXT_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
                ".parquet": "parquet", ".pq": "parquet"}
FORMATS = ("csv", "xlsx", "parquet", "shopify")


def detect_format(path: Path, head: bytes) -> str:
    """Container format from the extension, falling back to magic bytes. Shopify is decided later from the header."""
    fmt = _EXT_FORMATS.get(path.suffix.lower())
    if fmt:
        return fmt
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    return "csv"


def is_shopify_header(columns: Iterable[str]) -> bool:
    cols = {str(c).strip() for c in columns}
    return "Handle" in cols and "Variant SKU" in cols


# --------------------------------------------------------------------------------------------------- tabular readers

def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """Decode CSV bytes. UTF-8 (with or without BOM) first: it is strict, so GBK bytes fail it reliably, and then
    GB18030 (a superset of GBK and GB2312) reads what Chinese Excel exports write. UTF-16 has a BOM we can trust."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig":
            encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        return text, encoding
    raise CatalogError(f"catalog {path}: text is neither UTF-8 nor GB18030/GBK; save it as UTF-8 CSV")


def _sniff_delimiter(text: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv_table(path: Path, data: bytes) -> tuple[list[str], list[tuple[int, list[Any]]], str]:
    text, encoding = decode_text(data, path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, path))
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogError(f"catalog {path}: the file is empty (no header row)") from None
    except csv.Error as exc:
        raise CatalogError(f"catalog {path}: not a readable CSV ({exc})") from None
    rows = []
    try:
        # The csv module counts records, not lines, so a quoted multi-line cell still gives the spreadsheet row.
        for index, values in enumerate(reader, start=2):
            if any(v.strip() for v in values):
                rows.append((index, values))
    except csv.Error as exc:
        raise CatalogError(f"catalog {path}: not a readable CSV near record {reader.line_num} ({exc})") from None
    return [h.strip() for h in header], rows, encoding


def read_xlsx_table(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    import openpyxl  # imported here: only Excel sources pay for it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for broken files
        raise CatalogError(f"catalog {path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        sheet = workbook.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        header_row = next(rows_iter, None)
        if header_row is None:
            raise CatalogError(f"catalog {path}: the first sheet is empty (no header row)")
        header = [cell_text(h) or "" for h in header_row]
        rows = []
        for index, values in enumerate(rows_iter, start=2):
            if any(clean_value(v) is not None for v in values):  # Excel keeps formatted empty rows at the end
                rows.append((index, list(values)))
    finally:
        workbook.close()
    return header, rows


def read_parquet_table(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise CatalogError(f"catalog {path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    header = list(table.column_names)
    columns = [table.column(name).to_pylist() for name in header]
    rows = [(index, [col[index] for col in columns]) for index in range(table.num_rows)]
    return header, rows


# --------------------------------------------------------------------------------------------------- mapping

def load_mapping(mapping: dict | str | Path | None) -> tuple[dict[str, str], str]:
    """Mapping canonical field -> source column, from a dict or a YAML/JSON file. A file may hold the mapping at its
    top level or under a `columns:` key. Returns (mapping, where) where `where` names it in error messages."""
    if mapping is None:
        return {}, "default"
    where = "mapping"
    if isinstance(mapping, (str, Path)):
        where = str(mapping)
        path = Path(mapping)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CatalogError(f"mapping file {path}: cannot read ({exc})") from None
        try:
            if path.suffix.lower() == ".json":
                mapping = json.loads(text)
            else:
                import yaml

                mapping = yaml.safe_load(text)
        except Exception as exc:
            raise CatalogError(f"mapping file {path}: not valid {path.suffix or 'YAML'} ({exc})") from None
    if isinstance(mapping, dict) and isinstance(mapping.get("columns"), dict):
        mapping = mapping["columns"]
    if not isinstance(mapping, dict):
        raise CatalogError(f"mapping {where}: expected a table of canonical field -> source column")
    result = {}
    for canonical, column in mapping.items():
        if canonical not in CANONICAL_FIELDS:
            raise CatalogError(
                f"mapping {where}: unknown field {canonical!r}; the fields are {', '.join(CANONICAL_FIELDS)}")
        if not isinstance(column, str) or not column.strip():
            raise CatalogError(f"mapping {where}: field {canonical!r} must name a source column, got {column!r}")
        result[canonical] = column.strip()
    return result, where


def resolve_columns(header: list[str], mapping: dict[str, str], where: str, path: Path) -> dict[str, int]:
    """canonical field -> column index: the mapping first, then the header aliases."""
    index_of = {}
    for i, name in enumerate(header):
        index_of.setdefault(name, i)
    resolved: dict[str, int] = {}
    for canonical, column in mapping.items():
        if column not in index_of:
            raise CatalogError(f"mapping {where}: field {canonical!r} names column {column!r}, which catalog "
                               f"{path} does not have (columns: {', '.join(header)})")
        resolved[canonical] = index_of[column]
    by_key = {}
    for i, name in enumerate(header):
        by_key.setdefault(_header_key(name), i)
    taken = set(resolved.values())
    for canonical, aliases in HEADER_ALIASES.items():
        if canonical in resolved:
            continue
        for alias in aliases:
            i = by_key.get(alias)
            if i is not None and i not in taken:
                resolved[canonical] = i
                taken.add(i)
                break
    missing = [f for f in REQUIRED_FIELDS if f not in resolved]
    if missing:
        raise CatalogError(f"catalog {path}: no column for {', '.join(missing)} (columns: {', '.join(header)}); "
                           f"pass a mapping that names them")
    return resolved


def tabular_records(header: list[str], rows: list[tuple[int, list[Any]]], mapping: dict[str, str], where: str,
                    path: Path) -> list[RawRecord]:
    columns = resolve_columns(header, mapping, where, path)
    used = set(columns.values())
    leftovers = [(i, name) for i, name in enumerate(header) if i not in used and name]
    records = []
    for source_row, values in rows:
        def value(i: int) -> Any:
            return clean_value(values[i]) if i < len(values) else None

        fields = {canonical: value(i) for canonical, i in columns.items()}
        extras = {name: v for i, name in leftovers if (v := value(i)) is not None}
        records.append(RawRecord(source_row, fields, extras))
    return records


# --------------------------------------------------------------------------------------------------- Shopify

# Columns that belong to one variant or one image; every other column is product-level, filled on a handle's first
# row only and inherited by its later rows.
_SHOPIFY_ROW_LEVEL = re.compile(
    r"^(Variant |Image |Option\d Value$|Cost per item|Price / |Compare At Price / |Included / |Unit Price )")
_SHOPIFY_METAFIELD = re.compile(r"^(?P<label>.+?) \((?P<ns>product|variant)\.metafields\.(?P<key>[^)]+)\)$")
_SHOPIFY_FIELD_COLUMNS = {
    "sku": "Variant SKU", "name": "Title", "category": "Type", "price": "Variant Price", "brand": "Vendor",
}
_COLOR_WORDS = {"color", "colour", "颜色", "color_pattern"}
_MATERIAL_WORDS = {"material", "fabric", "材质", "面料"}


def _shopify_metafield_value(row: dict[str, Any], words: set[str]) -> Any:
    for column, value in row.items():
        match = _SHOPIFY_METAFIELD.match(column)
        if match and value is not None and _header_key(match["label"]) in words:
            return value
    return None


def _is_variant_row(row: dict[str, Any]) -> bool:
    return any(value is not None and (col.startswith("Variant ") or re.match(r"Option\d Value$", col))
               for col, value in row.items())


def shopify_records(header: list[str], rows: list[tuple[int, list[Any]]], mapping: dict[str, str], where: str,
                    path: Path) -> tuple[list[RawRecord], int]:
    """Flatten a Shopify product export into one record per variant. Returns (records, image_only_rows)."""
    for canonical, column in mapping.items():
        if column not in header:
            raise CatalogError(f"mapping {where}: field {canonical!r} names column {column!r}, which catalog "
                               f"{path} does not have")
    records: list[RawRecord] = []
    image_only = 0
    product: dict[str, Any] = {}
    first_image: str | None = None
    handle = None
    for source_row, values in rows:
        row = {name: clean_value(values[i]) if i < len(values) else None for i, name in enumerate(header)}
        if row.get("Handle") != handle or handle is None:
            handle = row.get("Handle")
            product = {c: v for c, v in row.items() if not _SHOPIFY_ROW_LEVEL.match(c)}
            first_image = row.get("Image Src")
            is_first = True
        else:
            is_first = False
            first_image = first_image or row.get("Image Src")
        if not is_first and not _is_variant_row(row):
            image_only += 1  # an extra product image, not a product
            continue
        merged = {c: (row[c] if _SHOPIFY_ROW_LEVEL.match(c) else product.get(c)) for c in header}
        records.append(_shopify_record(source_row, merged, first_image, mapping))
    return records, image_only


def _shopify_record(source_row: int, row: dict[str, Any], first_image: str | None,
                    mapping: dict[str, str]) -> RawRecord:
    options = {}
    for n in (1, 2, 3):
        name, value = row.get(f"Option{n} Name"), row.get(f"Option{n} Value")
        if name and value and value != "Default Title":  # "Default Title" marks a product without options
            options[str(name)] = value
    fields = {canonical: row.get(column) for canonical, column in _SHOPIFY_FIELD_COLUMNS.items()}
    if fields["category"] is None and row.get("Product Category"):
        # The taxonomy path "Apparel & Accessories > Clothing" names its top level first.
        fields["category"] = str(row["Product Category"]).split(">")[0].strip()
    # A variant's own image, else the product's first image (later rows' Image Src are extra images, not theirs).
    fields["image"] = row.get("Variant Image") or first_image
    fields["color"] = next((v for k, v in options.items() if _header_key(k) in _COLOR_WORDS), None) \
        or _shopify_metafield_value(row, _COLOR_WORDS)
    fields["material"] = next((v for k, v in options.items() if _header_key(k) in _MATERIAL_WORDS), None) \
        or _shopify_metafield_value(row, _MATERIAL_WORDS)
    for canonical, column in mapping.items():
        fields[canonical] = row.get(column)
    consumed = set(_SHOPIFY_FIELD_COLUMNS.values()) | set(mapping.values()) | {
        "Variant Image", "Image Src", "Image Position", "Image Alt Text"}
    consumed |= {f"Option{n} {part}" for n in (1, 2, 3) for part in ("Name", "Value")}
    extras = {c: v for c, v in row.items() if c not in consumed and v is not None}
    if options:
        extras["options"] = options
    if isinstance(extras.get("Tags"), str):
        extras["Tags"] = [t.strip() for t in extras["Tags"].split(",") if t.strip()]
    return RawRecord(source_row, fields, extras)


# --------------------------------------------------------------------------------------------------- entry point

def read_source(path: Path, *, fmt: str | None, mapping: dict | str | Path | None) -> SourceRead:
    """Read any supported catalog file into raw records. Raises CatalogError for a file that cannot be read."""
    if fmt is not None and fmt not in FORMATS:
        raise CatalogError(f"catalog {path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(f"catalog {path}: file not found") from None
    except OSError as exc:
        raise CatalogError(f"catalog {path}: cannot read ({exc})") from None
    column_map, where = load_mapping(mapping)
    container = fmt if fmt in ("csv", "xlsx", "parquet") else detect_format(path, data[:8])
    if fmt == "shopify" and container not in ("csv", "xlsx"):
        container = "csv"
    encoding = None
    if container == "csv":
        header, rows, encoding = read_csv_table(path, data)
    elif container == "xlsx":
        header, rows = read_xlsx_table(path)
    else:
        header, rows = read_parquet_table(path)
    shopify = fmt == "shopify" or (fmt is None and is_shopify_header(header))
    stats: dict[str, Any] = {}
    if shopify:
        if not is_shopify_header(header):
            raise CatalogError(f"catalog {path}: a Shopify export needs the columns Handle and Variant SKU")
        records, stats["shopify_image_only_rows"] = shopify_records(header, rows, column_map, where, path)
        return SourceRead(records, "shopify", encoding, stats)
    return SourceRead(tabular_records(header, rows, column_map, where, path), container, encoding, stats)
