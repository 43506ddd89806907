"""The per-SKU step's worker pool through Dagster: a killed worker fails only the SKU it held and a rerun
completes it; SKUs scored at the same moment in two workers are still compared for near duplicates; and a GPU
fleet in simulation (2 devices x 2 slots) is all busy, never oversubscribed, loads its model once per device,
batches scenes of several SKUs together and returns every SKU the same bytes as one worker does."""
from pathlib import Path

import dagster as dg

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources
from resources.execution import ExecutionSettings
from resources.gpu import GpuPoolResource
from resources.platforms import PlatformSettings
from resources.promotions import PromotionLibrary
from tests.helpers.catalogs import prepare_promotion
from tests.helpers.fleet import SMALL_SHOPIFY, Ledger, SimulatedSceneGenerator, generated_library, small_promotion
from tests.helpers.pool import KillingStore, write_twin_catalog


def _failure_reasons(instance, job_name: str) -> str:
    run = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)[0]
    return " ".join(r.event_log_entry.user_message for r in instance.get_records_for_run(run_id=run.run_id).records)


def test_a_killed_worker_fails_only_its_sku_and_a_rerun_completes_it(tmp_path, small_catalog):
    home, marker = tmp_path / "home", tmp_path / "kill-now"
    resources = local_resources(home=str(home), catalog=str(small_catalog))
    resources["execution"] = ExecutionSettings(workers=2)
    with dg.instance_for_test() as instance:
        defs = build_definitions(resources)
        start, end = prepare_promotion(defs, instance, "double11")
        all_skus = instance.get_dynamic_partitions("skus")
        victim = all_skus[1]
        resources["store"] = KillingStore(root=str(home / "store"), kill_sku=victim, kill_marker=str(marker))
        defs = build_definitions(resources)
        marker.touch()
        result = run_stage(defs, "promotion_images", instance, start=start, end=end)
        assert not result.success and result.failed == [f"double11|{victim}"]
        published = instance.get_materialized_partitions(dg.AssetKey("cdn_publish"))
        assert published == {f"double11|{s}" for s in all_skus if s != victim}
        assert "SIGKILL" in _failure_reasons(instance, "promotion_images")

        marker.unlink()  # the cause is gone: rerun the failed key only
        rerun = run_stage(defs, "promotion_images", instance, start=f"double11|{victim}", end=f"double11|{victim}")
        assert rerun.success
        assert instance.get_materialized_partitions(dg.AssetKey("cdn_publish")) == {f"double11|{s}" for s in all_skus}


def test_skus_scored_at_once_in_two_workers_are_still_compared(tmp_path):
    catalog = write_twin_catalog(tmp_path / "catalog")
    home = tmp_path / "home"
    resources = local_resources(home=str(home), catalog=str(catalog))
    resources["execution"] = ExecutionSettings(workers=2)
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(defs, instance, "double11")
        assert run_stage(defs, "promotion_images", instance, start=start, end=end).success
    store = defs.resources["store"]
    skus = [k.split("|")[1] for k in (start, end)]
    flagged = {}
    for sku in skus:
        for q in store.read_table(T.quality("double11", sku)).to_pylist():
            if q["metric"] == "near_duplicate" and q["slot"] == "main":
                flagged.setdefault(q["platform"], []).append((sku, q["status"]))
    assert flagged
    for platform, results in flagged.items():  # the twin scored second sees the first: one of each pair fails
        assert sorted(status for _, status in results) == ["fail", "pass"], (platform, results)


def _fleet_defs(tmp_path: Path, catalog: Path, name: str, *, workers: int, max_batch: int, devices, slots: int,
                seconds_per_image: float, **sim):
    home = tmp_path / name
    resources = local_resources(home=str(home), catalog=str(catalog))
    resources.update(
        promotions=PromotionLibrary(folder=str(small_promotion(tmp_path / "promotions")),
                                    template_library=str(generated_library(tmp_path))),
        scene_generator=SimulatedSceneGenerator(ledger_dir=str(home / "ledger"), seconds_per_image=seconds_per_image,
                                                allow_studio_fallback=False, max_batch=max_batch, **sim),
        gpu_pool=GpuPoolResource(devices=list(devices), slots_per_device=slots, lease_dir=str(home / "leases")),
        platforms=PlatformSettings(overrides=SMALL_SHOPIFY),
        execution=ExecutionSettings(workers=workers),
    )
    return build_definitions(resources), Ledger(home / "ledger")


def _generated_bytes(defs, skus) -> dict:
    store = defs.resources["store"]
    return {(sku, r["role"], r["platform"]): store.get_bytes(r["image_key"])
            for sku in skus for r in store.read_table(T.generated("gpu_week", sku)).to_pylist()}


def test_simulated_fleet_is_all_busy_never_oversubscribed_and_batches_across_skus(tmp_path):
    from tests.helpers.catalogs import write_small_catalog

    catalog = write_small_catalog(tmp_path / "catalog", 8)
    fleet, ledger = _fleet_defs(tmp_path, catalog, "fleet", workers=2, max_batch=2, devices=["sim:0", "sim:1"],
                                slots=2, seconds_per_image=3.0)
    one, _ = _fleet_defs(tmp_path, catalog, "one", workers=1, max_batch=1, devices=["sim:0"], slots=1,
                         seconds_per_image=0.05)
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(fleet, instance, "gpu_week")
        result = run_stage(fleet, "promotion_images", instance, start=start, end=end)
        assert result.success, result.failed
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(one, instance, "gpu_week")
        assert run_stage(one, "promotion_images", instance, start=start, end=end).success
        skus = instance.get_dynamic_partitions("skus")

    report = ledger.report()
    assert report["loads"] == {"sim:0": 1, "sim:1": 1}  # the model loads once per device, not once per SKU
    assert report["peak_concurrency"] == {"sim:0": 2, "sim:1": 2}  # every slot busy, none oversubscribed
    assert report["images"] == len(skus)  # one generated scene per SKU (lifestyle on the one platform)
    assert report["cross_sku_batches"] >= 1
    # The same bytes for every image, whichever batch its scene shared: each request carries its own seed.
    fleet_bytes, one_bytes = _generated_bytes(fleet, skus), _generated_bytes(one, skus)
    assert fleet_bytes.keys() == one_bytes.keys() and len(fleet_bytes) == 2 * len(skus)
    assert all(fleet_bytes[k] == one_bytes[k] for k in fleet_bytes)


def test_a_dead_device_worker_fails_the_skus_it_was_generating_and_is_replaced(tmp_path):
    from tests.helpers.catalogs import write_small_catalog

    catalog = write_small_catalog(tmp_path / "catalog", 3)
    marker = tmp_path / "kill-now"
    with dg.instance_for_test() as instance:
        defs, ledger = _fleet_defs(tmp_path, catalog, "fleet", workers=2, max_batch=1, devices=["sim:0"], slots=1,
                                   seconds_per_image=0.2)
        start, end = prepare_promotion(defs, instance, "gpu_week")
        victim = instance.get_dynamic_partitions("skus")[0]  # its scene is asked for first; others follow
        defs, ledger = _fleet_defs(tmp_path, catalog, "fleet", workers=2, max_batch=1, devices=["sim:0"], slots=1,
                                   seconds_per_image=0.2, kill_on_sku=victim, kill_marker=str(marker))
        marker.touch()
        result = run_stage(defs, "promotion_images", instance, start=start, end=end)
        assert not result.success and result.failed == [f"gpu_week|{victim}"]
        assert "DeviceWorkerDied" in _failure_reasons(instance, "promotion_images")
    report = ledger.report()
    assert report["images"] == 2 and report["loads"]["sim:0"] == 2  # a new device worker took the others
