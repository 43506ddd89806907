"""Tables: CSV/TSV (UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16), Excel .xlsx and Parquet, read into a header and
rows; and the generic layout, whose columns are found by a mapping file's renames or by common header spellings.

`source_row` is the row a person finds when they open the file: for CSV and Excel the spreadsheet row number
(the header is row 1, the first data row is 2); for Parquet, which has no header row, the 0-based row index that
pyarrow and pandas show.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from skucore.catalog.records import REQUIRED_FIELDS, CatalogError, RawRecord, cell_text, clean_value, \
    header_key

Rows = list[tuple[int, list[Any]]]

# Header spellings accepted without a mapping file (compared after `header_key`). Chinese headers are what
# Chinese back-office Excel exports carry. "sale_price" is not a price alias: it is the reduced price, kept apart.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "sku_id", "item_sku", "product_sku", "variant_sku", "货号", "商品编码", "sku编码"),
    "name": ("name", "title", "product_name", "product_title", "商品名称", "名称", "标题"),
    "category": ("category", "product_category", "type", "product_type", "category_path", "类目", "品类", "分类"),
    "taxonomy": ("google_product_category", "taxonomy", "taxonomy_id"),
    "color": ("color", "colour", "颜色"),
    "material": ("material", "fabric", "材质", "面料"),
    "price": ("price", "regular_price", "unit_price", "价格", "售价"),
    "sale_price": ("sale_price", "special_price", "促销价"),
    "list_price": ("list_price", "compare_at_price", "compare_at", "original_price", "msrp", "原价"),
    "currency": ("currency", "currency_code", "币种"),
    "brand": ("brand", "vendor", "品牌"),
    "selling_points": ("selling_points", "selling_point", "highlights", "features", "卖点"),
    "image": ("image", "image_path", "image_url", "image_uri", "image_link", "photo", "photo_path", "picture",
              "图片", "主图"),
}


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


def read_csv_table(path: Path, data: bytes) -> tuple[list[str], Rows, str]:
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


def read_xlsx_table(path: Path) -> tuple[list[str], Rows]:
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


def read_parquet_table(path: Path) -> tuple[list[str], Rows]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise CatalogError(f"catalog {path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    header = list(table.column_names)
    columns = [table.column(name).to_pylist() for name in header]
    rows = [(index, [col[index] for col in columns]) for index in range(table.num_rows)]
    return header, rows


def row_dict(header: list[str], values: list[Any]) -> dict[str, Any]:
    """A row as column -> cleaned value (the first of duplicated header names wins)."""
    out: dict[str, Any] = {}
    for i, name in enumerate(header):
        if name and name not in out:
            out[name] = clean_value(values[i]) if i < len(values) else None
    return out


def resolve_columns(header: list[str], renames: dict[str, str], where: str, path: Path) -> dict[str, int]:
    """canonical field -> column index: the mapping's renames first, then the header aliases."""
    index_of: dict[str, int] = {}
    for i, name in enumerate(header):
        index_of.setdefault(name, i)
    resolved: dict[str, int] = {}
    for canonical, column in renames.items():
        if column not in index_of:
            raise CatalogError(f"mapping {where}: field {canonical!r} names column {column!r}, which catalog "
                               f"{path} does not have (columns: {', '.join(header)})")
        resolved[canonical] = index_of[column]
    by_key: dict[str, int] = {}
    for i, name in enumerate(header):
        by_key.setdefault(header_key(name), i)
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
    return resolved


def generic_records(header: list[str], rows: Rows, renames: dict[str, str], where: str, path: Path,
                    filled: set[str]) -> list[RawRecord]:
    """Records of a plain table: one row, one SKU. `filled`: fields the mapping fills from elsewhere (a constant,
    a join), which the file then need not have."""
    columns = resolve_columns(header, renames, where, path)
    missing = [f for f in REQUIRED_FIELDS if f not in columns and f not in filled]
    if missing:
        raise CatalogError(f"catalog {path}: no column for {', '.join(missing)} (columns: {', '.join(header)}); "
                           f"pass a mapping file whose `columns:` names them, or --format if this is a shop's "
                           f"export")
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
