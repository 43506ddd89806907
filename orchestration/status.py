"""Where a promotion stands: counts per stage and per grade from the working store, the review queue and (where
there is one) the Dagster instance. Plain functions returning dicts; `skustudio status` prints them.

    resources = local_resources(home)            # or resources_for_environment()
    promotion_status(resources, "double11")      # -> {"stages": {...}, "grades": {...}, "review": {...}, ...}
    dagster_partition_status(instance, "double11", skus)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from skucore import tables as T
from skucore.base.expectations import rejected_row_count

STAGE_ASSETS = ("generated_images", "quality_scores", "graded_sets", "cdn_publish")


class UnknownPromotion(ValueError):
    """The promotion is neither a promotions/*.yaml file nor a partition of the instance."""


def known_promotions(resources: dict, instance=None) -> list[str]:
    """Promotion ids from the promotions folder and, when given, the instance's `promotions` partitions."""
    found, _errors = resources["promotions"].discover()
    ids = set(found)
    if instance is not None:
        from assets.partitions import PROMOTIONS

        ids |= set(instance.get_dynamic_partitions(PROMOTIONS))
    return sorted(ids)


def catalog_counts(store) -> dict:
    """Rows and rejects of the synced catalog (None where the catalog has not been synced)."""
    table = store.read_table_or_none(T.CATALOG)
    rejects = store.read_table_or_none(T.CATALOG_REJECTS)
    changes = store.read_table_or_none(T.CATALOG_CHANGES)
    out = {
        "synced": table is not None,
        "rows": table.num_rows if table is not None else 0,
        "rejects": rejected_row_count(rejects) if rejects is not None else 0,  # rows, not problems
        "reject_reasons": {},
        "last_sync_changes": {},
    }
    if rejects is not None and rejects.num_rows:
        for reason in rejects.column("reason").to_pylist():
            out["reject_reasons"][reason] = out["reject_reasons"].get(reason, 0) + 1
    if changes is not None:
        for change in changes.column("change").to_pylist():
            out["last_sync_changes"][change] = out["last_sync_changes"].get(change, 0) + 1
    return out


def catalog_skus(store) -> list[str]:
    table = store.read_table_or_none(T.CATALOG)
    return table.column("sku").to_pylist() if table is not None else []


def _rows(store, key) -> int | None:
    """Rows of the table at `key`, None when it does not exist (reads the Parquet footer only where local)."""
    if not store.exists(key):
        return None
    if getattr(store, "kind", "local") == "local":
        import pyarrow.parquet as pq

        return pq.ParquetFile(store.path(key)).metadata.num_rows
    return store.read_table(key).num_rows


def stage_counts(store, promotion: str, skus: list[str]) -> dict:
    """Per stage: SKUs that have its output, and images where it makes sense."""
    stages = {
        "cutouts": {"skus": 0},
        "generated": {"skus": 0, "images": 0},
        "scored": {"skus": 0, "metric_rows": 0},
        "graded": {"skus": 0, "images": 0},
        "published": {"skus": 0, "images": 0},
    }
    grades = {"A": 0, "B": 0, "C": 0}
    pending_in_graded = approved = rejected = publishable = 0
    for sku in skus:
        if store.exists(T.cutout_meta(sku)):
            stages["cutouts"]["skus"] += 1
        n = _rows(store, T.generated(promotion, sku))
        if n is not None:
            stages["generated"]["skus"] += 1
            stages["generated"]["images"] += n
        n = _rows(store, T.quality(promotion, sku))
        if n is not None:
            stages["scored"]["skus"] += 1
            stages["scored"]["metric_rows"] += n
        graded = store.read_table_or_none(T.graded(promotion, sku))
        if graded is not None:
            stages["graded"]["skus"] += 1
            stages["graded"]["images"] += graded.num_rows
            for row in graded.select(["grade", "decision", "publishable"]).to_pylist():
                grades[row["grade"]] = grades.get(row["grade"], 0) + 1
                if row["grade"] == "B":
                    if row["decision"] is None:
                        pending_in_graded += 1
                    elif row["decision"] == "approve":
                        approved += 1
                    else:
                        rejected += 1
                publishable += int(bool(row["publishable"]))
        n = _rows(store, T.published(promotion, sku))
        if n is not None:
            stages["published"]["skus"] += 1
            stages["published"]["images"] += n
    return {
        "stages": stages,
        "grades": grades,
        "graded_b": {"pending": pending_in_graded, "approved": approved, "rejected": rejected},
        "publishable": publishable,
    }


def manifest_counts(cdn, promotion: str) -> dict:
    """Entries and SKUs of the promotion's CDN manifest (exists False before the first manifest)."""
    from skucore.publish.publishing import manifest_key

    target = cdn.target()
    key = manifest_key(promotion)
    data = target.get(key)
    if data is None:
        return {"exists": False, "entries": 0, "skus": 0, "url": target.url_for(key)}
    doc = json.loads(data)
    entries = doc.get("entries") or []
    return {
        "exists": True,
        "entries": len(entries),
        "skus": len({e.get("sku") for e in entries}),
        "generated_at": doc.get("generated_at"),
        "url": target.url_for(key),
    }


def review_counts(grading, promotion: str) -> dict:
    """Pending items and recorded decisions of the review queue for this promotion."""
    from skucore.publish.review import queue_exists

    if not queue_exists(grading.review_db):  # a SQLite file not made yet (a database URL always exists)
        return {"db": str(grading.review_db), "pending": 0, "approved": 0, "rejected": 0}
    queue = grading.review_queue()
    decisions = [d for d in queue.export_decisions(promotion) if d["current"]]
    return {
        "db": queue.where,
        "pending": len(queue.pending(promotion)),
        "approved": sum(1 for d in decisions if d["decision"] == "approve"),
        "rejected": sum(1 for d in decisions if d["decision"] == "reject"),
    }


def open_instance(dagster_home: str | os.PathLike | None = None):
    """The Dagster instance at `dagster_home` ($DAGSTER_HOME, else $SKUSTUDIO_HOME/dagster_home), or None when
    there is none there (status never creates one)."""
    import dagster as dg

    candidates = [dagster_home, os.environ.get("DAGSTER_HOME")]
    if os.environ.get("SKUSTUDIO_HOME"):
        candidates.append(os.path.join(os.environ["SKUSTUDIO_HOME"], "dagster_home"))
    for c in candidates:
        if c and Path(c).is_dir() and any(Path(c).iterdir()):
            return dg.DagsterInstance.from_config(str(Path(c).resolve()))
    return None


def dagster_partition_status(instance, promotion: str, skus: list[str] | None = None) -> dict:
    """Materialized / failed / in-progress partitions per asset of this promotion, from the instance."""
    import dagster as dg

    from assets.partitions import SKUS, promotion_sku_partitions, promotions_partitions, skus_partitions

    registered_skus = list(instance.get_dynamic_partitions(SKUS))
    skus = [s for s in (skus if skus is not None else registered_skus) if s in set(registered_skus)]
    stage_keys = [f"{promotion}|{s}" for s in skus]
    out: dict = {"registered_skus": len(registered_skus), "assets": {}}
    plan = [
        ("prompt_table", [promotion], promotions_partitions),
        ("product_cutouts", skus, skus_partitions),
        *[(a, stage_keys, promotion_sku_partitions) for a in STAGE_ASSETS],
        ("cdn_manifest", [promotion], promotions_partitions),
    ]
    for asset, keys, pdef in plan:
        counts = {"targeted": len(keys), "materialized": 0, "failed": 0, "in_progress": 0, "missing": 0}
        failed_keys: list[str] = []
        if keys:
            try:
                statuses = instance.get_status_by_partition(dg.AssetKey(asset), keys, pdef) or {}
            except Exception as exc:  # e.g. a partition the instance does not know: report, don't crash
                out["assets"][asset] = {**counts, "error": f"{type(exc).__name__}: {exc}"}
                continue
            for key in keys:
                status = statuses.get(key)
                name = getattr(status, "value", status)
                if name == "MATERIALIZED":
                    counts["materialized"] += 1
                elif name == "FAILED":
                    counts["failed"] += 1
                    failed_keys.append(key)
                elif name == "IN_PROGRESS":
                    counts["in_progress"] += 1
                else:
                    counts["missing"] += 1
        counts["failed_partitions"] = failed_keys[:50]
        out["assets"][asset] = counts
    return out


def promotion_status(resources: dict, promotion: str, *, instance=None, check_known: bool = True) -> dict:
    """Everything `skustudio status` prints, as one dict. Raises UnknownPromotion for an unknown promotion."""
    if check_known:
        known = known_promotions(resources, instance)
        if promotion not in known:
            raise UnknownPromotion(
                f"unknown promotion {promotion!r}: known promotions are {', '.join(known) or 'none'} "
                f"(files in {resources['promotions'].folder})"
            )
    store = resources["store"]
    skus = catalog_skus(store)
    out: dict = {"promotion": promotion, "catalog": catalog_counts(store)}
    per_stage = stage_counts(store, promotion, skus)
    out["stages"] = {"catalog_rows": out["catalog"]["rows"], "catalog_rejects": out["catalog"]["rejects"], **per_stage["stages"]}
    out["grades"] = {**per_stage["grades"], "pending_review": per_stage["graded_b"]["pending"]}
    out["graded_b"] = per_stage["graded_b"]
    out["publishable"] = per_stage["publishable"]
    try:
        out["manifest"] = manifest_counts(resources["cdn"], promotion)
    except Exception as exc:  # the CDN may be remote and unreachable: the rest still stands
        out["manifest"] = {"exists": None, "entries": None, "error": f"{type(exc).__name__}: {exc}"}
    out["stages"]["manifest_entries"] = out["manifest"].get("entries")
    out["review"] = review_counts(resources["grading"], promotion)
    out["dagster"] = dagster_partition_status(instance, promotion, skus) if instance is not None else None
    return out


def format_status(status: dict) -> list[str]:
    """Human-readable lines of `promotion_status`'s dict."""
    s, g = status["stages"], status["grades"]
    cat = status["catalog"]
    lines = [f"Promotion {status['promotion']}"]
    if not cat["synced"]:
        lines.append("  catalog: not synced yet (run `skustudio sync` or the catalog_sync job)")
    else:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(cat["reject_reasons"].items()))
        lines.append(f"  catalog rows       {s['catalog_rows']:>7}")
        lines.append(f"  catalog rejects    {s['catalog_rejects']:>7}" + (f"   ({reasons})" if reasons else ""))
    lines += [
        f"  SKUs with cutouts  {s['cutouts']['skus']:>7}",
        f"  generated          {s['generated']['skus']:>7} SKUs  {s['generated']['images']:>7} images",
        f"  scored             {s['scored']['skus']:>7} SKUs  {s['scored']['metric_rows']:>7} metric rows",
        f"  graded             {s['graded']['skus']:>7} SKUs  {s['graded']['images']:>7} images",
        f"  published          {s['published']['skus']:>7} SKUs  {s['published']['images']:>7} images",
    ]
    m = status["manifest"]
    if m.get("exists"):
        lines.append(f"  manifest entries   {m['entries']:>7}       ({m['skus']} SKUs)  {m['url']}")
    elif m.get("exists") is None:
        lines.append(f"  manifest           unknown ({m.get('error')})")
    else:
        lines.append("  manifest           not written yet")
    lines.append(
        f"  grades             A={g['A']} B={g['B']} C={g['C']}  pending review={g['pending_review']}"
        f"  (queue: {status['review']['pending']} pending, {status['review']['approved']} approved, "
        f"{status['review']['rejected']} rejected)"
    )
    d = status.get("dagster")
    if d is None:
        lines.append("  Dagster instance   none found (set DAGSTER_HOME)")
    else:
        lines.append(f"  Dagster partitions (registered SKUs: {d['registered_skus']})")
        for asset, c in d["assets"].items():
            if "error" in c:
                lines.append(f"    {asset:<17} error: {c['error']}")
                continue
            extra = f"  failed: {', '.join(c['failed_partitions'][:5])}" if c["failed"] else ""
            lines.append(
                f"    {asset:<17} {c['materialized']:>5}/{c['targeted']:<5} materialized, {c['failed']} failed, "
                f"{c['in_progress']} in progress{extra}"
            )
    return lines
