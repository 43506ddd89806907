"""B images wait for a person: nothing of them is published until approved; an approval made after grading is
published by the next cdn_publish alone (no regrading), and a rejection never is."""
import dagster as dg

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources
from resources.quality import GradingSettings
from tests.helpers.catalogs import prepare_promotion


def test_approved_b_is_published_by_the_next_publish_and_rejected_b_never(tmp_path, small_catalog):
    home = tmp_path / "home"
    resources = local_resources(home=str(home), catalog=str(small_catalog))
    # An impossible sharpness bar: every image fails one metric, scores under the A threshold, and becomes B.
    resources["grading"] = GradingSettings(
        review_db=str(home / "review.sqlite"), a_threshold=0.99, quality_thresholds={"sharpness_min": 1e9}
    )
    defs = build_definitions(resources)
    store = defs.resources["store"]
    with dg.instance_for_test() as instance:
        start, _ = prepare_promotion(defs, instance, "double11")
        assert run_stage(defs, "promotion_images", instance, start=start, end=start).success
        sku = start.split("|")[1]

        graded = store.read_table(T.graded("double11", sku)).to_pylist()
        assert graded and {r["grade"] for r in graded} == {"B"}
        assert store.read_table(T.published("double11", sku)).num_rows == 0
        queue = defs.resources["grading"].review_queue()
        pending = queue.pending("double11")
        assert {p["image_key"] for p in pending} == {r["image_key"] for r in graded}

        approved, rejected = graded[0], graded[1]
        queue.decide(approved["image_key"], "approve", reviewer="qa")
        queue.decide(rejected["image_key"], "reject", reviewer="qa")
        job = defs.resolve_job_def("promotion_images")
        result = job.execute_in_process(
            instance=instance, partition_key=f"double11|{sku}", asset_selection=[dg.AssetKey("cdn_publish")]
        )
        assert result.success
        published = store.read_table(T.published("double11", sku)).to_pylist()
        assert [(p["role"], p["platform"]) for p in published] == [(approved["role"], approved["platform"])]
        assert published[0]["sha256"] == approved["sha256"] and published[0]["grade"] == "B"
        regraded = {r["image_key"]: r for r in store.read_table(T.graded("double11", sku)).to_pylist()}
        assert regraded[approved["image_key"]]["decision"] == "approve"
        assert regraded[rejected["image_key"]]["decision"] == "reject" and not regraded[rejected["image_key"]]["publishable"]
