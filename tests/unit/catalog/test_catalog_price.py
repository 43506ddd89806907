import math

import pytest

from skucore.catalog.loader import parse_price


@pytest.mark.parametrize("text, value, currency", [
    ("¥1,299.00", 1299.0, "CNY"),
    ("￥1,299.00", 1299.0, "CNY"),
    ("1299", 1299.0, None),
    ("RMB 1299", 1299.0, "CNY"),
    ("rmb1299", 1299.0, "CNY"),
    ("129元", 129.0, "CNY"),
    ("CNY 88.5", 88.5, "CNY"),
    ("$12.50", 12.5, "USD"),
    ("US$12.50", 12.5, "USD"),
    ("HK$99", 99.0, "HKD"),
    ("1.299,00 €", 1299.0, "EUR"),
    ("€12,5", 12.5, "EUR"),
    ("1 299,00", 1299.0, None),
    ("1,299", 1299.0, None),
    ("1,299,000.50", 1299000.5, None),
    ("12.99", 12.99, None),
    ("  59 ", 59.0, None),
    ("0", 0.0, None),
    ("-5", -5.0, None),
    (129, 129.0, None),
    (12.5, 12.5, None),
])
def test_parses(text, value, currency):
    parsed, parsed_currency = parse_price(text)
    assert parsed == pytest.approx(value)
    assert parsed_currency == currency


@pytest.mark.parametrize("text", ["abc", "", "¥", "12.3.4,5", "1,2,3", "12abc", "nan", "inf", "1e5", None,
                                  float("nan"), True])
def test_rejects_non_prices(text):
    value, _ = parse_price(text)
    assert value is None


def test_currency_survives_an_unparsable_amount():
    # The currency is still reported so a message can say what the cell seemed to be.
    assert parse_price("¥abc") == (None, "CNY")
    assert not math.isnan(parse_price("¥0.5")[0])


@pytest.mark.parametrize("text, catalog_currency, expected", [
    ("12.99 USD", None, (12.99, "USD")),
    ("24,90 EUR", None, (24.9, "EUR")),
    ("$12", "CAD", (12.0, "CAD")),   # a shared marker means the catalog's own dollar ...
    ("$12", "EUR", (12.0, "USD")),   # ... and nothing else
    ("¥1200", "JPY", (1200.0, "JPY")),
    ("twenty GBP", None, (None, "GBP")),
    ("TBC", None, (None, None)),     # three capitals are not a currency unless they are one
])
def test_currency_codes_and_shared_markers(text, catalog_currency, expected):
    assert parse_price(text, catalog_currency) == expected


def _load(write_csv, catalog_row, **fields):
    from skucore.catalog.loader import load_catalog

    return load_catalog(write_csv([catalog_row("L-1", **fields)], fieldnames=None))


@pytest.mark.parametrize("fields, price, list_price", [
    ({"price": "499", "sale_price": "399"}, 399.0, 499.0),      # WooCommerce: regular + sale
    ({"price": "499", "sale_price": "499"}, 499.0, None),       # no reduction, no sale
    ({"price": "499", "sale_price": "599"}, 499.0, None),       # a "sale" above the price is none
    ({"price": "54", "list_price": "64"}, 54.0, 64.0),          # Shopify: price + compare-at
    ({"price": "18", "list_price": "18"}, 18.0, None),
    ({"price": "15", "list_price": "12"}, 15.0, None),
    ({"price": "", "sale_price": "99"}, 99.0, None),            # a sale price alone is the price
])
def test_list_and_sale_prices(write_csv, catalog_row, fields, price, list_price):
    load = _load(write_csv, catalog_row, **fields)
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()
    row = load.table.to_pylist()[0]
    assert (row["price"], row["list_price"], row["currency"]) == (price, list_price, "CNY")


def test_bad_sale_or_list_price_is_a_reject_naming_the_field(write_csv, catalog_row):
    load = _load(write_csv, catalog_row, price="499", sale_price="soon")
    assert [(r["reason"], r["field"], r["value"]) for r in load.rejects.to_pylist()] == [
        ("unparsable_price", "sale_price", "soon")]
    load = _load(write_csv, catalog_row, price="499 SEK", list_price="60 EUR", currency="")
    assert [(r["reason"], r["field"]) for r in load.rejects.to_pylist()] == [("currency_mismatch", "list_price")]


def test_a_price_without_currency_stops_the_sync_with_how_to_set_it(write_csv, catalog_row):
    from skucore.catalog.loader import CatalogError, load_catalog

    path = write_csv([catalog_row("N-1", price="129", currency=""), catalog_row("N-2", price="¥129", currency="")])
    with pytest.raises(CatalogError, match=r"1 row has a price but no currency \(e.g. row 2: '129'\).*--currency"):
        load_catalog(path)
    assert load_catalog(path, currency="CNY").table.column("currency").to_pylist() == ["CNY", "CNY"]
