"""Sensors: regenerate what the catalog changed, and keep manifests in step with what is published.

`catalog_change_regeneration`: after each catalog sync, compares state rather than events: every SKU of an active
promotion (one with anything published and still defined in promotions/) whose published images show another
catalog row (row fields and photo bytes: the `catalog_hash` of its latest cdn_publish materialization; a sync that
withdraws a changed or delisted SKU records it as withdrawn), or that has none yet, is regenerated. Comparing state means a sync missed while the
daemon was down, or a regeneration that failed, is picked up again by the next sync. The work is requested as one
backfill, so the per-SKU stages run as single runs over ranges and the model loads once per run, not per SKU.

`manifest_refresh`: whenever SKUs publish, rewrites their promotions' manifests. The manifest therefore follows
what is published even when one SKU of a backfill fails (a backfill would hold `cdn_manifest` back until every
SKU succeeded). The manifest only ever lists objects that exist (`skucore.publish.manifest.write_manifest` checks).
It requests nothing for a promotion whose manifest was written after its latest publish, and waits while an
unfinished run or backfill will write that manifest itself (a promotion's backfill ends with it): a rewrite then
would be redundant, one more writer of the same object. Once that backfill ends, the manifest is either newer
than the publishes or was held back, and the sensor writes it.
"""
import json

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset  # no public equivalent in 1.13
from dagster._core.definitions.events import AssetKeyPartitionKey

from skucore import tables as T
from skucore.base.settings import env_number
from assets.stages import PER_SKU_STAGE_NAMES
from orchestration.jobs import promotion_manifest_job
from assets.partitions import PROMOTIONS
from resources.promotions import PromotionLibrary
from resources.storage import StudioStore


def sensor_interval_s(env: dict | None = None) -> int:
    """Seconds between evaluations of each sensor: SKUSTUDIO_SENSOR_INTERVAL_S (default 30, dagster's own), read
    when the definitions load, so it is set where the daemon runs. An evaluation is a few event-log queries."""
    return env_number("SKUSTUDIO_SENSOR_INTERVAL_S", 30, minimum=1, env=env)


SENSOR_INTERVAL_S = sensor_interval_s()

REGENERATED_ASSETS = ("product_cutouts", "prompt_table", *PER_SKU_STAGE_NAMES, "cdn_manifest")


def active_promotions(instance: dg.DagsterInstance, defined: set[str]) -> list[str]:
    """Promotions launched (anything published) and still defined in promotions/."""
    published = instance.get_materialized_partitions(dg.AssetKey("cdn_publish"))
    launched = {str(k).split("|", 1)[0] for k in published}
    return [p for p in instance.get_dynamic_partitions(PROMOTIONS) if p in launched and p in defined]


def published_catalog_hashes(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """'promotion|sku' -> the catalog hash its published images show ("" once withdrawn at a sync), from the
    latest cdn_publish materialization in the event log (one query per 1,000 records, not a store read per SKU).
    Published, not generated: a SKU whose publish failed after generating is still stale."""
    out: dict[str, str | None] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetKey("cdn_publish"), limit=1000, cursor=cursor, ascending=True)
        for record in page.records:
            value = record.asset_materialization.metadata.get("catalog_hash") if record.asset_materialization else None
            out[str(record.partition_key)] = getattr(value, "value", value)
        if not page.has_more:
            return out
        cursor = page.cursor


def stale_skus(promotion: str, catalog_hashes: dict[str, str], published: dict[str, str | None]) -> list[str]:
    """SKUs whose published images in `promotion` do not show their current catalog row (or do not exist)."""
    return sorted(sku for sku, h in catalog_hashes.items() if published.get(f"{promotion}|{sku}") != h)


def regeneration_targets(store: StudioStore, instance: dg.DagsterInstance, defined: set[str]) -> tuple[set[AssetKeyPartitionKey], dict]:
    catalog = store.read_table_or_none(T.CATALOG)
    if catalog is None:
        return set(), {}
    hashes = dict(zip(catalog.column("sku").to_pylist(), catalog.column("content_hash").to_pylist()))
    promotions = active_promotions(instance, defined)
    published = published_catalog_hashes(instance) if promotions else {}
    targets: set[AssetKeyPartitionKey] = set()
    summary = {}
    for promotion in promotions:
        stale = stale_skus(promotion, hashes, published)
        summary[promotion] = stale
        if not stale:
            continue
        targets.add(AssetKeyPartitionKey(dg.AssetKey("prompt_table"), promotion))
        targets.add(AssetKeyPartitionKey(dg.AssetKey("cdn_manifest"), promotion))
        for sku in stale:
            targets.add(AssetKeyPartitionKey(dg.AssetKey("product_cutouts"), sku))
            key = dg.MultiPartitionKey({"promotion": promotion, "sku": sku})
            targets.update(AssetKeyPartitionKey(dg.AssetKey(stage), key) for stage in PER_SKU_STAGE_NAMES)
    return targets, summary


@dg.sensor(
    name="catalog_change_regeneration",
    asset_selection=dg.AssetSelection.assets(*REGENERATED_ASSETS),
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a catalog sync, regenerates new and changed SKUs of every active promotion (one backfill).",
)
def catalog_change_regeneration(context: dg.SensorEvaluationContext, store: StudioStore, promotions: PromotionLibrary):
    records = context.instance.fetch_materializations(dg.AssetKey("catalog_partitions"), limit=1).records
    if not records:
        return dg.SkipReason("no catalog sync yet")
    latest = records[0].storage_id
    if context.cursor and int(context.cursor) >= latest:
        return dg.SkipReason("no catalog sync since the last evaluation")
    defined, _errors = promotions.discover()
    targets, summary = regeneration_targets(store, context.instance, set(defined))
    context.update_cursor(str(latest))
    if not targets:
        return dg.SkipReason("every active promotion is up to date with the catalog")
    for promotion, stale in summary.items():
        if stale:
            context.log.info(f"{promotion}: regenerating {len(stale)} SKUs: {stale[:20]}")
    subset = AssetGraphSubset.from_asset_partition_set(targets, context.repository_def.asset_graph)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest.for_asset_graph_subset(subset, tags={"skustudio/trigger": "catalog_sync", "skustudio/sync": str(latest)})
        ]
    )


@dg.sensor(
    name="manifest_refresh",
    job=promotion_manifest_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rewrites a promotion's CDN manifest after its SKUs publish, even if other SKUs failed.",
)
def manifest_refresh(context: dg.SensorEvaluationContext):
    # cursor: the last cdn_publish record read, and promotions whose manifest was left to a run on its way
    # (promotion -> storage id of its latest publish). A plain number is this sensor's older cursor form.
    raw = context.cursor or ""
    state = json.loads(raw) if raw.startswith("{") else {"after": int(raw) if raw else None, "waiting": {}}
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("cdn_publish"), after_storage_id=state["after"]),
        limit=5000, ascending=True,
    )
    latest_publish = {p: int(i) for p, i in state["waiting"].items()}
    for r in result.records:
        if r.partition_key:
            promotion = str(r.partition_key).split("|", 1)[0]
            latest_publish[promotion] = max(latest_publish.get(promotion, 0), r.storage_id)
    after = max([r.storage_id for r in result.records], default=state["after"])
    if not latest_publish:
        return dg.SkipReason("nothing published since the last evaluation")
    on_the_way = manifests_on_the_way(context.instance)
    requests, waiting, current = [], {}, []
    for promotion, published in sorted(latest_publish.items()):
        if latest_manifest_id(context.instance, promotion) > published:
            current.append(promotion)
        elif promotion in on_the_way:
            waiting[promotion] = published
        else:
            requests.append(dg.RunRequest(partition_key=promotion, run_key=f"manifest:{promotion}:{published}",
                                          tags={"skustudio/trigger": "publish"}))
    context.update_cursor(json.dumps({"after": after, "waiting": waiting}))
    if not requests:
        return dg.SkipReason(f"manifests already current: {current}; written by runs on their way: {sorted(waiting)}")
    return dg.SensorResult(run_requests=requests)


MANIFEST = dg.AssetKey("cdn_manifest")
UNFINISHED_RUNS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                   dg.DagsterRunStatus.STARTED]


def latest_manifest_id(instance: dg.DagsterInstance, promotion: str) -> int:
    """Storage id of the promotion's latest cdn_manifest materialization (0: none)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=MANIFEST, asset_partitions=[promotion]), limit=1).records
    return records[0].storage_id if records else 0


def manifests_on_the_way(instance: dg.DagsterInstance) -> set[str]:
    """Promotions whose manifest an unfinished run (queued or running) or backfill (still requested) targets."""
    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus  # no public equivalent in 1.13

    promotions: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED_RUNS), limit=1000):
        if run.job_name != promotion_manifest_job.name and MANIFEST not in (run.asset_selection or ()):
            continue
        tags = run.tags
        start = tags.get("dagster/asset_partition_range_start")
        if tags.get("dagster/partition"):
            promotions.add(tags["dagster/partition"])
        elif start and start == tags.get("dagster/asset_partition_range_end"):
            promotions.add(start)
    requested = BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED])
    for backfill in instance.get_backfills(filters=requested, limit=1000):
        target = backfill.asset_backfill_data.target_subset if backfill.asset_backfill_data else None
        if target is not None and MANIFEST in target:
            promotions.update(str(k) for k in target.get_partitions_subset(MANIFEST).get_partition_keys())
    return promotions
