"""Export formats detected where that is unambiguous, chosen by name otherwise, and refused with a clear error
when neither works; XML parsed with DTDs and entities refused."""
import json

import pytest

from skucore.catalog.formats import CatalogError, read_source
from tests.helpers.catalog_exports import EXPORTS, FIXTURES


@pytest.mark.parametrize("name", list(EXPORTS))
def test_each_export_is_detected_and_read_with_its_conventions(name):
    export = EXPORTS[name]
    read = read_source(FIXTURES / export.file)
    expected = export.expected
    assert read.fmt == expected["format"]
    assert len(read.records) == expected["records_expected"]
    assert [r.source_row for r in read.records] == [r["row"] for r in expected["records"]]


def test_format_by_name_and_alias():
    assert read_source(FIXTURES / "magento2.csv", fmt="magento").fmt == "magento2"
    assert read_source(FIXTURES / "merchant_center.tsv", fmt="merchant_center").fmt == "merchant_center"
    with pytest.raises(CatalogError, match="unknown format 'prestashop'.*shopify, woocommerce"):
        read_source(FIXTURES / "magento2.csv", fmt="prestashop")


def test_a_format_the_file_is_not(tmp_path):
    with pytest.raises(CatalogError, match="XML file cannot be read as shopify"):
        read_source(FIXTURES / "merchant_center_rss.xml", fmt="shopify")
    with pytest.raises(CatalogError, match="JSON lines file cannot be read as woocommerce"):
        read_source(FIXTURES / "google_retail.ndjson", fmt="woocommerce")
    with pytest.raises(CatalogError, match="WooCommerce export needs the columns"):
        read_source(FIXTURES / "magento2.csv", fmt="woocommerce")


def test_xml_that_is_no_feed_and_json_that_is_no_retail(tmp_path):
    other = tmp_path / "products.xml"
    other.write_text("<products><product><sku>A</sku></product></products>")
    with pytest.raises(CatalogError, match="without Google's g: namespace"):
        read_source(other)
    lines = tmp_path / "products.ndjson"
    lines.write_text('{"sku": "A", "price": 1}\n')
    with pytest.raises(CatalogError, match="not Google Retail product lines"):
        read_source(lines)
    broken = tmp_path / "broken.ndjson"
    broken.write_text('{"priceInfo": \nnot json\n')
    with pytest.raises(CatalogError, match="no line is a JSON product object"):
        read_source(broken)


def test_xml_entity_bomb_is_refused_without_expanding(tmp_path):
    entities = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                           for i in range(1, 10)]
    feed = tmp_path / "feed.xml"
    feed.write_text('<?xml version="1.0"?>\n<!DOCTYPE rss [' + "".join(entities) + ']>\n'
                    '<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel><item>'
                    '<g:id>A</g:id><title>&lol9;</title><g:price>1 USD</g:price><g:image_link>x</g:image_link>'
                    '</item></channel></rss>')
    with pytest.raises(CatalogError, match="DTD or entities"):
        read_source(feed)


def test_malformed_xml_names_the_file(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text('<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>A</item>')
    with pytest.raises(CatalogError, match=r"feed\.xml: not well-formed XML"):
        read_source(feed)


def test_columns_that_fit_two_formats_ask_for_a_format(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Handle,Variant SKU,Type,SKU,Regular price,Parent,Images\nh,A,simple,A,1,,x.jpg\n")
    with pytest.raises(CatalogError, match="several formats \\(shopify, woocommerce\\); pass --format"):
        read_source(path)
    assert read_source(path, fmt="woocommerce").fmt == "woocommerce"


def test_one_broken_json_line_is_one_reject_not_a_broken_file():
    read = read_source(FIXTURES / "google_retail.ndjson")
    broken = [r for r in read.records if r.problem]
    assert [(r.source_row, r.problem[0]) for r in broken] == [(15, "unparsable_record")]


def test_merchant_center_takes_only_the_items_own_price():
    read = read_source(FIXTURES / "merchant_center_rss.xml")
    first = read.records[0]
    assert first.fields["price"] == "29.00 USD" and first.fields["sale_price"] == "24.00 USD"
    assert first.extras["shipping"]["price"] == "4.95 USD"  # kept, but never taken for the product's
    assert json.dumps(first.extras)  # JSON-ready attributes
