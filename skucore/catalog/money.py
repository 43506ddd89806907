"""Prices and their currencies: "¥1,299.00", "1.299,00 €", "12.99 USD", "RMB 1299", numbers from Excel/Parquet.

A price's currency comes from the row (a marker in the price, a currency column, a feed's `12.99 USD`), else the
catalog's configured currency. Nothing else: a price with neither is a configuration error for the whole sync
(`skucore.catalog.loader`), never a guess.

Two markers are shared by several currencies. "$" is USD and "¥" is CNY (SKU Studio's first catalogs were Chinese
marketplace catalogs) unless the configured catalog currency is another dollar (CAD, AUD ...) or yen (JPY): then
the marker means that one.
"""
from __future__ import annotations

import functools
import re
from typing import Any

# Currency markers -> ISO code. Longest first, so "HK$" wins over "$".
_CURRENCY_MARKERS = [
    ("HK$", "HKD"), ("US$", "USD"), ("CA$", "CAD"), ("A$", "AUD"), ("NZ$", "NZD"), ("S$", "SGD"), ("RMB", "CNY"),
    ("元", "CNY"), ("円", "JPY"), ("¥", "CNY"), ("￥", "CNY"), ("$", "USD"), ("€", "EUR"), ("£", "GBP"),
    ("₩", "KRW"), ("₹", "INR"),
]
# ISO 4217 codes written beside a price ("12.99 USD"). A list, not any three letters: "TBC" is not a currency.
ISO_CODES = frozenset(
    "USD EUR GBP CNY JPY HKD TWD KRW SGD AUD NZD CAD CHF SEK NOK DKK ISK PLN CZK HUF RON BGN TRY RUB UAH INR IDR "
    "MYR THB VND PHP BRL MXN ARS CLP COP PEN ZAR AED SAR QAR ILS EGP NGN KES MAD".split())
_DOLLARS = {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "TWD"}
_YENS = {"CNY", "JPY"}
_ISO = re.compile(r"(?<![A-Z])([A-Z]{3})(?![A-Z])")
_NUMBER_CHARS = re.compile(r"^[+-]?[0-9.,]+$")


def is_currency_code(text: Any) -> bool:
    """Three letters (any ISO 4217 code, listed here or not: a shop's currency is its own business)."""
    return isinstance(text, str) and bool(re.fullmatch(r"[A-Za-z]{3}", text.strip()))


def parse_price(text: Any, catalog_currency: str | None = None) -> tuple[float | None, str | None]:
    """Parse a price cell into (value, ISO currency or None). Returns (None, currency) when it is not a number.

    With both separators the last one is the decimal point; a lone separator followed by exactly three digits
    groups thousands only if it is a comma ("1,299" = 1299, "12,5" = 12.5, "1.299" = 1.299).
    """
    if isinstance(text, bool):
        return None, None
    if isinstance(text, (int, float)):
        value = float(text)
        return (value, None) if value == value and abs(value) != float("inf") else (None, None)
    if not isinstance(text, str):
        return None, None
    return _parse_text(text, catalog_currency)


@functools.lru_cache(maxsize=8192)  # catalogs repeat their prices and currency cells
def _parse_text(text: str, catalog_currency: str | None) -> tuple[float | None, str | None]:
    rest = text.strip().upper().replace("\u00a0", " ")
    currency = None
    for iso in _ISO.finditer(rest):
        if iso[1] in ISO_CODES or iso[1] == "RMB":
            currency = "CNY" if iso[1] == "RMB" else iso[1]
            rest = rest[:iso.start()] + " " + rest[iso.end():]
            break
    for marker, code in _CURRENCY_MARKERS:
        if marker in rest:
            if currency is None:
                currency = _shared_marker(marker, code, catalog_currency)
            rest = rest.replace(marker, " ")
    rest = re.sub(r"[\s']", "", rest)  # "1 299,00" and "1'299.00" group thousands with spaces or apostrophes
    if not rest or not _NUMBER_CHARS.match(rest):
        return None, currency
    return _parse_number(rest), currency


def _shared_marker(marker: str, code: str, catalog_currency: str | None) -> str:
    if catalog_currency and marker == "$" and catalog_currency in _DOLLARS:
        return catalog_currency
    if catalog_currency and marker in ("¥", "￥") and catalog_currency in _YENS:
        return catalog_currency
    return code


@functools.lru_cache(maxsize=1024)
def currency_code(text: str) -> str:
    """A currency column's text as an ISO code ("rmb" -> CNY, "$" -> USD, "sek" -> SEK)."""
    _, currency = parse_price(f"{text} 1")
    return currency or text.strip().upper()


def _parse_number(text: str) -> float | None:
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if "." in text and "," in text:
        decimal = "." if text.rfind(".") > text.rfind(",") else ","
    elif text.count(",") == 1 and len(text.split(",")[1]) != 3:
        decimal = ","  # "12,5" / "12,50": a decimal comma
    elif text.count(".") == 1:
        decimal = "."
    else:
        decimal = None  # "1,299", "1,299,000", "1.299.000": only thousands separators
    if decimal is None:
        whole, frac = text, ""
    else:
        if text.count(decimal) != 1:
            return None
        whole, frac = text.split(decimal)
    thousands = "," if decimal != "," else "."
    groups = whole.split(thousands) if thousands in whole else [whole]
    # Thousands groups must be real groups of three, else "1,2,3" would quietly become 123.
    if len(groups) > 1 and (not groups[0] or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    digits = "".join(groups)
    if not digits.isdigit() or (frac and not frac.isdigit()):
        return None
    return sign * float(f"{digits}.{frac or 0}")
