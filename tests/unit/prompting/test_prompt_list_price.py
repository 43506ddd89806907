"""The struck-through price uses the catalog's two prices: while the shop runs its own sale, the list price is
struck through and the promotion starts from the sale price a shopper pays."""
import pyarrow as pa

from skucore.prompting.prompts import build_prompt_table
from skucore.tables import CATALOG_SCHEMA


def _catalog(rows):
    base = {f.name: None for f in CATALOG_SCHEMA}
    full = [dict(base, image=f"/p/{r['sku']}.jpg", photo_sha256="0" * 64, content_hash=f"{i:064d}", source_row=i,
                 category="fashion", currency="CNY", name=r["sku"].title(), **r) for i, r in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=CATALOG_SCHEMA)


def test_list_price_is_struck_through_during_a_shop_sale(double11):
    catalog = _catalog([{"sku": "ON-SALE", "price": 399.0, "list_price": 499.0},
                        {"sku": "REGULAR", "price": 499.0, "list_price": None}])
    rows = {r["sku"]: r for r in build_prompt_table(catalog, double11).table.to_pylist() if r["role"] == "detail"}
    on_sale, regular = rows["ON-SALE"], rows["REGULAR"]
    assert (on_sale["price"], on_sale["promo_price"]) == (399.0, 319.0)  # 20% off what the shopper pays
    assert (on_sale["price_text"], on_sale["promo_price_text"]) == ("¥499", "¥319")  # the list price struck through
    assert (regular["price_text"], regular["promo_price_text"]) == ("¥499", "¥399")
