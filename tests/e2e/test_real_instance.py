"""SKU Studio on a real Dagster instance (webserver + daemon subprocesses, see conftest.py), driven through the
GraphQL API as the UI drives it:

1. the `catalog_sync` job registers the SKUs and the promotion as dynamic partitions;
2. a backfill of double11 over every SKU (launchPartitionBackfill) writes images, grades and a complete manifest;
3. one SKU's photo is replaced by noise and the promotion is backfilled again: only that SKU's partitions fail,
   every other SKU publishes, and the reason (the photo changed since the catalog sync) is in the failed run's events;
4. the photo is repaired and the backfill re-executed FROM_FAILURE: only that SKU runs again and the manifest
   is complete;
5. one SKU's price changes and another SKU is delisted; after the sync, the `catalog_change_regeneration`
   sensor's backfill regenerates the changed SKU only, and the delisted SKU leaves the partitions and manifest.

The steps share one instance and run in order; each one checks that the previous one finished.
"""
from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from orchestration.graphql_client import DagsterGraphQL
from orchestration.resources import local_resources
from orchestration.review_desk.config import DeskConfig
from skucore import tables as T
from tests.helpers.dagster_e2e import PROMOTION, STAGES, log
from tests.helpers.review_desk import DeskClient, desk_in_thread

pytestmark = pytest.mark.e2e

SENSOR = "catalog_change_regeneration"
BAD = "SOL-TEE-GRY-B"  # photo broken in step 3 (in the middle of the partition order)
REPRICED = "SOL-TEE-BLK-F"  # price changed in step 5
DELISTED = "SOL-TEE-BLK-B"  # delisted in step 5
ALL_SKUS = {"SOL-TEE-GRY-F", "SOL-TEE-GRY-B", "SOL-TEE-BLK-F", "SOL-TEE-BLK-B"}
ROLES, PLATFORMS = 3, 5  # double11: studio, lifestyle, detail x amazon_main, taobao, jd, pinduoduo, shopify


class Story:
    """State carried from one step to the next."""

    done: set[int] = set()
    sync_run_id: str | None = None
    first_backfill: str | None = None
    broken_backfill: str | None = None
    good_photo: bytes | None = None
    manifest_after_repair: dict | None = None


def _require(step: int) -> None:
    if step not in Story.done:
        pytest.fail(f"step {step} did not complete, so this step cannot run (see that step's failure)")


def mk(sku: str) -> str:
    return f"{PROMOTION}|{sku}"


# ---- helpers over the instance -------------------------------------------------------------------------------------
def _promotion_backfill(inst, skus: list[str], title: str) -> str:
    one = lambda key: {"start": key, "end": key}  # noqa: E731  one single-key range per partition
    selection = [
        {"assetKey": {"path": ["prompt_table"]}, "partitions": {"ranges": [one(PROMOTION)]}},
        {"assetKey": {"path": ["product_cutouts"]}, "partitions": {"ranges": [one(s) for s in skus]}},
        *(
            {"assetKey": {"path": [stage]}, "partitions": {"ranges": [one(mk(s)) for s in skus]}}
            for stage in STAGES
        ),
        {"assetKey": {"path": ["cdn_manifest"]}, "partitions": {"ranges": [one(PROMOTION)]}},
    ]
    return inst.launch_backfill(selection, title)


def _counts(inst) -> dict[str, dict]:
    return {a: inst.materialization_counts(a) for a in ("product_cutouts", "prompt_table", *STAGES, "cdn_manifest")}


def _delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """Materializations added per asset and partition (only the non-zero ones)."""
    out = {}
    for asset, counts in after.items():
        d = {p: n - before.get(asset, {}).get(p, 0) for p, n in counts.items()}
        d = {p: n for p, n in d.items() if n}
        if d:
            out[asset] = d
    return out


def _status_counts(backfill: dict) -> dict[str, tuple]:
    """asset -> (materialized, failed, targeted) for partitioned assets of an asset backfill."""
    return {
        "/".join(s["assetKey"]["path"]): (s["numPartitionsMaterialized"], s["numPartitionsFailed"], s["numPartitionsTargeted"])
        for s in backfill["assetBackfillData"]["assetBackfillStatuses"]
        if s["__typename"] == "AssetPartitionsStatusCounts"
    }


def _run_partitions(run: dict) -> str:
    tags = {t["key"]: t["value"] for t in run["tags"]}
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    return f"{tags.get('dagster/asset_partition_range_start')}..{tags.get('dagster/asset_partition_range_end')}"


def _manifest_path(inst) -> Path:
    return inst.home / "cdn" / "promotions" / PROMOTION / "manifest.json"


def _manifest(inst) -> dict:
    return json.loads(_manifest_path(inst).read_text())


def _store(inst) -> Path:
    return inst.home / "store"


def _graded_rows(inst, sku: str) -> list[dict]:
    from skucore import tables as T

    return pq.read_table(_store(inst) / T.graded(PROMOTION, sku)).to_pylist()


def _photo_of(inst, sku: str) -> Path:
    with open(inst.catalog, encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["sku"] == sku)
    return inst.catalog.parent / row["image"]


def _break_photo(path: Path) -> None:
    """Noise where the synced photo was. The row still carries the synced photo's sha256, so the cutout refuses
    the changed file and names the cure (sync again) rather than cutting out bytes nobody validated."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, size=(800, 800, 3), dtype=np.uint8)).save(path, "JPEG", quality=90)


NO_SYNC_SEEN = "no catalog sync"  # "... yet", "... since the last evaluation"


def _wait_for_sensor_tick(inst, after: float, timeout: float = 300) -> dict:
    """The first finished tick of the regeneration sensor after `after` (epoch seconds, taken before the sync was
    launched) that saw the sync. Ticks that ran before the sync ended say they saw none; the tick that saw it can
    come before the test notices the run ended, so "the first tick after the run" is not the one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = [t for t in inst.sensor_ticks(SENSOR) if t["timestamp"] > after and t["status"] != "STARTED"
                 and not (t["skipReason"] or "").startswith(NO_SYNC_SEEN)]
        if ticks:
            tick = min(ticks, key=lambda t: t["timestamp"])
            log(f"sensor tick {tick['tickId']}: {tick['status']} {tick['skipReason'] or ''} runs={tick['runIds']}")
            return tick
        inst.check_alive()
        time.sleep(2)
    raise AssertionError(f"no {SENSOR} tick after {after} within {timeout}s: {inst.sensor_ticks(SENSOR, 5)}")


def _check_published(inst, skus: set[str]) -> dict:
    """Images, grades and manifest entries of `skus` are all there and agree; returns the manifest."""
    from skucore import tables as T

    manifest = _manifest(inst)
    assert {e["sku"] for e in manifest["entries"]} == skus, manifest["entries"][:3]
    for sku in skus:
        generated = pq.read_table(_store(inst) / T.generated(PROMOTION, sku)).to_pylist()
        assert len({(r["role"], r["platform"]) for r in generated}) == ROLES * PLATFORMS
        for r in generated:
            assert (_store(inst) / r["image_key"]).is_file(), r["image_key"]
        graded = _graded_rows(inst, sku)
        assert len(graded) == ROLES * PLATFORMS
        assert {r["grade"] for r in graded} <= {"A", "B", "C"}
        publishable = sorted((r["role"], r["platform"]) for r in graded if r["publishable"])
        listed = sorted((e["role"], e["platform"]) for e in manifest["entries"] if e["sku"] == sku)
        assert listed == publishable and listed, f"{sku}: manifest {listed} vs publishable {publishable}"
    for entry in manifest["entries"]:  # every entry points at an object on the (local) CDN
        assert (inst.home / "cdn" / entry["key"]).is_file(), entry["key"]
    return manifest


# ---- the story --------------------------------------------------------------------------------------------------
def test_1_catalog_sync_registers_skus_and_promotion(dagster_instance):
    inst = dagster_instance
    launched = time.time()
    run_id = inst.launch_job("catalog_sync")
    assert inst.wait_for_run(run_id, timeout=600) == "SUCCESS", inst.run_messages(run_id)[-20:]
    Story.sync_run_id = run_id

    assert set(inst.partition_keys("product_cutouts")) == ALL_SKUS
    assert inst.partition_keys("prompt_table") == [PROMOTION]
    assert set(inst.partition_keys("generated_images")) == {mk(s) for s in ALL_SKUS}
    assert set(inst.partition_keys("cdn_manifest")) == {PROMOTION}

    # The regeneration sensor sees the sync but does nothing: no promotion has been launched yet. (Waiting for
    # this tick also keeps step 2's manifest from turning double11 "active" before the sensor saw this sync.)
    tick = _wait_for_sensor_tick(inst, after=launched)
    assert tick["status"] == "SKIPPED" and tick["runIds"] == [], tick
    assert tick["skipReason"] == "every active promotion is up to date with the catalog", tick
    Story.done.add(1)


def test_2_promotion_backfill_publishes_every_sku(dagster_instance):
    _require(1)
    inst = dagster_instance
    backfill_id = _promotion_backfill(inst, sorted(ALL_SKUS), "double11: all SKUs")
    b = inst.wait_for_backfill(backfill_id, timeout=900)
    assert b["status"] == "COMPLETED_SUCCESS", b
    assert all(r["status"] == "SUCCESS" for r in b["runs"]), [(r["runId"], r["status"]) for r in b["runs"]]
    counts = _status_counts(b)
    for asset in ("product_cutouts", *STAGES):
        assert counts[asset] == (4, 0, 4), (asset, counts[asset])
    assert counts["prompt_table"] == (1, 0, 1) and counts["cdn_manifest"] == (1, 0, 1), counts
    log(f"step 2 runs: {[(r['runId'][:8], _run_partitions(r), [k['path'][0] for k in r['assetSelection']]) for r in b['runs']]}")

    _check_published(inst, ALL_SKUS)
    Story.first_backfill = backfill_id
    Story.done.add(2)


def test_3_a_broken_photo_fails_only_its_sku(dagster_instance):
    _require(2)
    inst = dagster_instance
    photo = _photo_of(inst, BAD)
    Story.good_photo = photo.read_bytes()
    _break_photo(photo)  # the catalog row is unchanged; the file behind it is now noise
    manifest_before = _manifest(inst)
    before = _counts(inst)

    backfill_id = _promotion_backfill(inst, sorted(ALL_SKUS), "double11: all SKUs, one photo broken")
    b = inst.wait_for_backfill(backfill_id, timeout=900)
    Story.broken_backfill = backfill_id
    assert b["status"] in ("COMPLETED_FAILED", "FAILED"), b["status"]
    counts = _status_counts(b)
    log(f"step 3 backfill counts: {counts}")
    assert counts["product_cutouts"][:2] == (3, 1), counts
    for stage in STAGES:
        assert counts[stage][:2] == (3, 1), (stage, counts[stage])

    # Every other SKU went through every stage again; the broken one through none.
    delta = _delta(before, _counts(inst))
    log(f"step 3 new materializations: {delta}")
    assert set(delta["product_cutouts"]) == ALL_SKUS - {BAD}
    for stage in STAGES:
        assert set(delta[stage]) == {mk(s) for s in ALL_SKUS - {BAD}}, (stage, delta[stage])
    # The backfill holds cdn_manifest back (a SKU failed); the manifest_refresh sensor may rewrite it from what
    # is published, which is what it was: the same entries, still pointing at objects that exist.
    assert set(delta.get("cdn_manifest", {})) <= {PROMOTION}
    assert _manifest(inst)["entries"] == manifest_before["entries"]
    _check_published(inst, ALL_SKUS)

    # The failure, and its reason, are in the events of the run that cut the products out.
    failed = [r for r in b["runs"] if r["status"] == "FAILURE"]
    assert failed, [(r["runId"], r["status"]) for r in b["runs"]]
    messages = "\n".join(m for r in failed for m in inst.run_messages(r["runId"]))
    assert "changed since the catalog sync" in messages and "run the catalog sync again" in messages, messages[-3000:]
    assert BAD in messages
    for sku in ALL_SKUS - {BAD}:  # no other SKU is named as failed
        assert f"`{sku}`" not in messages and f"[{sku}] failed" not in messages, sku
    statuses = inst.gql(
        """{ assetNodes(assetKeys: [{path: ["product_cutouts"]}]) { assetPartitionStatuses {
             ... on DefaultPartitionStatuses { failedPartitions materializedPartitions } } } }"""
    )["assetNodes"][0]["assetPartitionStatuses"]
    assert statuses["failedPartitions"] == [BAD], statuses
    assert set(statuses["materializedPartitions"]) == ALL_SKUS - {BAD}, statuses
    Story.done.add(3)


def test_4_repair_and_reexecute_from_failure_runs_only_the_failed_sku(dagster_instance):
    _require(3)
    inst = dagster_instance
    _photo_of(inst, BAD).write_bytes(Story.good_photo)  # the same bytes as at the sync: the catalog is right again
    before = _counts(inst)

    backfill_id = inst.reexecute_backfill(Story.broken_backfill, "FROM_FAILURE")
    b = inst.wait_for_backfill(backfill_id, timeout=900)
    assert b["status"] == "COMPLETED_SUCCESS", b
    tags = {t["key"]: t["value"] for t in b["tags"]}
    assert tags.get("dagster/parent_backfill_id") == Story.broken_backfill, tags
    runs = [(r["runId"][:8], _run_partitions(r), [k["path"][0] for k in r["assetSelection"]]) for r in b["runs"]]
    log(f"step 4 runs: {runs}")
    assert all(r["status"] == "SUCCESS" for r in b["runs"]), runs
    for _, partitions, _assets in runs:  # every run is about the failed SKU or the promotion's manifest
        assert partitions in (BAD, mk(BAD), PROMOTION, f"{BAD}..{BAD}", f"{mk(BAD)}..{mk(BAD)}"), runs

    delta = _delta(before, _counts(inst))
    log(f"step 4 new materializations: {delta}")
    manifests = delta.pop("cdn_manifest", {})  # the backfill's, plus any the manifest_refresh sensor wrote
    assert delta == {
        "product_cutouts": {BAD: 1},
        **{stage: {mk(BAD): 1} for stage in STAGES},
    }, delta
    assert set(manifests) == {PROMOTION} and manifests[PROMOTION] >= 1, manifests
    Story.manifest_after_repair = _check_published(inst, ALL_SKUS)
    Story.done.add(4)


def test_5_price_change_and_delisting_regenerate_only_what_changed(dagster_instance):
    _require(4)
    inst = dagster_instance
    manifest_before = Story.manifest_after_repair
    before = _counts(inst)

    with open(inst.catalog, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    repriced = next(r for r in rows if r["sku"] == REPRICED)
    assert repriced["price"] != "99", repriced
    repriced["price"] = "99"
    rows = [r for r in rows if r["sku"] != DELISTED]
    with open(inst.catalog, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    started = time.time()
    run_id = inst.launch_job("catalog_sync")
    assert inst.wait_for_run(run_id, timeout=600) == "SUCCESS", inst.run_messages(run_id)[-20:]
    remaining = ALL_SKUS - {DELISTED}
    assert set(inst.partition_keys("product_cutouts")) == remaining
    assert set(inst.partition_keys("generated_images")) == {mk(s) for s in remaining}

    # The sensor turns the sync's change table into one backfill.
    tick = _wait_for_sensor_tick(inst, after=started)
    if tick["status"] == "FAILURE":  # say why, down the whole error chain
        chain = [tick["error"]["message"]] + [link["error"]["message"] for link in tick["error"]["errorChain"]]
        pytest.fail(f"{SENSOR} tick {tick['tickId']} failed:\n" + "\n".join(m.strip() for m in chain), pytrace=False)
    assert tick["status"] == "SUCCESS", tick
    deadline = time.monotonic() + 60
    regen = []
    while not regen and time.monotonic() < deadline:
        regen = [
            b for b in inst.backfills()
            if b["timestamp"] >= started and {"key": "skustudio/trigger", "value": "catalog_sync"} in b["tags"]
        ]
        time.sleep(1)
    assert len(regen) == 1, f"expected one regeneration backfill, got {regen}"
    b = inst.wait_for_backfill(regen[0]["id"], timeout=900)
    runs = [(r["runId"][:8], _run_partitions(r), [k["path"][0] for k in r["assetSelection"]]) for r in b["runs"]]
    log(f"step 5 runs: {runs}")
    assert b["status"] == "COMPLETED_SUCCESS", b

    delta = _delta(before, _counts(inst))
    log(f"step 5 new materializations: {delta}")
    manifests = delta.pop("cdn_manifest", {})  # the backfill's, plus any the manifest_refresh sensor wrote
    # The sync records the repriced and the delisted SKU's cdn_publish as withdrawn (one event each); the
    # regeneration publishes the repriced one again.
    assert delta.pop("cdn_publish") == {mk(REPRICED): 2, mk(DELISTED): 1}
    assert delta == {
        "product_cutouts": {REPRICED: 1},
        "prompt_table": {PROMOTION: 1},
        **{stage: {mk(REPRICED): 1} for stage in STAGES if stage != "cdn_publish"},
    }, delta
    assert set(manifests) == {PROMOTION} and manifests[PROMOTION] >= 1, manifests

    manifest = _check_published(inst, remaining)
    by_sku = lambda m, s: sorted((e["role"], e["platform"], e["sha256"]) for e in m["entries"] if e["sku"] == s)  # noqa: E731
    for sku in remaining - {REPRICED}:  # untouched SKUs: the very same published images
        assert by_sku(manifest, sku) == by_sku(manifest_before, sku), sku
    assert by_sku(manifest, REPRICED) != by_sku(manifest_before, REPRICED), "the new price changed no image"
    # Delisting keeps the delisted SKU's published objects by default (SyncConfig.delete_delisted_objects).
    for entry in manifest_before["entries"]:
        if entry["sku"] == DELISTED:
            assert (inst.home / "cdn" / entry["key"]).is_file(), entry["key"]
    Story.done.add(5)


def test_6_publish_now_applies_a_spot_check_rejection_on_the_instance(dagster_instance, monkeypatch):
    _require(5)
    inst = dagster_instance
    published = json.loads((inst.home / "cdn" / "promotions" / PROMOTION / "manifest.json").read_text("utf-8"))["entries"]
    assert published, "the promotion published its A's"

    monkeypatch.setenv("SKUSTUDIO_CATALOG", str(inst.catalog))
    resources = local_resources(home=str(inst.home), catalog=str(inst.catalog))
    with desk_in_thread(DeskConfig.from_resources(resources, dagster_url=inst.url)) as url:
        desk = DeskClient(url, "Mei Lin")
        drawn = desk.post("/spot-checks/draw", {"promotion": PROMOTION}, csrf_from="/spot-checks")
        assert "for a spot check" in drawn.text
        queue = resources["grading"].review_queue()
        target = queue.pending(PROMOTION, kind="spot_check")[0]
        assert target["sha256"] in {e["sha256"] for e in published}
        desk.post(f"/item/{target['id']}/decide", {"decision": "reject", "reason": "template_wrong",
                                                    "version": str(target["version"]), "sha256": target["sha256"]},
                  csrf_from=f"/item/{target['id']}")
        page = desk.post("/publish", {"promotion": PROMOTION, "sku": target["sku"], "next": f"/item/{target['id']}"})
        m = re.search(r"backfill (\w+), (http\S+/runs/b/\w+)", page.text)
        assert m, page.text[-2000:]
        log(f"publish now launched backfill {m.group(1)}")

    status = DagsterGraphQL(inst.url).wait_for_backfill(m.group(1), poll_s=2, timeout_s=900)
    assert status.status == "COMPLETED_SUCCESS", status.to_dict()
    assert set(status.assets) == {"graded_sets", "cdn_publish", "cdn_manifest"}
    entries = json.loads((inst.home / "cdn" / "promotions" / PROMOTION / "manifest.json").read_text("utf-8"))["entries"]
    assert target["sha256"] not in {e["sha256"] for e in entries}
    assert len(entries) == len(published) - 1
    row = next(r for r in resources["store"].read_table(T.graded(PROMOTION, target["sku"])).to_pylist()
               if r["image_key"] == target["image_key"])
    assert (row["action"], row["decision"], row["publishable"]) == ("await_template", "reject", False)
    Story.done.add(6)
