"""A promotion through every stage on a temporary Dagster instance, with one broken SKU: only that SKU fails,
every other SKU publishes, the reason is in the run's events, and after a repair the rerun completes it."""
import json
from pathlib import Path

import dagster as dg
import numpy as np
from PIL import Image

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from assets.partitions import SKUS, promotion_range
from orchestration.resources import local_resources


def _defs(home: Path, catalog: Path):
    return build_definitions(local_resources(home=str(home), catalog=str(catalog)))


def _break_photo(path: Path):
    """A valid JPEG that ingestion accepts but whose background is not white: the cutout must refuse it."""
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(800, 800, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, "JPEG", quality=90)


def _manifest(home: Path, promotion="double11") -> dict:
    return json.loads((home / "cdn" / "promotions" / promotion / "manifest.json").read_text())


def _run_promotion(defs, instance, skus):
    results = {}
    results["prompts"] = run_stage(defs, "promotion_prompts", instance, partition_key="double11")
    results["cutouts"] = run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1])
    start, end = promotion_range(instance, "double11", skus)
    results["images"] = run_stage(defs, "promotion_images", instance, start=start, end=end)
    results["manifest"] = run_stage(defs, "promotion_manifest", instance, partition_key="double11")
    return results


def test_one_bad_sku_fails_alone_and_a_rerun_completes_the_manifest(tmp_path, small_catalog):
    home = tmp_path / "home"
    defs = _defs(home, small_catalog)
    with dg.instance_for_test() as instance:
        assert run_stage(defs, "catalog_sync", instance).success
        skus = instance.get_dynamic_partitions(SKUS)
        assert len(skus) == 3
        bad_sku = skus[1]
        catalog_rows = {r["sku"]: r for r in defs.resources["store"].read_table(T.CATALOG).to_pylist()}
        bad_photo = Path(catalog_rows[bad_sku]["image"])
        good_bytes = bad_photo.read_bytes()
        _break_photo(bad_photo)
        assert run_stage(defs, "catalog_sync", instance).success  # the broken photo still ingests

        results = _run_promotion(defs, instance, skus)
        assert results["prompts"].success
        assert not results["cutouts"].success and results["cutouts"].failed == [bad_sku]
        assert not results["images"].success and results["images"].failed == [f"double11|{bad_sku}"]
        assert results["manifest"].success

        # Only the bad SKU is failed/missing; the others are materialized through cdn_publish.
        published = instance.get_materialized_partitions(dg.AssetKey("cdn_publish"))
        assert published == {f"double11|{s}" for s in skus if s != bad_sku}
        assert instance.get_materialized_partitions(dg.AssetKey("product_cutouts")) == set(skus) - {bad_sku}
        manifest = _manifest(home)
        assert {e["sku"] for e in manifest["entries"]} == set(skus) - {bad_sku}
        for entry in manifest["entries"]:  # every entry points at an object that exists with that content
            obj = home / "cdn" / entry["key"]
            assert obj.is_file()

        # The reason is in the run's events.
        records = instance.get_records_for_run(
            run_id=instance.get_runs(filters=dg.RunsFilter(job_name="sku_cutouts"))[0].run_id
        ).records
        messages = " ".join(r.event_log_entry.user_message for r in records)
        assert "background_not_white" in messages

        # Repair the photo, sync (the SKU's content hash changes), rerun only that SKU.
        bad_photo.write_bytes(good_bytes)
        assert run_stage(defs, "catalog_sync", instance).success
        assert run_stage(defs, "sku_cutouts", instance, start=bad_sku, end=bad_sku).success
        start, end = promotion_range(instance, "double11", [bad_sku])
        rerun = run_stage(defs, "promotion_images", instance, start=start, end=end)
        assert rerun.success
        assert run_stage(defs, "promotion_manifest", instance, partition_key="double11").success
        manifest = _manifest(home)
        assert {e["sku"] for e in manifest["entries"]} == set(skus)
        # 3 roles x 5 platforms graded per SKU; the manifest lists exactly the publishable ones, once each.
        store = defs.resources["store"]
        for sku in skus:
            graded = store.read_table(T.graded("double11", sku)).to_pylist()
            assert len(graded) == 15
            publishable = {(r["role"], r["platform"]) for r in graded if r["publishable"]}
            listed = [(e["role"], e["platform"]) for e in manifest["entries"] if e["sku"] == sku]
            assert sorted(listed) == sorted(publishable)
