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
