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
"""
import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset  # no public equivalent in 1.13
from dagster._core.definitions.events import AssetKeyPartitionKey

from skucore import tables as T
from assets.stages import PER_SKU_STAGE_NAMES
from orchestration.jobs import promotion_manifest_job
from assets.partitions import PROMOTIONS
from resources.promotions import PromotionLibrary
from resources.storage import StudioStore

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
    minimum_interval_seconds=30,
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
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rewrites a promotion's CDN manifest after its SKUs publish, even if other SKUs failed.",
)
def manifest_refresh(context: dg.SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else None
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("cdn_publish"), after_storage_id=after), limit=5000, ascending=True
    )
    if not result.records:
        return dg.SkipReason("nothing published since the last evaluation")
    latest = max(r.storage_id for r in result.records)
    promotions = sorted({str(r.partition_key).split("|", 1)[0] for r in result.records if r.partition_key})
    context.update_cursor(str(latest))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=p, run_key=f"manifest:{p}:{latest}", tags={"skustudio/trigger": "publish"})
            for p in promotions
        ]
    )
