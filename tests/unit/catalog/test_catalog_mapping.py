"""Mapping files say what real catalogs need and their formats do not: renames, constants (a catalog currency), a
second file joining SKUs to photos, a folder for relative photos, and category rules."""
import json

import pytest

from skucore.catalog.categories import CategoryMapper
from skucore.catalog.formats import CatalogError, read_source
from skucore.catalog.loader import load_catalog
from skucore.catalog.mapping import load_mapping
from tests.helpers.catalog_exports import FIXTURES

KNOWN = ["electronics", "fashion", "home_decor", "beauty", "default"]


def _yaml(tmp_path, text, name="mapping.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_renames_constants_currency_join_and_photo_folder(tmp_path, make_photo):
    # An ERP export: odd column names, no brand, no currency, photos in another system keyed by SKU.
    make_photo("library/shots/m-1.jpg")
    make_photo("library/shots/m-2.jpg", color=(20, 160, 40))
    (tmp_path / "erp.csv").write_text("Artikel,Benämning,Avdelning,Pris,Bild\nM-1,Lampa,Hem > Belysning,399,\n"
                                      "M-2,Mugg,Hem > Kök,129,old/none.jpg\nM-3,Kopp,Hem,99,\n", encoding="utf-8")
    (tmp_path / "photos.csv").write_text("article,file\nM-1,shots/m-1.jpg\nM-2,shots/m-2.jpg\n")
    mapping = _yaml(tmp_path, """\
currency: SEK
columns:
  sku: Artikel
  name: Benämning
  category: Avdelning
  price: Pris
  image: Bild
constants:
  brand: Hemma
photos:
  prefix: library
  join: {file: photos.csv, sku: article, photo: file}
categories:
  Hem: home_decor
""")
    load = load_catalog(tmp_path / "erp.csv", mapping=mapping)
    rows = {r["sku"]: r for r in load.table.to_pylist()}
    assert set(rows) == {"M-1", "M-2"}
    assert rows["M-1"]["image"] == str(tmp_path / "library" / "shots" / "m-1.jpg")  # the join's photo wins
    assert rows["M-2"]["image"].endswith("shots/m-2.jpg")
    assert {(r["currency"], r["brand"], r["category"]) for r in rows.values()} == {("SEK", "Hemma", "home_decor")}
    assert [(r["sku"], r["reason"]) for r in load.rejects.to_pylist()] == [("M-3", "photo_missing")]
    assert load.stats["photos_joined"] == 2


def test_the_command_line_currency_wins_over_the_mapping(tmp_path, write_csv, catalog_row):
    path = write_csv([catalog_row("C-1", price="12", currency="")])
    mapping = _yaml(tmp_path, "currency: SEK\n")
    assert load_catalog(path, mapping=mapping).table.column("currency").to_pylist() == ["SEK"]
    assert load_catalog(path, mapping=mapping, currency="nok").table.column("currency").to_pylist() == ["NOK"]
    with pytest.raises(CatalogError, match="'kronor' is not a three-letter ISO 4217 code"):
        load_catalog(path, currency="kronor")


def test_renames_reach_into_shop_exports(tmp_path):
    shopify = _yaml(tmp_path, "columns:\n  category: Type\n", "shopify.yaml")
    read = read_source(FIXTURES / "shopify_current.csv", mapping=shopify)
    assert read.records[0].fields["category"] == "Hoodies"  # the shop's Type, not the taxonomy path
    feed = _yaml(tmp_path, "columns:\n  category: google_product_category\n  material: size\n", "feed.yaml")
    record = read_source(FIXTURES / "merchant_center_rss.xml", mapping=feed).records[0]
    assert (record.fields["category"], record.fields["material"]) == ("212", "M")
    retail = _yaml(tmp_path, "columns:\n  name: priceInfo.currencyCode\n", "retail.yaml")
    assert read_source(FIXTURES / "google_retail.ndjson", mapping=retail).records[0].fields["name"] == "USD"
    wrong = _yaml(tmp_path, "columns:\n  category: Product Type\n", "wrong.yaml")
    with pytest.raises(CatalogError, match=r"wrong\.yaml: field 'category' names column 'Product Type'"):
        read_source(FIXTURES / "shopify_current.csv", mapping=wrong)


def test_mapping_names_the_format(tmp_path):
    mapping = _yaml(tmp_path, "format: merchant_center\n")
    assert read_source(FIXTURES / "merchant_center.tsv", mapping=mapping).fmt == "merchant_center"


@pytest.mark.parametrize("text, message", [
    ("colums:\n  sku: A\n", "unknown key 'colums'"),
    ("columns:\n  skew: A\n", "unknown field 'skew' under columns"),
    ("columns: [sku]\n", "columns: must be a table"),
    ("constants:\n  brand: [a, b]\n", "constant 'brand' must be text or a number"),
    ("photos:\n  folder: x\n", "photos: must be a table with prefix and/or join"),
    ("photos:\n  join: {file: photos.csv, key: sku}\n", "photos.join: must be a file name or a table"),
    ("categories: [fashion]\n", "categories: must be a table"),
    ("currency: 12\n", "currency: must be a currency code"),
    ("a: 1\na: 2\n", "not valid yaml.*duplicate key"),
])
def test_mapping_errors_name_the_file_and_what_is_wrong(tmp_path, text, message):
    with pytest.raises(CatalogError, match=rf"mapping(\.yaml| file .*mapping\.yaml).*{message}"):
        load_mapping(_yaml(tmp_path, text))


def test_missing_join_file_and_column(tmp_path, write_csv, catalog_row):
    path = write_csv([catalog_row("J-1")])
    with pytest.raises(CatalogError, match="photos.join file .*nope.csv: cannot read"):
        load_catalog(path, mapping=_yaml(tmp_path, "photos:\n  join: nope.csv\n"))
    (tmp_path / "photos.csv").write_text("sku,path\nJ-1,photo.jpg\n")
    with pytest.raises(CatalogError, match="has no column 'image' \\(columns: sku, path\\)"):
        load_catalog(path, mapping=_yaml(tmp_path, "photos:\n  join: photos.csv\n"))


def test_category_rules():
    mapper = CategoryMapper({
        "Kläder": "fashion", "Kläder > Accessoarer > Klockor": "electronics", "** > Mugs": "home_decor",
        "Default Category/*/Tops": "fashion", "google:5181": "fashion", "Skönhet": "beauty",
    }, KNOWN)
    assert mapper.choose("Kläder > T-shirts > Dam") == "fashion"  # a path and everything under it
    assert mapper.choose("kläder  >  accessoarer > KLOCKOR") == "electronics"  # the longest rule wins
    assert mapper.choose("Home > Kitchen > Mugs") == "home_decor"  # ** is any number of levels
    assert mapper.choose("Default Category/Men/Tops/Tees") == "fashion"  # * is one level, / separates too
    assert mapper.choose("Bagage", taxonomy="5181") == "fashion"  # a Google taxonomy id
    assert mapper.choose("Trädgård") is None  # no rule, no built-in word: the default category (counted)
    # Built in: the most specific level that is a known word, then a few Google taxonomy ids.
    assert CategoryMapper({}, KNOWN).choose("Apparel & Accessories > Clothing > Clothing Tops > Hoodies") == "fashion"
    assert CategoryMapper({}, KNOWN).choose(None, taxonomy="536") == "home_decor"
    with pytest.raises(CatalogError, match="'Kläder' maps to 'clothes', which is not a template category"):
        CategoryMapper({"Kläder": "clothes"}, KNOWN)


def test_category_rules_and_defaults_in_a_sync(tmp_path):
    mapping = _yaml(tmp_path, "currency: SEK\ncategories:\n  Kläder: fashion\n")
    load = load_catalog(FIXTURES / "woocommerce.csv", mapping=mapping, read_photo=lambda uri: b"")
    assert load.stats["category_defaulted"] == {}  # every row failed its photo, but none fell to default
    read = read_source(FIXTURES / "woocommerce.csv")
    mapper = CategoryMapper(load_mapping(mapping).category_rules, KNOWN)
    chosen = {r.fields["sku"]: mapper.choose(r.fields["category"]) for r in read.records}
    assert chosen["WOO-HOODIE-RUBY-S"] == "fashion" and chosen["WOO-MUG"] is None  # Hem > Kök: no rule


def test_old_flat_mapping_files_still_read(tmp_path):
    mapping = load_mapping(_yaml(tmp_path, "sku: Item No\nprice: Retail\n"))
    assert mapping.columns == {"sku": "Item No", "price": "Retail"}
    assert json.dumps(mapping.columns)
