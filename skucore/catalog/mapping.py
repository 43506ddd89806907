"""Mapping files: what a catalog needs that its format does not say, in one YAML (or JSON) file.

    format: woocommerce            # the export format, when it cannot be detected (same as --format)
    currency: SEK                  # the catalog currency, for prices that name none (same as --currency)
    columns:                       # field -> source column (or element / JSON key): renames
      sku: Artikelnummer
      price: Pris
    constants:                     # field -> value, for rows that leave the field empty
      brand: Solidus
    photos:
      prefix: https://cdn.example.com/media/   # where relative photo paths start: a folder or URL prefix
      join:                        # photos from a second file, sku -> photo (its photo wins over the row's)
        file: photos.csv           # relative to this mapping file
        sku: sku                   # its SKU column (default sku)
        photo: image               # its photo column (default image)
    categories:                    # the catalog's own category path -> template category
      Clothing: fashion            # a path and everything under it; the longest matching rule wins
      "Men/Tops/Jackets": fashion  # / and > both separate levels; case and spacing do not matter
      "** > Mugs": home_decor      # * is any one level, ** any number of levels
      "google:536": home_decor     # a Google product taxonomy id

A file that holds only `field: column` pairs at its top level is read as `columns:` (the older form). Files are
loaded through `skucore.base.yamlio` (duplicate keys and alias bombs refused); every error names the file.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skucore.base.yamlio import load_yaml_strict, short_repr
from skucore.catalog.records import CANONICAL_FIELDS, CatalogError, cell_text

TOP_KEYS = ("format", "currency", "columns", "constants", "photos", "categories")


@dataclass(frozen=True)
class PhotoJoin:
    file: Path
    sku_column: str = "sku"
    photo_column: str = "image"


@dataclass(frozen=True)
class CatalogMapping:
    where: str = "(no mapping file)"
    format: str | None = None
    currency: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    photo_prefix: str | None = None
    photo_join: PhotoJoin | None = None
    category_rules: dict[str, str] = field(default_factory=dict)

    def join_photos(self) -> dict[str, str]:
        """sku -> photo from the join file ({} without one). Raises CatalogError naming the file."""
        if self.photo_join is None:
            return {}
        join = self.photo_join
        try:
            text = join.file.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"mapping {self.where}: photos.join file {join.file}: cannot read ({exc})") from None
        delimiter = "\t" if join.file.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        columns = reader.fieldnames or []
        for column in (join.sku_column, join.photo_column):
            if column not in columns:
                raise CatalogError(f"mapping {self.where}: photos.join file {join.file} has no column {column!r} "
                                   f"(columns: {', '.join(columns)})")
        out = {}
        for row in reader:
            sku, photo = cell_text(row.get(join.sku_column)), cell_text(row.get(join.photo_column))
            if sku and photo:
                out.setdefault(sku, photo)
        return out


def load_mapping(source: CatalogMapping | dict | str | Path | None) -> CatalogMapping:
    """A mapping from a file path, an already-parsed dict, or nothing. Raises CatalogError naming the file."""
    if source is None:
        return CatalogMapping()
    if isinstance(source, CatalogMapping):
        return source
    where, folder = "mapping", Path.cwd()
    if isinstance(source, (str, Path)):
        path = Path(source)
        where, folder = str(path), path.resolve().parent
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CatalogError(f"mapping file {path}: cannot read ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise CatalogError(f"mapping file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        try:
            source = json.loads(text) if path.suffix.lower() == ".json" else load_yaml_strict(text)
        except Exception as exc:  # JSON and YAML errors; their messages quote positions, not whole values
            detail = " ".join(str(exc).replace('in "<unicode string>",', "at").split())[:300]
            raise CatalogError(f"mapping file {path}: not valid {path.suffix.lstrip('.') or 'YAML'} "
                               f"({detail})") from None
    if not isinstance(source, dict):
        raise CatalogError(f"mapping {where}: expected a table of settings ({', '.join(TOP_KEYS)}), got "
                           f"{type(source).__name__}")
    if source and not any(k in TOP_KEYS for k in source) and all(k in CANONICAL_FIELDS for k in source):
        source = {"columns": source}  # the older form: field -> column at the top level
    return _parse(source, where, folder)


def _parse(data: dict, where: str, folder: Path) -> CatalogMapping:
    def fail(key: str, message: str):
        raise CatalogError(f"mapping {where}: {key}: {message}")

    for key in data:
        if key not in TOP_KEYS:
            fields = ", ".join(CANONICAL_FIELDS)
            raise CatalogError(f"mapping {where}: unknown key {short_repr(key)}; the keys are {', '.join(TOP_KEYS)} "
                               f"(and under columns: the fields {fields})")
    fmt = data.get("format")
    if fmt is not None and not isinstance(fmt, str):
        fail("format", f"must be a format name, got {short_repr(fmt)}")
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and currency.strip()):
        fail("currency", f"must be a currency code such as SEK, got {short_repr(currency)}")
    columns = _field_table(data.get("columns"), "columns", where, text_values=True)
    constants = _field_table(data.get("constants"), "constants", where, text_values=False)
    photos = data.get("photos") or {}
    if not isinstance(photos, dict) or any(k not in ("prefix", "join") for k in photos):
        fail("photos", f"must be a table with prefix and/or join, got {short_repr(photos)}")
    prefix = photos.get("prefix")
    if prefix is not None and not (isinstance(prefix, str) and prefix.strip()):
        fail("photos.prefix", f"must be a folder or URL prefix, got {short_repr(prefix)}")
    if isinstance(prefix, str) and "://" not in prefix and not Path(prefix).expanduser().is_absolute():
        prefix = str((folder / prefix).resolve())  # a relative folder is relative to the mapping file
    join = _join(photos.get("join"), where, folder) if photos.get("join") is not None else None
    rules = data.get("categories") or {}
    if not isinstance(rules, dict):
        fail("categories", f"must be a table of category path -> template category, got {short_repr(rules)}")
    category_rules = {}
    for path, category in rules.items():
        if not isinstance(category, str) or not category.strip():
            fail(f"categories.{short_repr(path)}", f"must name a template category, got {short_repr(category)}")
        category_rules[str(path)] = category.strip()
    catalog_currency = currency or constants.pop("currency", None)
    return CatalogMapping(where=where, format=fmt.strip().lower() if fmt else None,
                          currency=str(catalog_currency).strip().upper() if catalog_currency else None,
                          columns=columns, constants=constants,
                          photo_prefix=prefix.strip() if isinstance(prefix, str) else None, photo_join=join,
                          category_rules=category_rules)


def _field_table(value: Any, key: str, where: str, *, text_values: bool) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"mapping {where}: {key}: must be a table of field -> "
                           f"{'source column' if text_values else 'value'}, got {short_repr(value)}")
    out = {}
    for canonical, column in value.items():
        if canonical not in CANONICAL_FIELDS:
            raise CatalogError(f"mapping {where}: unknown field {short_repr(canonical)} under {key}; the fields are "
                               f"{', '.join(CANONICAL_FIELDS)}")
        if text_values and (not isinstance(column, str) or not column.strip()):
            raise CatalogError(f"mapping {where}: field {canonical!r} must name a source column, got "
                               f"{short_repr(column)}")
        if not text_values and not isinstance(column, (str, int, float)):
            raise CatalogError(f"mapping {where}: constant {canonical!r} must be text or a number, got "
                               f"{short_repr(column)}")
        out[canonical] = column.strip() if isinstance(column, str) else column
    return out


def _join(value: Any, where: str, folder: Path) -> PhotoJoin:
    if isinstance(value, str):
        value = {"file": value}
    if not isinstance(value, dict) or not isinstance(value.get("file"), str) or any(
            k not in ("file", "sku", "photo") for k in value):
        raise CatalogError(f"mapping {where}: photos.join: must be a file name or a table with file, sku, photo; "
                           f"got {short_repr(value)}")
    path = Path(value["file"]).expanduser()
    return PhotoJoin(path if path.is_absolute() else folder / path, str(value.get("sku", "sku")),
                     str(value.get("photo", "image")))
