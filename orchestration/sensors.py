"""After each catalog sync: regenerate what changed, for the promotions people have launched.

The sync (`catalog_partitions`) records new, changed and delisted SKUs. This sensor turns that into one backfill
(so the per-SKU stages run as one run per asset and the model loads once, not once per SKU): cutouts of new and
changed SKUs, the prompt tables and per-SKU stages of every active promotion for those SKUs, and the manifests of
active promotions (so delisted SKUs leave them). A promotion is active once its manifest has been written, i.e.
once someone launched it; a brand-new promotion is launched by a backfill from the UI, not by the sync.
"""
import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from assets import _tables as T
from orchestration.partitions import PROMOTIONS
from resources.storage import StudioStore

STAGES = ("generated_images", "quality_scores", "graded_sets", "cdn_publish")


def regeneration_targets(instance: dg.DagsterInstance, changes: list[dict]) -> set[AssetKeyPartitionKey]:
    regen = sorted(r["sku"] for r in changes if r["change"] in ("new", "changed"))
    delisted = [r["sku"] for r in changes if r["change"] == "delisted"]
    if not regen and not delisted:
        return set()
    manifest_done = instance.get_materialized_partitions(dg.AssetKey("cdn_manifest"))
    active = [p for p in instance.get_dynamic_partitions(PROMOTIONS) if p in manifest_done]
    if not active:
        return set()
    targets = {AssetKeyPartitionKey(dg.AssetKey("product_cutouts"), sku) for sku in regen}
    for promotion in active:
        targets.add(AssetKeyPartitionKey(dg.AssetKey("cdn_manifest"), promotion))
        if regen:
            targets.add(AssetKeyPartitionKey(dg.AssetKey("prompt_table"), promotion))
        for sku in regen:
            key = dg.MultiPartitionKey({"promotion": promotion, "sku": sku})
            targets.update(AssetKeyPartitionKey(dg.AssetKey(stage), key) for stage in STAGES)
    return targets


@dg.sensor(
    name="catalog_change_regeneration",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a catalog sync, regenerates new and changed SKUs in active promotions and refreshes manifests.",
)
def catalog_change_regeneration(context: dg.SensorEvaluationContext, store: StudioStore):
    records = context.instance.fetch_materializations(dg.AssetKey("catalog_partitions"), limit=1).records
    if not records:
        return dg.SkipReason("no catalog sync yet")
    latest = records[0].storage_id
    if context.cursor and int(context.cursor) >= latest:
        return dg.SkipReason("no catalog sync since the last evaluation")
    changes = store.read_table_or_none(T.CATALOG_CHANGES)
    targets = regeneration_targets(context.instance, changes.to_pylist() if changes is not None else [])
    context.update_cursor(str(latest))
    if not targets:
        return dg.SkipReason("the last sync changed nothing in an active promotion")
    subset = AssetGraphSubset.from_asset_partition_set(targets, context.repository_def.asset_graph)
    skus = sorted({t.partition_key for t in targets if t.asset_key == dg.AssetKey("product_cutouts")})
    context.log.info(f"regenerating {len(skus)} SKUs: {skus[:20]}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest.for_asset_graph_subset(subset, tags={"skustudio/trigger": "catalog_sync", "skustudio/sync": str(latest)})]
    )
