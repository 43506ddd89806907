"""Marketplace rules are configuration: an override changes what is exported and what the checks expect."""
import dagster as dg
import pytest

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources, platform_settings
from resources.platforms import PlatformSettings
from tests.helpers.catalogs import prepare_promotion


def test_overridden_size_is_exported_and_checked(tmp_path, small_catalog):
    resources = local_resources(home=str(tmp_path / "home"), catalog=str(small_catalog))
    resources["platforms"] = PlatformSettings(overrides={"shopify": {"size": [1024, 1024]}})
    defs = build_definitions(resources)
    store = defs.resources["store"]
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(defs, instance, "double11")
        assert run_stage(defs, "promotion_images", instance, start=start, end=start).success
        sku = start.split("|")[1]
    generated = store.read_table(T.generated("double11", sku)).to_pylist()
    sizes = {(r["platform"], r["width"], r["height"]) for r in generated}
    assert {("shopify", 1024, 1024)} == {s for s in sizes if s[0] == "shopify"}
    assert ("jd", 800, 800) in sizes  # the others keep their presets
    quality = store.read_table(T.quality("double11", sku)).to_pylist()
    shopify_resolution = [q for q in quality if q["platform"] == "shopify" and q["metric"] == "resolution"]
    assert shopify_resolution and all(q["status"] == "pass" for q in shopify_resolution)


def test_a_bad_override_file_names_the_file_platform_and_field(tmp_path, monkeypatch):
    bad = tmp_path / "platforms.yaml"
    bad.write_text("pinduoduo:\n  max_megabytes: 1\n", encoding="utf-8")
    monkeypatch.setenv("SKUSTUDIO_PLATFORM_OVERRIDES", str(bad))
    with pytest.raises(ValueError, match=r"platforms\.yaml.*max_megabytes.*pinduoduo"):
        platform_settings()
    bad.write_text("mercadolibre:\n  max_bytes: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mercadolibre"):
        platform_settings()
