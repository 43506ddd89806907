"""Shopify product exports of our own making, in the classic header and the current one with metafield columns."""
import csv
import io
import json

import pytest

from skucore.catalog.loader import CatalogError, load_catalog

CLASSIC = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published", "Option1 Name", "Option1 Value",
           "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value", "Variant SKU", "Variant Grams",
           "Variant Inventory Qty", "Variant Price", "Variant Compare At Price", "Variant Barcode", "Image Src",
           "Image Position", "Image Alt Text", "Gift Card", "SEO Title", "Variant Image", "Variant Weight Unit",
           "Cost per item", "Status"]
CURRENT = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
           "Option1 Name", "Option1 Value", "Option1 Linked To", "Option2 Name", "Option2 Value", "Option2 Linked To",
           "Option3 Name", "Option3 Value", "Option3 Linked To", "Variant SKU", "Variant Grams", "Variant Price",
           "Variant Compare At Price", "Unit Price Total Measure", "Variant Barcode", "Image Src", "Image Position",
           "Image Alt Text", "Gift Card", "SEO Title", "Color (product.metafields.shopify.color-pattern)",
           "Fabric (product.metafields.shopify.fabric)", "Google Shopping / Gender", "Variant Image",
           "Variant Weight Unit", "Cost per item", "Status"]


def _write(path, header, rows):
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in header})
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def photos(make_photo):
    return {name: make_photo(f"img/{name}.jpg") for name in ("tee1", "tee2", "tee_white", "mug", "phone")}


def test_classic_header(tmp_path, photos):
    rows = [
        {"Handle": "classic-tee", "Title": "经典T恤 / Classic Tee", "Body (HTML)": "<p>Soft</p>", "Vendor": "Solidus",
         "Type": "T-Shirts", "Tags": "summer, cotton", "Published": "true", "Option1 Name": "Color",
         "Option1 Value": "Black", "Option2 Name": "Size", "Option2 Value": "M", "Variant SKU": "TEE-BLK-M",
         "Variant Price": "129.00", "Image Src": "img/tee1.jpg", "Image Position": "1", "Status": "active"},
        # A later variant: product-level cells are blank and inherited; its Image Src is the product's 2nd image.
        {"Handle": "classic-tee", "Option1 Value": "Black", "Option2 Value": "L", "Variant SKU": "TEE-BLK-L",
         "Variant Price": "139.00", "Image Src": "img/tee2.jpg", "Image Position": "2"},
        {"Handle": "classic-tee", "Option1 Value": "White", "Option2 Value": "M", "Variant SKU": "TEE-WHT-M",
         "Variant Price": "129.00", "Variant Image": "img/tee_white.jpg"},
        # An extra image only: not a product.
        {"Handle": "classic-tee", "Image Src": "img/tee_white.jpg", "Image Position": "3"},
        {"Handle": "mug", "Title": "Mug", "Vendor": "Ruby", "Type": "Mugs", "Option1 Name": "Title",
         "Option1 Value": "Default Title", "Variant SKU": "MUG-1", "Variant Price": "59", "Image Src": "img/mug.jpg",
         "Status": "active"},
        {"Handle": "phone", "Title": "Phone", "Vendor": "Acme", "Type": "Phones", "Option1 Name": "Title",
         "Option1 Value": "Default Title", "Variant SKU": "PHONE-1", "Variant Price": "1,999.00",
         "Image Src": "img/phone.jpg"},
    ]
    load = load_catalog(_write(tmp_path / "products_export_1.csv", CLASSIC, rows), currency="CNY")
    assert load.stats["format"] == "shopify"
    assert load.stats["shopify_image_only_rows"] == 1
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()
    by_sku = {r["sku"]: r for r in load.table.to_pylist()}
    assert list(by_sku) == ["TEE-BLK-M", "TEE-BLK-L", "TEE-WHT-M", "MUG-1", "PHONE-1"]
    tee_l = by_sku["TEE-BLK-L"]
    assert (tee_l["name"], tee_l["brand"], tee_l["category"], tee_l["color"]) == (
        "经典T恤 / Classic Tee", "Solidus", "fashion", "Black")
    assert tee_l["price"] == 139.0 and tee_l["source_row"] == 3
    # The variant's image is its own Variant Image, else the product's first image (never the Nth image).
    assert tee_l["image"] == str(photos["tee1"])
    assert by_sku["TEE-WHT-M"]["image"] == str(photos["tee_white"])
    assert by_sku["TEE-WHT-M"]["color"] == "White"
    attributes = json.loads(tee_l["attributes"])
    assert attributes["options"] == {"Color": "Black", "Size": "L"}
    assert attributes["Tags"] == ["summer", "cotton"] and attributes["Handle"] == "classic-tee"
    assert by_sku["MUG-1"]["category"] == "home_decor" and by_sku["MUG-1"]["color"] is None
    assert "options" not in json.loads(by_sku["MUG-1"]["attributes"])  # "Default Title" is no option
    assert by_sku["PHONE-1"]["category"] == "electronics" and by_sku["PHONE-1"]["price"] == 1999.0


def test_current_header_with_metafields(tmp_path, photos):
    rows = [
        {"Handle": "tee", "Title": "Tee", "Vendor": "Solidus", "Product Category": "Apparel & Accessories > Clothing",
         "Type": "", "Tags": "new", "Option1 Name": "Size", "Option1 Value": "S", "Option1 Linked To": "",
         "Variant SKU": "TEE-S", "Variant Price": "99.00", "Image Src": "img/tee1.jpg", "Image Position": "1",
         "Color (product.metafields.shopify.color-pattern)": "black",
         "Fabric (product.metafields.shopify.fabric)": "cotton", "Google Shopping / Gender": "unisex",
         "Status": "active"},
        {"Handle": "tee", "Option1 Value": "M", "Variant SKU": "TEE-M", "Variant Price": "109.00"},
        {"Handle": "tee", "Image Src": "img/tee2.jpg", "Image Position": "2"},
        {"Handle": "skin", "Title": "Cream", "Vendor": "Glow", "Type": "Skincare", "Option1 Name": "Title",
         "Option1 Value": "Default Title", "Variant SKU": "CREAM-1", "Variant Price": "$12.50",
         "Image Src": "img/mug.jpg"},
    ]
    load = load_catalog(_write(tmp_path / "products_export.csv", CURRENT, rows), currency="CNY")
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()
    assert load.stats["shopify_image_only_rows"] == 1
    by_sku = {r["sku"]: r for r in load.table.to_pylist()}
    assert list(by_sku) == ["TEE-S", "TEE-M", "CREAM-1"]
    tee_m = by_sku["TEE-M"]
    assert (tee_m["color"], tee_m["material"], tee_m["category"]) == ("black", "cotton", "fashion")
    assert tee_m["image"] == str(photos["tee1"]) and tee_m["name"] == "Tee"
    assert json.loads(tee_m["attributes"])["Google Shopping / Gender"] == "unisex"
    assert (by_sku["CREAM-1"]["category"], by_sku["CREAM-1"]["currency"]) == ("beauty", "USD")


def test_variant_rows_are_validated_like_any_row(tmp_path, photos):
    rows = [
        {"Handle": "tee", "Title": "Tee", "Type": "Apparel", "Option1 Name": "Size", "Option1 Value": "S",
         "Variant SKU": "TEE-S", "Variant Price": "99", "Image Src": "img/tee1.jpg"},
        {"Handle": "tee", "Option1 Value": "M", "Variant SKU": "", "Variant Price": "99"},
        {"Handle": "tee", "Option1 Value": "L", "Variant SKU": "TEE-S", "Variant Price": "free"},
    ]
    load = load_catalog(_write(tmp_path / "export.csv", CLASSIC, rows), currency="CNY")
    assert load.table.column("sku").to_pylist() == ["TEE-S"]
    reasons = sorted((r["source_row"], r["reason"]) for r in load.rejects.to_pylist())
    assert reasons == [(3, "missing_sku"), (4, "duplicate_sku"), (4, "unparsable_price")]


def test_fmt_shopify_requires_its_columns(tmp_path):
    path = _write(tmp_path / "plain.csv", ["sku", "price", "image"], [{"sku": "A", "price": "1", "image": "x"}])
    with pytest.raises(CatalogError, match="plain.csv.*Handle and Variant SKU.*URL handle and SKU"):
        load_catalog(path, fmt="shopify")
