"""Publishing to a real S3 API server on loopback (moto's standalone server, a separate process) through the
dagster-aws S3Resource: the server dies mid-publish, the run fails with a clear error, and after a restart the
rerun completes with no duplicate objects and a manifest that points only at objects that exist."""
import json
import threading
import time

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from assets.partitions import SKUS
from orchestration.resources import local_resources
from resources.cdn import CdnResource
from tests.helpers.catalogs import prepare_promotion
from tests.helpers.s3_server import DUMMY_CREDENTIALS, MotoS3Server

BUCKET = "skustudio-cdn"


@pytest.fixture
def durable_s3(tmp_path, monkeypatch):
    for k, v in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    server = MotoS3Server(persist=True, workdir=str(tmp_path / "moto")).start()
    server.create_bucket(BUCKET)
    yield server
    server.close()


def _objects(server, prefix="promotions/"):
    client = server.client()
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def _kill_after_puts(server, n: int, stop: threading.Event):
    """Kill the server (SIGKILL) once n image objects exist: a crash in the middle of publishing."""
    while not stop.is_set():
        try:
            if len([k for k in _objects(server) if not k.endswith((".json", ".csv"))]) >= n:
                server.kill()
                return
        except Exception:
            pass
        time.sleep(0.05)


def test_server_dies_mid_publish_then_rerun_is_consistent(tmp_path, small_catalog, durable_s3):
    home = tmp_path / "home"
    resources = local_resources(home=str(home), catalog=str(small_catalog))
    resources["cdn"] = CdnResource(
        kind="s3",
        bucket=BUCKET,
        base_url="https://cdn.example.test",
        s3=S3Resource(endpoint_url=durable_s3.endpoint_url, region_name="us-east-1", max_attempts=1),
    )
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(defs, instance, "double11")
        skus = instance.get_dynamic_partitions(SKUS)

        stop = threading.Event()
        killer = threading.Thread(target=_kill_after_puts, args=(durable_s3, 5, stop), daemon=True)
        killer.start()
        first = run_stage(defs, "promotion_images", instance, start=start, end=end)
        stop.set()
        killer.join(5)
        assert not durable_s3.is_running(), "the server was meant to die mid-publish"
        assert not first.success
        # A clear error naming the operation and the object, in the run's failure.
        run = instance.get_runs(filters=dg.RunsFilter(job_name="promotion_images"))[0]
        messages = " ".join(r.event_log_entry.user_message for r in instance.get_records_for_run(run.run_id).records)
        assert "CdnUnavailableError" in messages and f"s3://{BUCKET}/" in messages
        assert "testing" not in messages.replace("testing.", "")  # no credentials in messages

        durable_s3.restart()
        objects_before = set(_objects(durable_s3))
        assert objects_before  # what was uploaded before the crash survived the restart

        rerun = run_stage(defs, "promotion_images", instance, start=start, end=end)
        assert rerun.success, rerun.failed
        assert run_stage(defs, "promotion_manifest", instance, partition_key="double11").success

        client = durable_s3.client()
        manifest = json.loads(client.get_object(Bucket=BUCKET, Key="promotions/double11/manifest.json")["Body"].read())
        images = [k for k in _objects(durable_s3) if not k.endswith((".json", ".csv"))]
        assert len(images) == len(set(images))
        listed = [e["key"] for e in manifest["entries"]]
        assert len(listed) == len(set(listed))
        assert set(listed) <= set(images)  # every manifest entry exists
        published = sum(store_rows for store_rows in (
            defs.resources["store"].read_table(T.published("double11", s)).num_rows for s in skus))
        assert len(listed) == published and {e["sku"] for e in manifest["entries"]} == set(skus)
        for entry in manifest["entries"]:
            head = client.head_object(Bucket=BUCKET, Key=entry["key"])
            assert head["ContentType"] == "image/jpeg"
            assert "immutable" in head["CacheControl"]
            assert head["Metadata"]["sha256"] == entry["sha256"]
            assert entry["url"].startswith("https://cdn.example.test/")
        # Nothing uploaded twice: objects that existed before the rerun kept their keys, and the rerun added
        # only what was missing.
        assert objects_before <= set(_objects(durable_s3))
