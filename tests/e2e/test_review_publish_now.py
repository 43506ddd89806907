""""Publish now" on a real Dagster instance (webserver + daemon on loopback, one SKU): the review desk draws a spot
check of the published A's, a reviewer rejects one because its template is wrong, presses "Publish now", and the
backfill the desk launched over GraphQL (graded_sets and cdn_publish of the SKU, then the manifest) takes the image
out of the manifest; the scene waits for a new template instead of regenerating."""
from __future__ import annotations

import json
import re

import pytest

from orchestration.graphql_client import DagsterGraphQL
from orchestration.resources import local_resources
from orchestration.review_desk.config import DeskConfig
from skucore import tables as T
from tests.helpers.dagster_e2e import PROMOTION, log, start_instance, stop_instance
from tests.helpers.review_desk import DeskClient, desk_in_thread

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    inst = start_instance(tmp_path_factory.mktemp("publish_now"), n_skus=1)
    try:
        yield inst
    finally:
        stop_instance(inst)


def _manifest(inst) -> list[dict]:
    path = inst.home / "cdn" / "promotions" / PROMOTION / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))["entries"]


def test_publish_now_applies_a_spot_check_rejection_on_the_instance(instance, monkeypatch):
    inst = instance
    run_id = inst.launch_job("catalog_sync")
    assert inst.wait_for_run(run_id, timeout=600) == "SUCCESS", inst.run_messages(run_id)[-20:]
    client = DagsterGraphQL(inst.url)
    first = client.launch_promotion_backfill(PROMOTION)
    assert client.wait_for_backfill(first, poll_s=2, timeout_s=1500).status == "COMPLETED_SUCCESS"
    published = _manifest(inst)
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

    status = client.wait_for_backfill(m.group(1), poll_s=2, timeout_s=900)
    assert status.status == "COMPLETED_SUCCESS", status.to_dict()
    assert set(status.assets) == {"graded_sets", "cdn_publish", "cdn_manifest"}
    entries = _manifest(inst)
    assert target["sha256"] not in {e["sha256"] for e in entries}
    assert len(entries) == len(published) - 1
    row = next(r for r in resources["store"].read_table(T.graded(PROMOTION, target["sku"])).to_pylist()
               if r["image_key"] == target["image_key"])
    assert (row["action"], row["decision"], row["publishable"]) == ("await_template", "reject", False)
