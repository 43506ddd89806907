"""One promotion over two hosts: the production deployment (docs/DEPLOY.md) on real servers on loopback.

Redis (Celery's broker), PostgreSQL 15 (Dagster's instance and the review queue), moto's S3 server (store, CDN,
catalog, compute logs); a Dagster webserver and daemon with the shipped deploy/dagster.yaml; two Celery workers
(`skustudio worker`) standing for two GPU hosts, each in its own folder. They share only Redis, PostgreSQL and S3.
The studio backend on the CPU stands for the GPUs; the promotions are small (1 scene, 1 platform) to fit CI.

1. a backfill of 13 SKUs in chunks of 5 completes; both workers ran steps (the event log names them); the
   manifest on S3 lists every SKU;
2. a worker is SIGKILLed in the middle of a chunk: only that chunk's run fails (within a bounded time, not a
   hang), the other chunks publish; a new worker starts, "re-execute from failure" completes the chunk; no S3
   object is half-written and the manifest never lists a missing object;
3. a B image approved through one host's review queue is published by a run on the other host.
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
import time

import pytest
from PIL import Image

from tests.helpers.dagster_e2e import log
from tests.helpers.multihost import (
    BUCKETS, add_catalog_row, box_photo, promotion_backfill, promotion_yaml, stage_runs, start_fleet, stop_fleet,
    sync_catalog, wait_until, workers_of_run,
)

pytestmark = pytest.mark.e2e

FIRST, SECOND = "fleet", "fleetkill"  # step 1's promotion; step 2's (more scenes: each chunk takes longer)
N_SAMPLE, CHUNK = 12, 5  # 12 sample SKUs and BOX-1: 13 SKUs in 3 chunks
BACKFILL_TIMEOUT = 1200  # generous: a loaded 2-core CI machine is many times slower than a quiet one
# Crafted packshots (tests/helpers/multihost.py box_photo): BOX-1 publishes as an A; BOX-2, added in step 3, is a near
# duplicate of it with clipped highlights: a B that waits for a person.
FIRST_BOX, SECOND_BOX = "BOX-1", "BOX-2"


class Story:
    done: set[int] = set()
    skus: list[str] = []


def _require(step: int) -> None:
    if step not in Story.done:
        pytest.fail(f"step {step} did not complete, so this step cannot run (see that step's failure)")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    promotions = {FIRST: promotion_yaml(FIRST, ["studio"], ["taobao"]),
                  SECOND: promotion_yaml(SECOND, ["studio", "detail"], ["taobao"])}
    fleet = start_fleet(tmp_path_factory.mktemp("fleet"), n_skus=N_SAMPLE, promotions=promotions, chunk_skus=CHUNK)
    try:
        fleet.start_worker("host-a")
        fleet.start_worker("host-b")
        yield fleet
    finally:
        stop_fleet(fleet)


# ---- helpers -----------------------------------------------------------------------------------------------------
def _manifest(fleet, promotion: str) -> dict | None:
    key = f"promotions/{promotion}/manifest.json"
    if key not in fleet.list_keys("cdn", key):
        return None
    return json.loads(fleet.read_object("cdn", key))


def _check_cdn_objects(fleet, promotion: str) -> set[str]:
    """Every image under the promotion's prefix is whole: it decodes, and its bytes hash to the sha256 its key
    was made from (keys are content-addressed). Returns the keys."""
    keys = set(fleet.list_keys("cdn", f"promotions/{promotion}/")) - {f"promotions/{promotion}/manifest.json",
                                                                     f"promotions/{promotion}/manifest.csv"}
    client = fleet.s3_client()
    for key in keys:
        obj = client.get_object(Bucket=BUCKETS["cdn"], Key=key)
        data = obj["Body"].read()
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # raises on a truncated image
        digest = hashlib.sha256(data).hexdigest()
        stored = (obj.get("Metadata") or {}).get("sha256")
        assert stored in (None, digest), f"{key}: stored sha256 {stored} but the bytes hash to {digest}"
        assert digest[:16] in key.rsplit("/", 1)[-1], f"{key}: the bytes hash to {digest}, not the key's"
    return keys


def _check_manifest(fleet, promotion: str) -> dict | None:
    """The manifest lists only objects that exist on the CDN."""
    manifest = _manifest(fleet, promotion)
    if manifest is not None:
        present = set(fleet.list_keys("cdn", f"promotions/{promotion}/"))
        missing = [e["key"] for e in manifest["entries"] if e["key"] not in present]
        assert not missing, f"manifest of {promotion} lists missing objects: {missing[:5]}"
    return manifest


class ManifestWatch(threading.Thread):
    """Reads the manifest every second while the story runs: it must never list a missing object."""

    def __init__(self, fleet, promotion: str):
        super().__init__(daemon=True)
        self.fleet, self.promotion = fleet, promotion
        self.stop_event = threading.Event()
        self.checks, self.errors = 0, []

    def run(self):
        while not self.stop_event.is_set():
            try:
                _check_manifest(self.fleet, self.promotion)
                self.checks += 1
            except AssertionError as exc:
                self.errors.append(str(exc))
            except Exception:  # a read racing the server: not a finding
                pass
            self.stop_event.wait(1.0)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=30)


# ---- the story ---------------------------------------------------------------------------------------------------
def test_1_backfill_in_chunks_runs_on_both_hosts(fleet):
    inst = fleet.dagster
    add_catalog_row(fleet, FIRST_BOX, box_photo((30, 30, 30)))
    sync_catalog(fleet)  # the sensor sees no launched promotion yet: it must not race the backfill below
    Story.skus = sorted(inst.partition_keys("product_cutouts"))
    assert len(Story.skus) == N_SAMPLE + 1

    b = inst.wait_for_backfill(promotion_backfill(inst, FIRST, Story.skus, f"{FIRST}: {len(Story.skus)} SKUs"),
                               timeout=BACKFILL_TIMEOUT)
    assert b["status"] == "COMPLETED_SUCCESS", (b["status"], b["error"], fleet.tail_logs())
    chunks = stage_runs(b)
    assert len(chunks) >= 3 and all(r["status"] == "SUCCESS" for r in b["runs"]), b["runs"]
    workers = {r["runId"]: workers_of_run(inst, r["runId"]) for r in b["runs"]}
    log(f"workers per run: {workers}")
    assert set().union(*workers.values()) == {"host-a", "host-b"}, workers
    assert all(len(w) == 1 for rid, w in workers.items() if rid in {r["runId"] for r in chunks}), workers

    manifest = _check_manifest(fleet, FIRST)
    assert manifest is not None and {e["sku"] for e in manifest["entries"]} == set(Story.skus)
    _check_cdn_objects(fleet, FIRST)
    Story.done.add(1)


def test_2_a_worker_killed_mid_step_fails_only_its_chunk(fleet):
    _require(1)
    inst = fleet.dagster
    watch = ManifestWatch(fleet, SECOND)
    watch.start()
    try:
        # The cutouts were made in step 1: this backfill is the promotion's prompts, chunks and manifest.
        backfill_id = promotion_backfill(inst, SECOND, Story.skus, f"{SECOND}: kill a worker", cutouts=False)

        def chunk_in_progress_on_b():
            """A chunk run whose step started on host-b and has published some but not all of its SKUs."""
            b = inst.backfill(backfill_id)
            for run in stage_runs(b):
                if run["status"] != "STARTED" or "host-b" not in workers_of_run(inst, run["runId"]):
                    continue
                published = [m for m in inst.materializations("cdn_publish") if m["runId"] == run["runId"]]
                if published:
                    return run["runId"]
            return None

        victim = wait_until("a chunk running on host-b", chunk_in_progress_on_b, BACKFILL_TIMEOUT, fleet, poll=0.5)
        fleet.kill_worker("host-b")
        killed_at = time.monotonic()
        status = inst.wait_for_run(victim, timeout=600)
        log(f"the killed chunk's run ended {time.monotonic() - killed_at:.0f}s after the kill: {status}")
        assert status == "FAILURE", f"the chunk finished before the kill could hit it ({status}): rerun the test"
        messages = inst.run_messages(victim)
        assert any("stopped answering" in m and "host-b" in m for m in messages), messages[-10:]

        b = inst.wait_for_backfill(backfill_id, timeout=BACKFILL_TIMEOUT)
        assert b["status"] in ("COMPLETED_FAILED", "FAILED"), b["status"]
        failed_runs = [r["runId"] for r in b["runs"] if r["status"] == "FAILURE"]
        assert failed_runs == [victim], [(r["runId"], r["status"]) for r in b["runs"]]
        published = {m["partition"].split("|", 1)[1] for m in inst.materializations("cdn_publish")
                     if m["partition"].startswith(f"{SECOND}|")}
        assert 0 < len(published) < len(Story.skus), published

        # The manifest_refresh sensor rewrites the manifest from what is published (the backfill held it back).
        manifest = wait_until(f"the {SECOND} manifest listing the published SKUs",
                         lambda: (m := _check_manifest(fleet, SECOND)) and {e["sku"] for e in m["entries"]} == published and m,
                         600, fleet, poll=2)
        log(f"manifest lists {len(manifest['entries'])} images of {len(published)} SKUs")

        fleet.start_worker("host-b", name="host-b2")  # the host is back
        again = inst.wait_for_backfill(inst.reexecute_backfill(backfill_id), timeout=BACKFILL_TIMEOUT)
        assert again["status"] == "COMPLETED_SUCCESS", (again["status"], again["error"])
        manifest = _check_manifest(fleet, SECOND)
        assert {e["sku"] for e in manifest["entries"]} == set(Story.skus)
        keys = _check_cdn_objects(fleet, SECOND)
        assert {e["key"] for e in manifest["entries"]} <= keys
    finally:
        watch.stop()
    assert not watch.errors, watch.errors[:3]
    assert watch.checks > 0
    Story.done.add(2)


def test_3_b_approved_on_one_host_is_published_by_the_other(fleet):
    _require(2)
    inst = fleet.dagster
    known = {b["id"] for b in inst.backfills()}
    add_catalog_row(fleet, SECOND_BOX, box_photo((60, 20, 20)))
    synced = sync_catalog(fleet)
    # The regeneration sensor generates the new SKU in every active promotion, as one backfill.
    regeneration = wait_until("the regeneration sensor's backfill", lambda: next(
        (b["id"] for b in inst.backfills() if b["id"] not in known and b["timestamp"] > synced - 5
         and {"key": "skustudio/trigger", "value": "catalog_sync"} in b["tags"]), None), 300, fleet, poll=2)
    b = inst.wait_for_backfill(regeneration, timeout=BACKFILL_TIMEOUT)
    assert b["status"] == "COMPLETED_SUCCESS", (b["status"], b["error"])
    assert SECOND_BOX not in {e["sku"] for e in _check_manifest(fleet, FIRST)["entries"]}  # a B waits for a person

    listed = fleet.run_cli("host-a", "review", "list", "--promotion", FIRST, "--json")
    assert listed.returncode == 0, listed.stderr
    items = [i for i in json.loads(listed.stdout)["pending"] if i["sku"] == SECOND_BOX]
    assert len(items) == 1, listed.stdout
    approved = fleet.run_cli("host-a", "review", "approve", str(items[0]["id"]), "--reviewer", "lin")
    assert approved.returncode == 0, approved.stderr

    fleet.stop_worker("host-a")  # host-a's part is done: the publishing run can only go to the other host
    one = lambda key: {"ranges": [{"start": key, "end": key}]}  # noqa: E731
    publish = inst.wait_for_backfill(inst.launch_backfill(
        [{"assetKey": {"path": ["cdn_publish"]}, "partitions": one(f"{FIRST}|{SECOND_BOX}")},
         {"assetKey": {"path": ["cdn_manifest"]}, "partitions": one(FIRST)}],
        f"{FIRST}: publish the approved {SECOND_BOX}"), timeout=BACKFILL_TIMEOUT)
    assert publish["status"] == "COMPLETED_SUCCESS", (publish["status"], publish["error"])
    workers = set().union(*(workers_of_run(inst, r["runId"]) for r in stage_runs(publish)))
    assert workers == {"host-b2"}, workers
    entries = [e for e in _check_manifest(fleet, FIRST)["entries"] if e["sku"] == SECOND_BOX]
    assert len(entries) == 1 and entries[0]["grade"] == "B", entries
    _check_cdn_objects(fleet, FIRST)
    Story.done.add(3)
