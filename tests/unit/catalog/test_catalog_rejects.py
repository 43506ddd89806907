"""Every reject reason, each with its offending value; a bad row never fails the load."""
import pytest

from skucore.catalog.loader import load_catalog


def _rejects(load):
    return [(r["source_row"], r["sku"], r["reason"], r["field"], r["value"]) for r in load.rejects.to_pylist()]


def test_missing_and_unsafe_sku(write_csv, catalog_row):
    path = write_csv([catalog_row(""), catalog_row("../etc/passwd"), catalog_row("SKU 1"), catalog_row("a/b"),
                      catalog_row("OK-1"), catalog_row("x" * 65)])
    load = load_catalog(path)
    assert load.table.column("sku").to_pylist() == ["OK-1"]
    assert _rejects(load) == [
        (2, None, "missing_sku", "sku", None),
        (3, "../etc/passwd", "unsafe_sku", "sku", "../etc/passwd"),
        (4, "SKU 1", "unsafe_sku", "sku", "SKU 1"),
        (5, "a/b", "unsafe_sku", "sku", "a/b"),
        (7, "x" * 65, "unsafe_sku", "sku", "x" * 65),
    ]


def test_duplicate_sku_keeps_the_first_and_names_its_row(write_csv, catalog_row):
    path = write_csv([catalog_row("D-1", name="first"), catalog_row("D-2"), catalog_row("D-1", name="second"),
                      catalog_row("d-1", name="third")])
    load = load_catalog(path)
    rows = load.table.to_pylist()
    assert [(r["sku"], r["name"]) for r in rows] == [("D-1", "first"), ("D-2", "测试T恤 / Test Tee")]
    rejects = load.rejects.to_pylist()
    assert [(r["source_row"], r["reason"], r["value"]) for r in rejects] == [
        (4, "duplicate_sku", "D-1"), (5, "duplicate_sku", "d-1")]  # case-insensitive: they collide on disk
    assert all("row 2" in r["message"] for r in rejects)


@pytest.mark.parametrize("price, reason", [
    ("", "missing_price"), ("abc", "unparsable_price"), ("12abc", "unparsable_price"),
    ("0", "non_positive_price"), ("-5", "non_positive_price"), ("¥0.00", "non_positive_price"),
])
def test_price_rejects(write_csv, catalog_row, price, reason):
    load = load_catalog(write_csv([catalog_row("P-1", price=price), catalog_row("P-2", price="1299")]))
    assert load.table.column("sku").to_pylist() == ["P-2"]
    assert _rejects(load) == [(2, "P-1", reason, "price", price or None)]


def test_currency_column_and_price_symbol(write_csv, catalog_row):
    path = write_csv([catalog_row("C-1", price="$12.50", currency="CNY"),
                      catalog_row("C-2", price="12.50", currency="usd"),
                      catalog_row("C-3", price="¥12.50", currency="RMB")])
    load = load_catalog(path)
    assert _rejects(load) == [(2, "C-1", "currency_mismatch", "currency", "CNY")]
    assert dict(zip(*load.table.select(["sku", "currency"]).to_pydict().values())) == {"C-2": "USD", "C-3": "CNY"}


def test_unknown_category_default_or_reject(write_csv, catalog_row):
    path = write_csv([catalog_row("K-1", category="Gardening"), catalog_row("K-2", category=""),
                      catalog_row("K-3", category="Home Decor"), catalog_row("K-4", category="Mugs")])
    mapped = load_catalog(path)
    assert mapped.rejects.num_rows == 0
    assert mapped.table.column("category").to_pylist() == ["default", "default", "home_decor", "home_decor"]
    assert mapped.stats["category_defaulted"] == {"Gardening": 1, "": 1}

    rejected = load_catalog(path, unknown_category="reject")
    assert rejected.table.column("sku").to_pylist() == ["K-3", "K-4"]
    assert _rejects(rejected) == [(2, "K-1", "unknown_category", "category", "Gardening"),
                                  (3, "K-2", "unknown_category", "category", None)]

    narrow = load_catalog(path, known_categories=["fashion", "other"], default_category="other")
    assert narrow.table.column("category").to_pylist() == ["other"] * 4


def test_bad_default_category_is_a_configuration_error(write_csv, catalog_row):
    with pytest.raises(ValueError, match="default_category"):
        load_catalog(write_csv([catalog_row()]), default_category="misc")


def test_every_problem_of_a_row_is_reported_and_good_rows_survive(write_csv, catalog_row):
    path = write_csv([catalog_row("", price="abc", image="missing.jpg"), catalog_row("G-1")])
    load = load_catalog(path)
    assert load.table.column("sku").to_pylist() == ["G-1"]
    assert sorted(r["reason"] for r in load.rejects.to_pylist()) == ["missing_sku", "photo_missing",
                                                                     "unparsable_price"]
    assert load.stats["rows_rejected"] == 1 and load.stats["rows_loaded"] == 1
    assert load.stats["rejects_by_reason"] == {"missing_sku": 1, "unparsable_price": 1, "photo_missing": 1}
