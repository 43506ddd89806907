"""`quality_scores[promotion|sku]` and `graded_sets[promotion|sku]`: every image measured, graded A/B/C;
C's regenerate (new seed, prompt adjusted from the failed metric) up to the configured attempts; B's go to the
review queue, whose decisions survive reruns; images reviewers rejected regenerate with the reason's prompt
adjustment, or wait for a new template."""
import dagster as dg
import pyarrow as pa

from skucore import tables as T

from assets.generation import store_rendered
from assets.partition_loop import UpstreamMissing
from resources.quality import review_desk_url


def _read_generated(store, promotion: str, sku: str) -> list[dict]:
    key = T.generated(promotion, sku)
    if not store.exists(key):
        raise UpstreamMissing(f"generated_images[{promotion}|{sku}] has not been materialized")
    return store.read_table(key).to_pylist()


def _hash_rows(hashes: dict) -> list[dict]:
    return [{"sku": s, "image_key": k, "hash": h} for (s, k), h in hashes.items()]


def quality_stage(step, promotion_id: str, sku: str) -> dict:
    """quality_scores for one key: every metric of every image, and near duplicates across the promotion."""
    from skucore.quality.duplicates import generated_image_fingerprint
    from skucore.quality.score import quality_rows, quality_table

    run, store, grading = step.run_for(promotion_id), step.store, step.grading
    qcfg = grading.quality_config()
    rows, own_hashes = [], {}
    for gen in _read_generated(store, promotion_id, sku):
        data, results = run.score(gen, qcfg)
        own_hashes[(sku, gen["image_key"])] = generated_image_fingerprint(data, gen)
        rows.append((gen, results))
    # Near duplicates against the other SKUs of the promotion (stored, and scored so far in this step by any
    # worker); these hashes then replace the SKU's earlier ones.
    dup = run.duplicates.replace(sku, own_hashes)
    out = []
    for gen, results in rows:
        results = [*results, dup[(sku, gen["image_key"])]]
        out.extend(
            quality_rows(results, promotion=promotion_id, sku=sku, role=gen["role"], platform=gen["platform"],
                         slot=gen["slot"], attempt=gen["attempt"], image_key=gen["image_key"])
        )
    store.write_table(T.quality(promotion_id, sku), quality_table(out))
    store.write_table(T.hashes(promotion_id, sku), pa.Table.from_pylist(_hash_rows(own_hashes), schema=T.HASHES_SCHEMA))
    bad = [r for r in out if r["status"] in ("fail", "error")]
    return {
        "images": len(rows),
        "metrics": len(out),
        "failed_metric_rows": len(bad),
        "failed_metrics": dg.MetadataValue.json(sorted({f"{r['metric']}:{r['status']}" for r in bad})),
        "excluded_metric_rows": sum(1 for r in out if r["status"] == "excluded"),
    }


def _file_fields(gen: dict) -> dict:
    return {k: gen.get(k) for k in ("sha256", "format", "width", "height", "backend", "catalog_hash")}


def grade_sku(step, promotion_id: str, sku: str) -> tuple[list[dict], list[dict]]:
    """Grade one SKU's images, regenerating C's. Returns (final rows, every attempt's rows)."""
    from skucore.quality.duplicates import generated_image_fingerprint
    from skucore.quality.regenerate import grade_and_regenerate
    from skucore.quality.score import quality_rows, quality_table

    run, store, grading = step.run_for(promotion_id), step.store, step.grading
    qcfg = grading.quality_config()
    all_generated = _read_generated(store, promotion_id, sku)
    qkey = T.quality(promotion_id, sku)
    if not store.exists(qkey):
        raise UpstreamMissing(f"quality_scores[{promotion_id}|{sku}] has not been materialized")
    metrics: dict[str, list[dict]] = {}
    for q in store.read_table(qkey).to_pylist():
        metrics.setdefault(q["image_key"], []).append(q)
    new_hashes: dict[tuple[str, str], str] = {}

    def render(prompt_row: dict, attempt: int, platform: str) -> dict:
        rendered = run.render(sku, prompt_rows=[prompt_row], attempt=attempt, platforms=[platform])
        return store_rendered(store, promotion_id, sku, rendered, {prompt_row["role"]: prompt_row},
                              run.catalog[sku]["content_hash"])[0]

    def score(gen: dict) -> list[dict]:
        data, results = run.score(gen, qcfg)
        # A regenerated image is checked for near duplicates too: no metric passes by not being computed.
        own = {(sku, gen["image_key"]): generated_image_fingerprint(data, gen)}
        dup = run.duplicates.compare(sku, own)[(sku, gen["image_key"])]
        new_hashes.update(own)
        return quality_rows([*results, dup], promotion=promotion_id, sku=sku, role=gen["role"],
                            platform=gen["platform"], slot=gen["slot"], attempt=gen["attempt"],
                            image_key=gen["image_key"])

    base_prompts = {p["role"]: p for p in run.prompts.get(sku, [])}
    outcome = grade_and_regenerate(all_generated, metrics, base_prompts=base_prompts, render=render, score=score,
                                   config=grading.grading_config(), log=step.log,
                                   rejection=lambda gen: step.queue.rejection_for(gen["image_key"], gen["sha256"]),
                                   review_regenerated=grading.review_regenerated)
    attempts = [{**g.row(), "superseded": True, **_file_fields(gen)} for g, gen in outcome.superseded]
    rows = []
    for (role, platform), (g, gen) in sorted(outcome.final.items()):
        row = {**g.row(), **_file_fields(gen), "superseded": False, **review_state(step.queue, g, gen, outcome.waiting)}
        rows.append(row)
        attempts.append(row)
    # Queued images of these scenes that are no longer the final ones (an A replaced them) leave the queue.
    step.queue.keep_current(promotion_id, sku, {(r["role"], r["platform"]): r["image_key"] for r in rows})
    if outcome.new_generated:  # regenerated attempts join the SKU's generated and quality tables (lineage)
        all_gen = all_generated + outcome.new_generated
        store.write_table(T.generated(promotion_id, sku), pa.Table.from_pylist(all_gen, schema=T.GENERATED_SCHEMA))
        store.write_table(qkey, quality_table(store.read_table(qkey).to_pylist() + outcome.new_quality))
        stored = store.read_table_or_none(T.hashes(promotion_id, sku))
        hash_rows = (stored.to_pylist() if stored is not None else []) + _hash_rows(new_hashes)
        store.write_table(T.hashes(promotion_id, sku), pa.Table.from_pylist(hash_rows, schema=T.HASHES_SCHEMA))
        run.duplicates.add(sku, new_hashes)
    return rows, attempts


def review_state(queue, g, gen: dict, waiting: dict) -> dict:
    """A final image's decision and whether it may publish: a B is queued (its decision read back); an image a
    reviewer rejected that awaits a new template is held ("await_template"); an A publishes."""
    decision, action = None, g.action
    if (g.info.get("role"), g.info.get("platform")) in waiting:
        decision, action = "reject", "await_template"
    elif g.final.grade == "B":
        queue.enqueue({
            "promotion": g.info.get("promotion"), "sku": g.info.get("sku"), "role": g.info.get("role"),
            "platform": g.info.get("platform"), "attempt": g.attempt, "image_key": g.image_key, "grade": "B",
            "sha256": gen["sha256"], "reasons": list(g.final.reasons), "template_id": gen.get("template_id"),
            "failed_metrics": list(g.final.failed_metrics) + [r for r in ("max_attempts_reached",) if r in g.final.reasons],
        })
        decision = queue.decision_for(g.image_key, gen["sha256"])
    publishable = (g.final.grade == "A" and decision is None) or (g.final.grade == "B" and decision == "approve")
    return {"decision": decision, "publishable": publishable, "action": action}


def _md_rows(header: list[str], rows: list[list]) -> str:
    return ("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
            + "".join("| " + " | ".join(str(c) for c in r) + " |\n" for r in rows))


def grade_stage(step, promotion_id: str, sku: str) -> dict:
    """graded_sets for one key: grades, regenerations, review queue; then the publishing gate on the result."""
    store = step.store
    rows, attempts = grade_sku(step, promotion_id, sku)
    store.write_table(T.graded(promotion_id, sku), pa.Table.from_pylist(rows, schema=T.GRADED_SCHEMA))
    store.write_table(T.attempts(promotion_id, sku), pa.Table.from_pylist(attempts, schema=T.GRADED_SCHEMA))
    step.gate.check(f"{promotion_id}|{sku}", rows)
    counts = {g: sum(1 for r in rows if r["grade"] == g) for g in "ABC"}
    superseded = [a for a in attempts if a["superseded"]]
    link = review_desk_url(promotion_id, sku)
    return {
        **({"review_desk": dg.MetadataValue.url(link)} if link else {}),
        "awaiting_template": sum(1 for r in rows if r["action"] == "await_template"),
        "A": counts["A"], "B": counts["B"], "C": counts["C"],
        "regenerations": len(superseded),
        "attempts": dg.MetadataValue.md(_md_rows(
            ["role", "platform", "attempt", "grade", "score", "failed"],
            [[a["role"], a["platform"], a["attempt"], a["grade"], f"{a['score']:.2f}", ", ".join(a["failed_metrics"] or [])]
             for a in superseded],
        )) if superseded else "no regenerations",
        "attempts_table": dg.MetadataValue.path(store.uri(T.attempts(promotion_id, sku))),
        "publishable": sum(1 for r in rows if r["publishable"]),
        "pending_review": sum(1 for r in rows if r["grade"] == "B" and r["decision"] is None),
        "grades": dg.MetadataValue.md(_md_rows(
            ["role", "platform", "grade", "score", "attempt", "reasons"],
            [[r["role"], r["platform"], r["grade"], f"{r['score']:.2f}", r["attempt"], ", ".join(r["reasons"] or [])[:120]]
             for r in rows],
        )),
    }
