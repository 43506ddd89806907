"""`quality_scores[promotion|sku]` and `graded_sets[promotion|sku]`: every image measured, graded A/B/C;
C's regenerate (new seed, prompt adjusted from the failed metric) up to the configured attempts; B's go to the
review queue, whose decisions survive reruns."""
import json

import dagster as dg
import pyarrow as pa

from assets import _tables as T
from assets._per_partition import UpstreamMissing, split_key
from assets.generation import GENERATED_SCHEMA, store_rendered
from resources.promotions import PromotionLibrary
from resources.quality import GradingSettings
from resources.storage import StudioStore

HASHES_SCHEMA = pa.schema([("sku", pa.string()), ("image_key", pa.string()), ("hash", pa.string())])


def _read_generated(store: StudioStore, promotion: str, sku: str) -> list[dict]:
    key = T.generated(promotion, sku)
    if not store.exists(key):
        raise UpstreamMissing(f"generated_images[{promotion}|{sku}] has not been materialized")
    return store.read_table(key).to_pylist()


def score_generated_row(store, row: dict, *, promotion, category: str | None, backdrop_kind: str | None, quality_config,
                        preset_for=None):
    """Metric results for one generated image row (plain function: used by quality_scores and regeneration).
    `preset_for(platform_id)` gives the platform's rules (configured overrides); default: the shipped presets."""
    from skucore.base.platforms import get_preset
    from skucore.quality.score import score_image
    from skucore.base.types import TextRegion

    data = store.get_bytes(row["image_key"])
    regions = [TextRegion(r["kind"], r["text"], tuple(r["box"])) for r in json.loads(row["text_regions"] or "[]")]
    results = score_image(
        data,
        preset=(preset_for or get_preset)(row["platform"]),
        slot=row["slot"],
        product_box=tuple(row["product_box"]),
        text_regions=regions,
        fidelity=json.loads(row["fidelity"] or "{}"),
        brand_colours=promotion.brand_kit.colours,
        backdrop_kind=backdrop_kind,
        category=category,
        config=quality_config,
    )
    return data, results


class _PromotionContext:
    """Per-step cache: a promotion, its templates' backdrops, the catalog's categories, other SKUs' hashes."""

    def __init__(self, store: StudioStore, promotions: PromotionLibrary, promotion_id: str, preset_for=None):
        self.promotion = promotions.get(promotion_id)
        self.preset_for = preset_for
        self.backdrops = {t.id: (t.backdrop or {}).get("kind") for t in promotions.templates().all()}
        self.categories = {r["sku"]: r["category"] for r in store.read_table(T.CATALOG).select(["sku", "category"]).to_pylist()}
        self.hashes: dict[tuple[str, str], str] = {}
        for key in store.list_keys(T.hashes_prefix(promotion_id)):
            for r in store.read_table(key).to_pylist():
                if r["sku"] in self.categories:  # delisted SKUs are nobody's duplicate any more
                    self.hashes[(r["sku"], r["image_key"])] = r["hash"]


def _promotion_contexts(store, promotions, keys, preset_for=None):
    out = {}
    for key in keys:
        promotion_id, _ = split_key(key)
        if promotion_id not in out:
            out[promotion_id] = _PromotionContext(store, promotions, promotion_id, preset_for)
    return out


def quality_stage(store: StudioStore, pc: "_PromotionContext", grading: GradingSettings, promotion_id: str, sku: str) -> dict:
    """quality_scores for one key: every metric of every image, and near duplicates across the promotion."""
    from skucore.quality.score import near_duplicate_results, perceptual_hash, quality_rows, quality_table

    qcfg = grading.quality_config()
    rows, own_hashes = [], {}
    for gen in _read_generated(store, promotion_id, sku):
        data, results = score_generated_row(
            store, gen, promotion=pc.promotion, category=pc.categories.get(sku),
            backdrop_kind=pc.backdrops.get(gen["template_id"]), quality_config=qcfg, preset_for=pc.preset_for,
        )
        own_hashes[(sku, gen["image_key"])] = perceptual_hash(data)
        rows.append((gen, results))
    # Near duplicates against the other SKUs of the promotion (their hashes as stored so far).
    others = {k: v for k, v in pc.hashes.items() if k[0] != sku}
    dup = near_duplicate_results({**others, **own_hashes}, max_bits=grading.near_duplicate_bits)
    out = []
    for gen, results in rows:
        results = [*results, dup[(sku, gen["image_key"])]]
        out.extend(
            quality_rows(results, promotion=promotion_id, sku=sku, role=gen["role"], platform=gen["platform"],
                         slot=gen["slot"], attempt=gen["attempt"], image_key=gen["image_key"])
        )
    store.write_table(T.quality(promotion_id, sku), quality_table(out))
    store.write_table(
        T.hashes(promotion_id, sku),
        pa.Table.from_pylist([{"sku": s, "image_key": k, "hash": h} for (s, k), h in own_hashes.items()], schema=HASHES_SCHEMA),
    )
    pc.hashes = {**others, **own_hashes}
    bad = [r for r in out if r["status"] in ("fail", "error")]
    return {
        "images": len(rows),
        "metrics": len(out),
        "failed_metric_rows": len(bad),
        "failed_metrics": dg.MetadataValue.json(sorted({f"{r['metric']}:{r['status']}" for r in bad})),
        "excluded_metric_rows": sum(1 for r in out if r["status"] == "excluded"),
    }


def graded_schema() -> pa.Schema:
    from skucore.quality.grading import GRADES_SCHEMA

    extra = [
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("backend", pa.string()),
        ("decision", pa.string()),  # approve | reject | null (pending or not a B)
        ("publishable", pa.bool_()),
        ("superseded", pa.bool_()),  # an earlier attempt replaced by a regeneration
        ("catalog_hash", pa.string()),  # the catalog row the image was made from
    ]
    schema = GRADES_SCHEMA
    for name, typ in extra:
        if schema.get_field_index(name) < 0:
            schema = schema.append(pa.field(name, typ))
    return schema


def grade_sku(store, promotion_id, sku, *, renderer, grading: GradingSettings, pc, log=None) -> tuple[list[dict], list[dict]]:
    """Grade one SKU's images, regenerating C's. Returns (final rows, every attempt's rows)."""
    from skucore.quality.grading import grade_set
    from skucore.prompting.prompts import adjust_prompt
    from skucore.quality.score import near_duplicate_results, perceptual_hash, quality_rows

    gcfg = grading.grading_config()
    qcfg = grading.quality_config()
    all_generated = _read_generated(store, promotion_id, sku)
    # Grade the latest attempt of each (role, platform): earlier attempts stay in the tables as lineage.
    latest: dict[tuple[str, str], dict] = {}
    for r in all_generated:
        slot = (r["role"], r["platform"])
        if slot not in latest or r["attempt"] > latest[slot]["attempt"]:
            latest[slot] = r
    generated = {r["image_key"]: r for r in latest.values()}
    qkey = T.quality(promotion_id, sku)
    if not store.exists(qkey):
        raise UpstreamMissing(f"quality_scores[{promotion_id}|{sku}] has not been materialized")
    metrics: dict[str, list[dict]] = {}
    for q in store.read_table(qkey).to_pylist():
        metrics.setdefault(q["image_key"], []).append(q)

    def item(gen, metric_rows):
        return {
            "image_key": gen["image_key"], "metrics": metric_rows, "attempt": gen["attempt"],
            "generated": gen["backend"] != "studio", "promotion": promotion_id, "sku": sku, "role": gen["role"],
            "platform": gen["platform"], "slot": gen["slot"],
        }

    graded = grade_set([item(g, metrics.get(k, [])) for k, g in generated.items()], gcfg)
    attempts: list[dict] = []
    final: dict[str, tuple] = {}
    new_generated, new_quality, new_hashes = [], [], {}
    for g in graded.images:
        gen = generated[g.image_key]
        base = next((p for p in renderer.prompts.get(sku, []) if p["role"] == gen["role"]), None)
        while g.action == "regenerate":
            attempts.append({**g.row(), "superseded": True, **_file_fields(gen)})
            attempt = g.attempt + 1
            if base is None:
                break
            # Each attempt builds on the last one's prompt, so adjustments accumulate.
            prompt_row = adjust_prompt({**base, "attempt": g.attempt}, g.raw.failed_metrics, attempt)
            base = prompt_row
            if log:
                log(f"{promotion_id}|{sku} {gen['role']}/{gen['platform']}: grade C ({', '.join(g.raw.failed_metrics)}), attempt {attempt}")
            rendered = renderer.render(sku, prompt_rows=[prompt_row], attempt=attempt, platforms=[gen["platform"]])
            rows = store_rendered(store, promotion_id, sku, rendered, {prompt_row["role"]: prompt_row},
                                  renderer.catalog[sku]["content_hash"])
            gen = rows[0]
            data, results = score_generated_row(
                store, gen, promotion=pc.promotion, category=pc.categories.get(sku),
                backdrop_kind=pc.backdrops.get(gen["template_id"]), quality_config=qcfg, preset_for=pc.preset_for,
            )
            # A regenerated image is checked for near duplicates too: no metric passes by not being computed.
            own = {(sku, gen["image_key"]): perceptual_hash(data)}
            others = {k: v for k, v in pc.hashes.items() if k[0] != sku}
            results = [*results, near_duplicate_results({**others, **own}, max_bits=grading.near_duplicate_bits)[(sku, gen["image_key"])]]
            new_hashes.update(own)
            q = quality_rows(results, promotion=promotion_id, sku=sku, role=gen["role"], platform=gen["platform"],
                             slot=gen["slot"], attempt=gen["attempt"], image_key=gen["image_key"])
            new_generated.append(gen)
            new_quality.extend(q)
            g = grade_set([item(gen, q)], gcfg).images[0]
        final[(gen["role"], gen["platform"])] = (g, gen)

    queue = grading.review_queue()
    rows = []
    for (role, platform), (g, gen) in sorted(final.items()):
        decision = None
        if g.final.grade == "B":
            queue.enqueue({
                "promotion": promotion_id, "sku": sku, "role": role, "platform": platform, "attempt": g.attempt,
                "image_key": g.image_key, "sha256": gen["sha256"], "reasons": list(g.final.reasons),
            })
            decision = queue.decision_for(g.image_key, gen["sha256"])
        publishable = g.final.grade == "A" or (g.final.grade == "B" and decision == "approve")
        row = {**g.row(), **_file_fields(gen), "decision": decision, "publishable": publishable, "superseded": False}
        rows.append(row)
        attempts.append(row)
    if new_generated:  # regenerated attempts join the SKU's generated and quality tables (lineage)
        from skucore.quality.score import quality_table

        all_gen = all_generated + new_generated
        store.write_table(T.generated(promotion_id, sku), pa.Table.from_pylist(all_gen, schema=GENERATED_SCHEMA))
        old_q = store.read_table(qkey).to_pylist()
        store.write_table(qkey, quality_table(old_q + new_quality))
        stored = store.read_table_or_none(T.hashes(promotion_id, sku))
        hash_rows = (stored.to_pylist() if stored is not None else []) + [
            {"sku": s, "image_key": k, "hash": h} for (s, k), h in new_hashes.items()
        ]
        store.write_table(T.hashes(promotion_id, sku), pa.Table.from_pylist(hash_rows, schema=HASHES_SCHEMA))
        pc.hashes.update(new_hashes)
    return rows, attempts


def _file_fields(gen: dict) -> dict:
    return {k: gen.get(k) for k in ("sha256", "format", "width", "height", "backend", "catalog_hash")}


def graded_stage(store: StudioStore, renderer, pc: "_PromotionContext", grading: GradingSettings,
                 promotion_id: str, sku: str, log=None) -> dict:
    """graded_sets for one key: grades, regenerations, review queue; then the publishing gate on the result."""
    rows, attempts = grade_sku(store, promotion_id, sku, renderer=renderer, grading=grading, pc=pc, log=log)
    schema = graded_schema()
    store.write_table(T.graded(promotion_id, sku), pa.Table.from_pylist(rows, schema=schema))
    store.write_table(T.attempts(promotion_id, sku), pa.Table.from_pylist(attempts, schema=schema))
    counts = {g: sum(1 for r in rows if r["grade"] == g) for g in "ABC"}
    return {
        "A": counts["A"], "B": counts["B"], "C": counts["C"],
        "regenerations": sum(1 for a in attempts if a["superseded"]),
        "attempts": dg.MetadataValue.md(
            "| role | platform | attempt | grade | score | failed |\n|---|---|---|---|---|---|\n"
            + "".join(
                f"| {a['role']} | {a['platform']} | {a['attempt']} | {a['grade']} | {a['score']:.2f} | "
                f"{', '.join(a['failed_metrics'] or [])} |\n"
                for a in attempts if a["superseded"]
            )
        ) if any(a["superseded"] for a in attempts) else "no regenerations",
        "attempts_table": dg.MetadataValue.path(store.uri(T.attempts(promotion_id, sku))),
        "publishable": sum(1 for r in rows if r["publishable"]),
        "pending_review": sum(1 for r in rows if r["grade"] == "B" and r["decision"] is None),
        "grades": dg.MetadataValue.md(
            "| role | platform | grade | score | attempt | reasons |\n|---|---|---|---|---|---|\n"
            + "".join(
                f"| {r['role']} | {r['platform']} | {r['grade']} | {r['score']:.2f} | {r['attempt']} | {', '.join(r['reasons'] or [])[:120]} |\n"
                for r in rows
            )
        ),
    }


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
