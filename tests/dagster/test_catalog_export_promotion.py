"""A shop's own export all the way to the CDN: a Merchant Center feed (prices with their currency, a sale with its
list price) whose photos are URLs on a loopback server, through the catalog sync, a one-platform promotion and the
CDN manifest. The photo server is shut down after the sync: the cutouts read the photos the sync cached, by hash,
and never fetch again."""
import json

import dagster as dg
import pytest

from assets.partitions import SKUS, promotion_range
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources
from skucore import tables as T
from tests.helpers.catalog_exports import EXPORTS, FAST_FETCH_ENV, export_photo_server
from tests.helpers.cli import write_promotions


def _two_item_feed(folder, base_url):
    """The Merchant Center TSV fixture cut to its first two items (a sale and a regular price)."""
    full = EXPORTS["merchant_center"].write(folder / "full", base_url)
    lines = full.read_text(encoding="utf-8").splitlines()
    path = folder / "feed.tsv"
    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key, value in FAST_FETCH_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SKUSTUDIO_PROMOTIONS", str(write_promotions(tmp_path / "promotions", ("shopify",))))
    monkeypatch.setenv("SKUSTUDIO_HOME", str(tmp_path / "home"))
    for key in ("SKUSTUDIO_CATALOG_CURRENCY", "SKUSTUDIO_CATALOG_FORMAT", "SKUSTUDIO_CATALOG_MAPPING",
                "SKUSTUDIO_PHOTO_ROOT", "SKUSTUDIO_PHOTO_CACHE", "SKUSTUDIO_MAX_REJECT_RATIO"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def test_merchant_center_feed_through_a_promotion_to_the_cdn(env):
    home = env / "home"
    with dg.instance_for_test() as instance:
        with export_photo_server() as server:
            feed = _two_item_feed(env, server.base_url)
            defs = build_definitions(local_resources(home=str(home), catalog=str(feed)))
            assert run_stage(defs, "catalog_sync", instance).success
            photo_requests = sum(server.hits.values())
        # The photo server is gone from here on.
        skus = instance.get_dynamic_partitions(SKUS)
        assert skus == ["UK-SOL-TEE-BLK", "UK-SOL-TEE-BLU"]
        store = defs.resources["store"]
        catalog = {r["sku"]: r for r in store.read_table(T.CATALOG).to_pylist()}
        assert (catalog["UK-SOL-TEE-BLK"]["price"], catalog["UK-SOL-TEE-BLK"]["list_price"]) == (20.0, 25.0)
        assert {r["currency"] for r in catalog.values()} == {"GBP"}
        assert all(r["image"].startswith(server.base_url) for r in catalog.values())
        assert (home / "store" / "photo-cache" / "photos").is_dir()

        assert run_stage(defs, "promotion_prompts", instance, partition_key="double11").success
        prompts = {(r["sku"], r["role"]): r for r in store.read_table(T.prompts("double11")).to_pylist()}
        studio = prompts[("UK-SOL-TEE-BLK", "studio")]
        # The shop's own sale: the promotion starts from £20 (20% off: £16), the list price £25 is struck through.
        assert (studio["price"], studio["promo_price"]) == (20.0, 16.0)
        assert (studio["price_text"], studio["promo_price_text"]) == ("£25", "£16")
        assert prompts[("UK-SOL-TEE-BLU", "studio")]["price_text"] == "£25"

        assert run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1]).success
        start, end = promotion_range(instance, "double11", skus)
        assert run_stage(defs, "promotion_images", instance, start=start, end=end).success
        assert run_stage(defs, "promotion_manifest", instance, partition_key="double11").success
        assert sum(server.hits.values()) == photo_requests  # nothing fetched after the sync

    manifest = json.loads((home / "cdn" / "promotions" / "double11" / "manifest.json").read_text())
    assert {e["sku"] for e in manifest["entries"]} == set(skus)
    for entry in manifest["entries"]:
        assert (home / "cdn" / entry["key"]).is_file()
