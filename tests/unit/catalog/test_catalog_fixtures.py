"""The catalog fixtures are what they claim: each parses with its format's conventions and layout, its expected
outcomes point at real rows and stay under the default 20% reject gate, and every photo it names, served by a real
loopback server, fetches and decodes with the outcome the fixture expects (then revalidates at zero bytes)."""
import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers.fixture_photos import MAGENTO_MEDIA_BASE, PHOTO_BASE, SPECIAL_PHOTOS, expected_photo_reason, \
    serve_fixture_photos
from tests.helpers.photo_kinds import PACKSHOT_FOLDERS
from skucore.catalog.address_policy import AddressPolicy
from skucore.catalog.blob_cache import LocalFolderCache
from skucore.catalog.photo_decode import decode_photo
from skucore.catalog.photo_fetch import FetchSettings, PhotoFetcher
from tests.helpers.photo_server import PhotoServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "catalogs"
PACKSHOTS = next(folder for folder in PACKSHOT_FOLDERS if folder.is_dir())
G = "{http://base.google.com/ns/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
NAMES = ["shopify_current", "shopify_classic", "woocommerce", "magento2", "merchant_center_rss",
         "merchant_center_atom", "merchant_center", "google_retail"]
FILES = {"shopify_current": "shopify_current.csv", "shopify_classic": "shopify_classic.csv",
         "woocommerce": "woocommerce.csv", "magento2": "magento2.csv", "merchant_center_rss": "merchant_center_rss.xml",
         "merchant_center_atom": "merchant_center_atom.xml", "merchant_center": "merchant_center.tsv",
         "google_retail": "google_retail.ndjson"}


def _csv(name) -> list[dict]:
    data = (FIXTURES / FILES[name]).read_bytes()
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _items(name) -> list[ET.Element]:
    root = ET.parse(FIXTURES / FILES[name]).getroot()
    return root.findall("channel/item") if root.tag == "rss" else root.findall(f"{ATOM}entry")


def _ndjson() -> list[dict | None]:
    records = []
    for line in (FIXTURES / FILES["google_retail"]).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append(None)
    return records


def photo_refs(name) -> list[str]:
    """Every photo reference the fixture holds, as written (placeholders kept)."""
    if name == "shopify_current":
        return [v for r in _csv(name) for v in (r["Product image URL"], r["Variant image URL"]) if v]
    if name == "shopify_classic":
        return [v for r in _csv(name) for v in (r["Image Src"], r["Variant Image"]) if v]
    if name == "woocommerce":
        return [u.strip() for r in _csv(name) for u in r["Images"].split(", ") if u.strip()]
    if name == "magento2":
        paths = [p for r in _csv(name) for p in [r["base_image"], *r["additional_images"].split(",")]
                 if p and p != "no_selection"]
        return [p if p.startswith(PHOTO_BASE) else MAGENTO_MEDIA_BASE + p for p in paths]
    if name == "merchant_center":
        rows = list(csv.DictReader(open(FIXTURES / FILES[name], encoding="utf-8"), delimiter="\t"))
        return [u for r in rows for u in [r["image_link"], *r["additional_image_link"].split(",")] if u]
    if name == "google_retail":
        return [i["uri"] for r in _ndjson() if r for i in r.get("images", [])]
    return [e.text for item in _items(name) for e in item
            if e.tag in (f"{G}image_link", f"{G}additional_image_link")]


def _sku_at(name: str, row: int) -> str | None:
    if name in ("shopify_current", "shopify_classic", "woocommerce", "magento2"):
        record = _csv(name)[row - 2]
        return record.get("SKU") or record.get("Variant SKU") or record.get("sku")
    if name == "merchant_center":
        return list(csv.DictReader(open(FIXTURES / FILES[name], encoding="utf-8"), delimiter="\t"))[row - 2]["id"]
    if name == "google_retail":
        record = _ndjson()[row - 1]
        return record["id"] if record else None
    return _items(name)[row - 1].find(f"{G}id").text


def test_layouts_are_the_platforms_own():
    current = set(_csv("shopify_current")[0])
    assert {"Title", "URL handle", "SKU", "Price", "Compare-at price", "Product image URL",
            "Variant image URL"} <= current and "Handle" not in current
    classic = set(_csv("shopify_classic")[0])
    assert {"Handle", "Title", "Body (HTML)", "Vendor", "Variant SKU", "Variant Price", "Variant Compare At Price",
            "Image Src", "Image Position", "Variant Image"} <= classic
    woo = _csv("woocommerce")
    assert (FIXTURES / "woocommerce.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # WooCommerce writes a BOM
    assert {"ID", "Type", "SKU", "Name", "Parent", "Regular price", "Sale price", "Categories", "Images",
            "Attribute 1 name", "Attribute 1 value(s)"} <= set(woo[0])
    assert {r["Type"] for r in woo} == {"simple", "variable", "variation"}
    magento = _csv("magento2")
    assert {"sku", "name", "price", "special_price", "categories", "base_image", "additional_images",
            "additional_attributes", "product_type", "configurable_variations"} <= set(magento[0])
    assert any(r["store_view_code"] for r in magento) and any(r["base_image"] == "no_selection" for r in magento)


def test_merchant_center_feeds_are_namespaced_xml_and_plain_tsv():
    rss = ET.parse(FIXTURES / "merchant_center_rss.xml").getroot()
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    for item in _items("merchant_center_rss"):
        assert len(item.findall(f"{G}price")) == 1  # the item's own price ...
        assert item.find(f"{G}shipping/{G}price") is not None  # ... and the shipping's, nested, which is not it
    atom = ET.parse(FIXTURES / "merchant_center_atom.xml").getroot()
    assert atom.tag == f"{ATOM}feed" and len(_items("merchant_center_atom")) == 10
    lines = (FIXTURES / "merchant_center.tsv").read_text(encoding="utf-8").splitlines()
    assert len({line.count("\t") for line in lines}) == 1 and '"' not in "".join(lines)


def test_retail_lines_are_json_but_one():
    records = _ndjson()
    assert records.count(None) == 1  # the deliberately cut line
    kinds = {r["type"] for r in records if r}
    assert kinds == {"PRIMARY", "VARIANT"}
    assert all(isinstance(r["priceInfo"], dict) and "currencyCode" in r["priceInfo"] for r in records if r)


@pytest.mark.parametrize("name", NAMES)
def test_expected_outcomes_point_at_their_rows_and_pass_the_gate(name):
    expected = json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8"))
    for record in expected["records"]:
        assert _sku_at(name, record["row"]) == record.get("sku"), record
        if record["outcome"] == "accepted":
            assert record["price"] > 0 and record["currency"] and record["image"]
            if "list_price" in record:
                assert record["list_price"] > record["price"]
    assert 6 <= expected["records_expected"] and expected["rejected"] >= 1
    # The default catalog gate closes above 20% rejected rows: each fixture must get through it as exported.
    assert expected["rejected"] / expected["records_expected"] <= 0.2


@pytest.mark.parametrize("name", NAMES)
def test_photo_references_use_the_placeholder_and_known_photos(name):
    refs = photo_refs(name)
    assert refs
    for ref in refs:
        assert ref.startswith(PHOTO_BASE + "/"), ref
        file_name = ref.split("?", 1)[0].rsplit("/", 1)[-1]
        assert (PACKSHOTS / file_name).is_file() or file_name in SPECIAL_PHOTOS, ref


def test_every_fixture_photo_fetches_as_expected_and_revalidates_for_free(tmp_path):
    settings = FetchSettings(connect_timeout_s=2.0, read_timeout_s=1.0, total_timeout_s=6.0, retries=1,
                             backoff_s=0.01, backoff_max_s=0.02, max_bytes=4_000_000,
                             policy=AddressPolicy(allowed_networks=("127.0.0.0/8",)))
    cache = LocalFolderCache(tmp_path / "cache")
    with PhotoServer(folder=PACKSHOTS) as server:
        serve_fixture_photos(server, PACKSHOTS, slow_s=2.5, oversized_bytes=6_000_000)
        urls = sorted({ref.replace(PHOTO_BASE, server.base_url) for name in NAMES for ref in photo_refs(name)})
        first = PhotoFetcher(cache, settings).fetch_many(urls, workers=8)
        for url, result in first.items():
            assert result.reason == expected_photo_reason(url), (url, result)
            if result.ok:
                photo = decode_photo(cache.get(f"photos/{result.sha256[:2]}/{result.sha256}"))
                assert photo.size == (1200, 1200)
        sent = server.bytes_sent
        second = PhotoFetcher(cache, settings).fetch_many([u for u, r in first.items() if r.ok], workers=8)
        assert all(r.ok and r.revalidated and r.bytes_downloaded == 0 for r in second.values())
        assert server.bytes_sent == sent
    for name in NAMES:  # every photo reason a fixture expects is one its photos really produce
        expected = json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8"))
        wanted = {r["outcome"] for r in expected["records"]} & {reason for reason, _ in SPECIAL_PHOTOS.values()}
        produced = {expected_photo_reason(ref) for ref in photo_refs(name)}
        assert wanted <= produced, name
