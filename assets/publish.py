"""`cdn_publish[promotion|sku]` (A's and approved B's only, content-addressed, unchanged images upload nothing)
and `cdn_manifest[promotion]` (written last and atomically, after every referenced object is verified)."""
import datetime as _dt

import dagster as dg
import pyarrow as pa

from assets import _tables as T
from assets._per_partition import UpstreamMissing
from orchestration.partitions import SKUS, from_promotion, promotions_partitions
from resources.cdn import CdnResource
from resources.storage import StudioStore

def refresh_review_decisions(store: StudioStore, queue, promotion_id: str, sku: str) -> list[dict]:
    """The SKU's graded rows with B decisions read from the review queue now: an approval made after grading
    publishes on the next cdn_publish without regrading. Decisions are tied to the image's sha256."""
    from assets.quality import graded_schema

    gkey = T.graded(promotion_id, sku)
    if not store.exists(gkey):
        raise UpstreamMissing(f"graded_sets[{promotion_id}|{sku}] has not been materialized")
    graded = store.read_table(gkey).to_pylist()
    changed = False
    for r in graded:
        if r["grade"] != "B":
            continue
        decision = queue.decision_for(r["image_key"], r["sha256"])
        if decision != r["decision"]:
            r["decision"], r["publishable"], changed = decision, decision == "approve", True
    if changed:
        store.write_table(gkey, pa.Table.from_pylist(graded, schema=graded_schema()))
    return graded


def publish_stage(store: StudioStore, target, promotion_id: str, sku: str, graded: list[dict]) -> dict:
    """cdn_publish for one key: the A's and approved B's, under content-addressed keys; unchanged ones skip."""
    from skucore.publish.cdn import publish_images

    images = [
        {
            "role": r["role"], "platform": r["platform"], "data": store.get_bytes(r["image_key"]),
            "format": r["format"], "width": r["width"], "height": r["height"], "grade": r["grade"],
            "approved": r["decision"] == "approve", "sha256": r["sha256"],
        }
        for r in graded
        if r["publishable"]
    ]
    result = publish_images(target, promotion_id, sku, images)
    catalog_hash = next((r.get("catalog_hash") for r in graded if r.get("catalog_hash")), None)
    table = result.to_table()
    # Which catalog row these images show: the manifest leaves out a SKU whose row has changed since.
    table = table.append_column("catalog_hash", pa.array([catalog_hash] * table.num_rows, pa.string()))
    store.write_table(T.published(promotion_id, sku), table)
    rows = table.to_pylist()
    held = [r for r in graded if not r["publishable"]]
    return {
        "catalog_hash": catalog_hash or "",  # what the regeneration sensor compares with the current catalog
        "published": len(rows),
        "uploaded": result.uploaded,
        "unchanged": result.unchanged,
        "held_back": len(held),
        "held_back_reasons": dg.MetadataValue.json(
            [f"{r['role']}/{r['platform']}: grade {r['grade']}" + (f", decision {r['decision']}" if r["decision"] else "") for r in held][:50]
        ),
        "skipped": dg.MetadataValue.json([f"{s.role}/{s.platform}: {s.reason}" for s in result.skipped][:50]),
        "urls": dg.MetadataValue.json([r["url"] for r in rows][:30]),
    }


@dg.asset(
    partitions_def=promotions_partitions,
    deps=[dg.AssetDep("cdn_publish", partition_mapping=from_promotion)],
    group_name="publish",
    description="The promotion's manifest (sku, platform, scene, URL, sha256, size, grade) for the CMS.",
)
def cdn_manifest(context: dg.AssetExecutionContext, store: StudioStore, cdn: CdnResource) -> dg.MaterializeResult:
    from skucore.publish.cdn import write_manifest

    promotion_id = context.partition_key
    skus = context.instance.get_dynamic_partitions(SKUS)  # current catalog: delisted SKUs leave the manifest
    catalog = store.read_table(T.CATALOG).select(["sku", "content_hash"]).to_pylist()
    current = {r["sku"]: r["content_hash"] for r in catalog}
    rows, missing, stale = [], [], []
    for sku in skus:
        key = T.published(promotion_id, sku)
        if not store.exists(key):
            missing.append(sku)
            continue
        published = store.read_table(key).to_pylist()
        if any(r.get("catalog_hash") != current.get(sku) for r in published):
            stale.append(sku)  # published from an older catalog row (a price changed since): left out
            continue
        rows.extend({k: v for k, v in r.items() if k != "catalog_hash"} for r in published)
    generated_at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    manifest_key = write_manifest(cdn.target(), promotion_id, rows, generated_at=generated_at, write_csv=True)
    if missing:
        context.log.warning(f"{len(missing)} SKUs have nothing published yet: {missing[:20]}")
    return dg.MaterializeResult(
        metadata={
            "entries": len(rows),
            "skus_published": len({r["sku"] for r in rows}),
            "skus_without_images": dg.MetadataValue.json(missing[:200]),
            "skus_left_out_stale": dg.MetadataValue.json(stale[:200]),
            "manifest": dg.MetadataValue.path(cdn.target().url_for(manifest_key)),
            "grades": dg.MetadataValue.json({g: sum(1 for r in rows if r["grade"] == g) for g in ("A", "B")}),
        }
    )
