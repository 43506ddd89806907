"""What every catalog reader shares: the record a reader produces, the error for a file that cannot be read, and
cell helpers (missing is null, Excel's numeric SKUs, category paths, sale windows, attribute names)."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

# The canonical fields a source column can feed. The rest of CATALOG_SCHEMA is computed.
#   price       what the row says the product costs (a shop's regular price);
#   sale_price  a reduced price that applies now (the reader has checked any sale window): price becomes the list
#               price when the sale price is below it;
#   list_price  a struck-through "compare at" price: kept when above price;
#   taxonomy    a Google product taxonomy id or path, a second way to choose the template category.
CANONICAL_FIELDS = (
    "sku", "name", "category", "taxonomy", "color", "material", "price", "sale_price", "list_price", "currency",
    "brand", "selling_points", "image",
)
# Without these a catalog is not a catalog: a file that lacks them is a configuration error, not 10,000 rejects.
REQUIRED_FIELDS = ("sku", "price", "image")

COLOR_WORDS = {"color", "colour", "farbe", "färg", "farge", "farve", "couleur", "colore", "kleur", "颜色",
               "color_pattern", "color-pattern"}
MATERIAL_WORDS = {"material", "fabric", "materiaal", "matériau", "tyg", "stoff", "材质", "面料"}


class CatalogError(Exception):
    """The catalog as a whole cannot be used as configured: missing file, unknown format, bad encoding, bad
    mapping, no currency. A configuration error: the message names the file and says what to change."""


@dataclass
class RawRecord:
    """One sellable SKU before validation. `fields`: canonical field -> raw value (str, number, list or None);
    `extras`: leftover source values, which become `attributes`; `columns`: every source value by its column or
    element name, for a mapping file's renames; `problem`: (reason, message) when the source record itself could
    not be read (a broken JSON line), so it becomes a reject instead of sinking the file."""

    source_row: int
    fields: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] | None = None
    problem: tuple[str, str] | None = None


@dataclass
class SourceRead:
    records: list[RawRecord]
    fmt: str
    encoding: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    # Set by formats whose photo paths are relative to a shop's media folder (Magento): the loader asks for a
    # photo root instead of looking beside the catalog.
    photo_root_hint: str | None = None
    # The currency the format's own convention gives every row (none of the supported formats has one today;
    # Merchant Center and Retail carry it per row).
    currency: str | None = None


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


def header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def is_color_name(name: Any) -> bool:
    return header_key(str(name)) in COLOR_WORDS or str(name).strip().lower() in COLOR_WORDS


def is_material_name(name: Any) -> bool:
    return header_key(str(name)) in MATERIAL_WORDS or str(name).strip().lower() in MATERIAL_WORDS


_PATH_SEPARATOR = re.compile(r"\s*(?:>|/)\s*")


def path_segments(path: str) -> list[str]:
    """"Men/Tops/Jackets", "Clothing > Tshirts" -> their segments."""
    return [s for s in _PATH_SEPARATOR.split(path.strip()) if s]


def deepest_path(paths: list[str]) -> str | None:
    """Of several category paths a product is filed under, the most specific: the most segments, first on ties."""
    paths = [p.strip() for p in paths if p and p.strip()]
    if not paths:
        return None
    return max(paths, key=lambda p: (len(path_segments(p)), -paths.index(p)))


def photo_list(text: Any, separator: str = ",") -> list[str]:
    value = cell_text(text)
    return [part.strip() for part in value.split(separator) if part.strip()] if value else []


def parse_date(text: Any) -> dt.datetime | None:
    """An ISO 8601 date or date-time (with or without zone; naive = UTC); None when it is not one."""
    value = cell_text(text)
    if value is None:
        return None
    candidate = value.replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value[:10]), dt.time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def sale_applies(start: Any, end: Any, now: dt.datetime) -> bool:
    """Whether a sale with this window applies at `now`. No dates: always. A date that cannot be read does not
    close the window (the shop set a sale price; an unreadable date format is no reason to drop it)."""
    begins, ends = parse_date(start), parse_date(end)
    if begins is not None and now < begins:
        return False
    if ends is not None:
        # A bare end date means the end of that day.
        if isinstance(end, str) and len(end.strip()) == 10:
            ends = ends + dt.timedelta(days=1)
        if now >= ends:
            return False
    return True


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
