"""The catalog: `catalog_table` and `catalog_rejects` (one ingestion, two tables), the catalog gate, and
`catalog_partitions`, the sync step that keeps the SKU and promotion partitions in line with the catalog."""

import collections
import datetime as _dt
import json

import dagster as dg

from skucore import tables as T
from assets.partitions import PROMOTIONS, SKUS
from assets.metadata import md_table
from resources.catalog import CatalogSource
from resources.cdn import CdnResource
from resources.promotions import PromotionLibrary
from resources.storage import StudioStore


def _known_categories(templates: PromotionLibrary) -> list[str]:
    return templates.templates().categories()


@dg.multi_asset(
    specs=[
        dg.AssetSpec("catalog_table", group_name="catalog", description="The validated catalog, one row per SKU."),
        dg.AssetSpec(
            "catalog_rejects", group_name="catalog", description="Catalog rows that were rejected, with a reason each."
        ),
    ],
)
def catalog(context: dg.AssetExecutionContext, store: StudioStore, catalog_source: CatalogSource, promotions: PromotionLibrary):
    from skucore.catalog.formats import CatalogError

    try:
        loaded = catalog_source.load(_known_categories(promotions))
    except CatalogError as exc:  # a configuration error: the message says what to set; a traceback adds nothing
        raise dg.Failure(description=f"catalog configuration error: {exc}", allow_retries=False) from None
    # A candidate until the gate passes: `catalog_partitions` (which runs only after the blocking gate)
    # promotes it to the catalog every later stage reads, so a bad catalog never reaches them.
    store.write_table(T.CATALOG_CANDIDATE, loaded.table)
    store.write_table(T.CATALOG_REJECTS, loaded.rejects)
    stats = json.loads(json.dumps(loaded.stats, default=str))
    store.put_bytes(T.CATALOG_LOAD_SUMMARY, json.dumps({**stats, "run_id": context.run.run_id}).encode())
    reasons = collections.Counter(loaded.rejects.column("reason").to_pylist()) if loaded.rejects.num_rows else {}
    rejected_rows = stats.get("rows_rejected", 0)
    context.log.info(f"catalog {catalog_source.location}: {stats.get('rows_read')} rows in, "
                     f"{loaded.table.num_rows} accepted, {rejected_rows} rejected")
    yield dg.MaterializeResult(
        asset_key="catalog_table",
        metadata={
            "source": catalog_source.location,
            "format": str(stats.get("format")),
            "currency": str(stats.get("currency")),
            "dagster/row_count": loaded.table.num_rows,
            "rejected_rows": rejected_rows,
            "rows_defaulted_category": stats.get("rows_defaulted", 0),
            "categories": dg.MetadataValue.json(
                dict(collections.Counter(loaded.table.column("category").to_pylist())) if loaded.table.num_rows else {}
            ),
            "stats": dg.MetadataValue.json(stats),
            "preview": dg.MetadataValue.md(
                md_table(loaded.table.to_pylist(), ["sku", "name", "category", "price", "list_price", "currency"])
            ),
            "table": dg.MetadataValue.path(store.uri(T.CATALOG_CANDIDATE)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="catalog_rejects",
        metadata={
            "dagster/row_count": loaded.rejects.num_rows,
            "rejected_rows": rejected_rows,
            "reasons": dg.MetadataValue.json(dict(reasons)),
            "rejects": dg.MetadataValue.md(
                md_table(loaded.rejects.to_pylist(), ["source_row", "sku", "reason", "field", "value", "message"])
            ),
        },
    )


@dg.asset_check(asset="catalog_table", blocking=True, description="Great Expectations gate on the catalog.")
def catalog_gate(store: StudioStore, catalog_source: CatalogSource, promotions: PromotionLibrary) -> dg.AssetCheckResult:
    from skucore.base.expectations import rejected_row_count, validate_catalog

    table = store.read_table(T.CATALOG_CANDIDATE)
    rejects = store.read_table(T.CATALOG_REJECTS)
    result = validate_catalog(
        table,
        rejected_rows=rejected_row_count(rejects),  # rows, not reasons: a row with 3 problems is 1 rejected row
        known_categories=_known_categories(promotions),
        price_min=catalog_source.price_min,
        price_max=catalog_source.price_max,
        max_reject_ratio=catalog_source.max_reject_ratio,
    )
    if result.passed:  # what passed, by content: only this candidate may be promoted
        store.put_bytes(T.CATALOG_PASSED, _sha256(store.get_bytes(T.CATALOG_CANDIDATE)).encode())
    verdict = {"passed": result.passed, "summary": result.describe(), "failures": result.failures,
               "figures": result.figures}
    store.put_bytes(T.CATALOG_GATE, json.dumps(verdict, default=str).encode())
    return dg.AssetCheckResult(
        passed=result.passed,
        metadata={**result.figures, "summary": result.describe()},
        description=result.describe(),
    )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class SyncConfig(dg.Config):
    delete_delisted_objects: bool = False  # published objects of delisted SKUs: kept by default, or deleted


@dg.asset(
    deps=["catalog_table"],
    group_name="catalog",
    description="Syncs the dynamic partitions with the catalog and promotions/; records new, changed and delisted SKUs.",
)
def catalog_partitions(
    context: dg.AssetExecutionContext, config: SyncConfig, store: StudioStore, promotions: PromotionLibrary, cdn: CdnResource
) -> dg.MaterializeResult:
    from skucore.publish.manifest import remove_skus
    from skucore.catalog.sync import diff_catalog

    instance = context.instance
    candidate = store.get_bytes(T.CATALOG_CANDIDATE)
    passed = store.get_bytes(T.CATALOG_PASSED).decode() if store.exists(T.CATALOG_PASSED) else None
    if passed != _sha256(candidate):
        raise dg.Failure(
            "the catalog candidate has not passed catalog_gate (a later ingestion replaced the one that passed, "
            "or the gate closed): run the catalog_sync job again"
        )
    table = store.read_table(T.CATALOG_CANDIDATE)
    previous = store.read_table_or_none(T.CATALOG_SYNCED)
    changes = diff_catalog(previous, table)
    registered = set(instance.get_dynamic_partitions(SKUS))
    to_add = [s for s in table.column("sku").to_pylist() if s not in registered]
    current = set(table.column("sku").to_pylist())
    to_remove = sorted(registered - current)
    if to_add:
        instance.add_dynamic_partitions(SKUS, to_add)

    # Delisted SKUs leave every published manifest now (objects deleted if configured); changed SKUs leave them
    # too (objects kept) until they are regenerated, so a CMS never shows a stale price. One manifest rewrite per
    # promotion, before anything is deleted; a withdrawn SKU's cdn_publish is recorded as withdrawn, so the
    # regeneration sensor sees it as not published.
    manifest_entries_removed = objects_deleted = 0
    withdrawn = set(to_remove) | set(changes.changed)
    problems = []
    if withdrawn:
        target = cdn.target()
        generated_at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        delete_of = set(to_remove) if config.delete_delisted_objects else set()
        for promotion_id in instance.get_dynamic_partitions(PROMOTIONS):
            try:
                result = remove_skus(target, promotion_id, withdrawn, delete_of, generated_at=generated_at)
            except Exception as exc:  # one promotion's CDN trouble does not stop the sync of the others
                problems.append(f"{promotion_id}: {type(exc).__name__}: {exc}")
                context.log.error(f"withdrawing {len(withdrawn)} SKUs from {promotion_id} failed: {exc}")
                continue
            manifest_entries_removed += result.manifest_entries_removed
            objects_deleted += len(result.objects_deleted)
            for sku in withdrawn:
                if store.exists(T.published(promotion_id, sku)):
                    store.delete(T.published(promotion_id, sku))
                    instance.report_runless_asset_event(
                        dg.AssetMaterialization(
                            asset_key="cdn_publish",
                            partition=f"{promotion_id}|{sku}",
                            metadata={"withdrawn": True, "catalog_hash": "", "reason": "delisted" if sku in to_remove else "changed"},
                        )
                    )
    for sku in to_remove:
        instance.delete_dynamic_partition(SKUS, sku)

    found, errors = promotions.discover()
    for err in errors:
        context.log.error(f"promotion file rejected: {err}")
    known_promotions = set(instance.get_dynamic_partitions(PROMOTIONS))
    new_promotions = sorted(set(found) - known_promotions)
    if new_promotions:
        instance.add_dynamic_partitions(PROMOTIONS, new_promotions)

    store.write_table(T.CATALOG_CHANGES, changes.table)
    store.write_table(T.CATALOG_SYNCED, table.select(["sku", "content_hash"]))
    store.put_bytes(T.CATALOG, candidate)  # last: the synced catalog every stage reads
    if problems:
        raise dg.Failure(f"the catalog is synced, but withdrawing changed/delisted SKUs failed for: {problems}")
    return dg.MaterializeResult(
        metadata={
            "skus_added": len(to_add),
            "skus_removed": len(to_remove),
            "delete_delisted_objects": config.delete_delisted_objects,
            "manifest_entries_removed": manifest_entries_removed,
            "cdn_objects_deleted": objects_deleted,
            "skus_changed": len(changes.changed),
            "skus_unchanged": len(changes.unchanged),
            "added": dg.MetadataValue.json(to_add[:200]),
            "removed": dg.MetadataValue.json(to_remove[:200]),
            "changed": dg.MetadataValue.json(sorted(changes.changed)[:200]),
            "promotions": dg.MetadataValue.json(sorted(found)),
            "promotions_added": dg.MetadataValue.json(new_promotions),
            "promotion_errors": dg.MetadataValue.json([str(e) for e in errors]),
        }
    )
