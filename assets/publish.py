"""`cdn_publish[promotion|sku]` (A's and approved B's only, content-addressed, unchanged images upload nothing),
the publishing gate in front of it, and `cdn_manifest[promotion]` (written last and atomically, after every
referenced object is verified)."""
import datetime as _dt

import dagster as dg
import pyarrow as pa

from skucore import tables as T

from assets.partition_loop import UpstreamMissing
from assets.partitions import SKUS, from_promotion, promotions_partitions
from resources.cdn import CdnResource
from resources.storage import StudioStore


class PublishGateClosed(Exception):
    """graded_sets_gate refused a SKU's graded set."""


def publish_gate_problems(rows: list[dict], never_a) -> list[str]:
    """Why a SKU's graded set may not be published ([] = it may): every image graded, no A that failed a hard
    rule, no C left unresolved, nothing publishable that is not A or approved B."""
    problems = []
    for r in rows:
        where = f"{r['role']}/{r['platform']}"
        if r["grade"] not in ("A", "B", "C"):
            problems.append(f"{where}: no grade")
        if r["grade"] == "A" and set(r["failed_metrics"] or []) & set(never_a):
            problems.append(f"{where}: A despite failing {sorted(set(r['failed_metrics']) & set(never_a))}")
        if r["grade"] == "C":
            problems.append(f"{where}: C left after regeneration")
        if r["publishable"] and not (r["grade"] == "A" or (r["grade"] == "B" and r["decision"] == "approve")):
            problems.append(f"{where}: publishable with grade {r['grade']} and decision {r['decision']}")
    return problems


class PublishGate:
    """The blocking `graded_sets_gate`, per key: judged when the key is graded and again, on the review
    decisions read at that moment, before it is published; once closed for a key in a step it stays closed."""

    def __init__(self, never_a):
        self.never_a = frozenset(never_a)
        self.problems: dict[str, list[str]] = {}

    def check(self, key: str, graded_rows: list[dict]) -> list[str]:
        if key not in self.problems:
            problems = publish_gate_problems(graded_rows, self.never_a)
            if problems:
                self.problems[key] = problems
        return self.problems.get(key, [])

    def require_open(self, key: str, graded_rows: list[dict]) -> None:
        problems = self.check(key, graded_rows)
        if problems:
            raise PublishGateClosed(f"graded_sets_gate is closed: {'; '.join(problems[:5])}")


def refresh_review_decisions(store: StudioStore, queue, promotion_id: str, sku: str) -> list[dict]:
    """The SKU's graded rows with review decisions read from the queue now: an approval made after grading
    publishes on the next cdn_publish without regrading, and an A rejected at a spot check is held back (it
    leaves the manifest at the next refresh; the next graded_sets regenerates it). Decisions are tied to the
    image's sha256."""
    gkey = T.graded(promotion_id, sku)
    if not store.exists(gkey):
        raise UpstreamMissing(f"graded_sets[{promotion_id}|{sku}] has not been materialized")
    graded = store.read_table(gkey).to_pylist()
    changed = False
    reviewed = [r for r in graded if r["grade"] in ("A", "B")]
    decisions = queue.decisions_for([(r["image_key"], r["sha256"]) for r in reviewed]) if reviewed else {}
    for r in reviewed:
        decision = decisions.get(r["image_key"])
        publishable = decision == "approve" if r["grade"] == "B" else decision != "reject"
        if decision != r["decision"] or publishable != r["publishable"]:
            r["decision"], r["publishable"], changed = decision, publishable, True
    if changed:
        store.write_table(gkey, pa.Table.from_pylist(graded, schema=T.GRADED_SCHEMA))
    return graded


def publish_stage(step, promotion_id: str, sku: str) -> dict:
    """cdn_publish for one key: the A's and approved B's, under content-addressed keys; unchanged ones skip.
    Review decisions are read now, and the publishing gate must be open."""
    store = step.store
    graded = refresh_review_decisions(store, step.queue, promotion_id, sku)
    step.gate.require_open(f"{promotion_id}|{sku}", graded)
    return publish_images_of(store, step.target, promotion_id, sku, graded)


def publish_images_of(store: StudioStore, target, promotion_id: str, sku: str, graded: list[dict]) -> dict:
    """Publish a SKU's publishable graded rows to `target` and record what was published."""
    from skucore.publish.publishing import publish_images

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
    from skucore.publish.manifest import write_manifest

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
