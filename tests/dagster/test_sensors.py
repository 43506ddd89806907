"""After a catalog sync: the changed SKU is regenerated (one backfill), the delisted one leaves the manifest at
once, nothing else is touched; and manifests follow what is published."""
import csv
import json

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from assets.partitions import SKUS, promotion_range
from orchestration.resources import local_resources
from orchestration.sensors import catalog_change_regeneration, manifest_refresh


def _edit_catalog(path, *, reprice: str, new_price: str, delist: str):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, fields = list(reader), reader.fieldnames
    rows = [dict(r, price=new_price) if r["sku"] == reprice else r for r in rows if r["sku"] != delist]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _targets(run_request):
    subset = run_request.asset_graph_subset
    out = set()
    for key, parts in subset.partitions_subsets_by_asset_key.items():
        out.update((key.to_user_string(), str(p)) for p in parts.get_partition_keys())
    return out


def test_sync_then_sensors(tmp_path, small_catalog):
    home = tmp_path / "home"
    defs = build_definitions(local_resources(home=str(home), catalog=str(small_catalog)))
    store = defs.resources["store"]
    with dg.instance_for_test() as instance:
        def evaluate(sensor, cursor=None):
            with dg.build_sensor_context(
                instance=instance, resources={"store": store, "promotions": defs.resources["promotions"]},
                definitions=defs, cursor=cursor,
            ) as ctx:
                result = sensor(ctx)
                return result, ctx.cursor

        assert run_stage(defs, "catalog_sync", instance).success
        skus = instance.get_dynamic_partitions(SKUS)
        # Before anything was published no promotion is active: a sync regenerates nothing.
        first, _ = evaluate(catalog_change_regeneration)
        assert isinstance(first, dg.SkipReason)

        assert run_stage(defs, "promotion_prompts", instance, partition_key="double11").success
        assert run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1]).success
        start, end = promotion_range(instance, "double11", skus)
        assert run_stage(defs, "promotion_images", instance, start=start, end=end).success

        refresh, refresh_cursor = evaluate(manifest_refresh)
        assert [r.partition_key for r in refresh.run_requests] == ["double11"]
        assert run_stage(defs, "promotion_manifest", instance, partition_key="double11").success
        # Nothing new published since: no manifest run.
        assert isinstance(evaluate(manifest_refresh, cursor=refresh_cursor)[0], dg.SkipReason)

        changed, delisted, untouched = skus[0], skus[1], skus[2]
        with open(small_catalog, encoding="utf-8", newline="") as fh:
            original_price = next(r["price"] for r in csv.DictReader(fh) if r["sku"] == changed)
        _edit_catalog(small_catalog, reprice=changed, new_price="¥99.00", delist=delisted)
        assert run_stage(defs, "catalog_sync", instance).success
        assert delisted not in instance.get_dynamic_partitions(SKUS)
        manifest = json.loads((home / "cdn" / "promotions" / "double11" / "manifest.json").read_text())
        listed = {e["sku"] for e in manifest["entries"]}
        assert delisted not in listed  # gone at the sync
        assert changed not in listed  # its old-price images are withdrawn until regenerated
        assert untouched in listed

        result, _ = evaluate(catalog_change_regeneration)
        (request,) = result.run_requests
        targets = _targets(request)
        assert ("product_cutouts", changed) in targets
        assert ("generated_images", f"double11|{changed}") in targets
        assert ("cdn_publish", f"double11|{changed}") in targets
        assert ("cdn_manifest", "double11") in targets
        assert not any(untouched in p or delisted in p for _, p in targets)

        # Changed back before it was regenerated: its images were withdrawn at the last sync, so although they
        # show this very row, the SKU is still stale until it publishes again.
        _edit_catalog(small_catalog, reprice=changed, new_price=original_price, delist="")
        assert run_stage(defs, "catalog_sync", instance).success
        result, _ = evaluate(catalog_change_regeneration)
        (request,) = result.run_requests
        assert ("cdn_publish", f"double11|{changed}") in _targets(request)


# ---- manifest_refresh against publishes, manifests, runs and backfills recorded on a real instance ---------------
def _published(instance, promotion: str, sku: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("cdn_publish", partition=f"{promotion}|{sku}"))


def _manifest_written(instance, promotion: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("cdn_manifest", partition=promotion))


def _refresh(instance, defs, cursor=None):
    with dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor) as ctx:
        return manifest_refresh(ctx), ctx.cursor


def _requested(result) -> list[str]:
    return [] if isinstance(result, dg.SkipReason) else [r.partition_key for r in result.run_requests]


def _promotions_instance(instance, *promotions):
    instance.add_dynamic_partitions("promotions", list(promotions))
    instance.add_dynamic_partitions(SKUS, ["A-1", "B-2"])


def test_manifest_refresh_requests_only_manifests_older_than_their_publishes(tmp_path):
    defs = build_definitions(local_resources(home=str(tmp_path / "home")))
    with dg.instance_for_test() as instance:
        _promotions_instance(instance, "spring", "summer")
        _published(instance, "spring", "A-1")
        _published(instance, "summer", "A-1")
        _manifest_written(instance, "summer")  # summer's manifest already lists what it published
        result, cursor = _refresh(instance, defs)
        assert _requested(result) == ["spring"]
        _published(instance, "summer", "B-2")  # published after summer's manifest: it is stale now
        result, cursor = _refresh(instance, defs, cursor)
        assert _requested(result) == ["summer"]
        result, _ = _refresh(instance, defs, cursor)
        assert isinstance(result, dg.SkipReason)  # nothing new


def test_manifest_refresh_waits_for_a_backfill_that_writes_the_manifest_then_writes_one_it_held_back(tmp_path):
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

    defs = build_definitions(local_resources(home=str(tmp_path / "home")))
    graph = defs.resolve_asset_graph()
    with dg.instance_for_test() as instance:
        _promotions_instance(instance, "spring")
        subset = AssetGraphSubset.from_asset_partition_set(
            {AssetKeyPartitionKey(dg.AssetKey("cdn_manifest"), "spring")}, graph)
        backfill = PartitionBackfill.from_asset_graph_subset(
            backfill_id="bf1", backfill_timestamp=0.0, tags={}, dynamic_partitions_store=instance,
            asset_graph_subset=subset, title=None, description=None, run_config=None)
        instance.add_backfill(backfill)
        _published(instance, "spring", "A-1")
        result, cursor = _refresh(instance, defs)
        assert isinstance(result, dg.SkipReason) and "on their way: ['spring']" in result.skip_message
        # The backfill ends without its manifest (a SKU failed and held it back): the sensor writes it now.
        instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_FAILED))
        result, cursor = _refresh(instance, defs, cursor)
        assert _requested(result) == ["spring"]


def test_manifest_refresh_leaves_a_manifest_a_running_run_will_write(tmp_path):
    defs = build_definitions(local_resources(home=str(tmp_path / "home")))
    with dg.instance_for_test() as instance:
        _promotions_instance(instance, "spring")
        _published(instance, "spring", "A-1")
        instance.add_run(dg.DagsterRun(job_name="promotion_manifest", run_id="r1", status=dg.DagsterRunStatus.STARTED,
                                       tags={"dagster/partition": "spring"}))
        result, cursor = _refresh(instance, defs)
        assert isinstance(result, dg.SkipReason)
        # The run wrote the manifest after the publish: nothing is left to do.
        _manifest_written(instance, "spring")
        result, _ = _refresh(instance, defs, cursor)
        assert isinstance(result, dg.SkipReason) and "already current: ['spring']" in result.skip_message


def test_sensor_interval_comes_from_the_environment_and_a_bad_value_names_the_setting():
    import pytest

    from orchestration.sensors import sensor_interval_s

    assert sensor_interval_s({}) == 30
    assert sensor_interval_s({"SKUSTUDIO_SENSOR_INTERVAL_S": "5"}) == 5
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ValueError, match="SKUSTUDIO_SENSOR_INTERVAL_S"):
            sensor_interval_s({"SKUSTUDIO_SENSOR_INTERVAL_S": bad})
