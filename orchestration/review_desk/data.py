"""What the desk reads from the store: one image fully explained (metrics, drawn vs read text, lineage, earlier
attempts, catalog row, prompt), the promotions, the published A's a spot check draws from, and the rows of the
templates scorecard. Every key is built from table rows (`skucore.tables`), never from a URL."""
from __future__ import annotations

import json
import threading
import time

from skucore import tables as T

_CATALOG_TTL_S = 30.0


class CatalogCache:
    """The synced catalog by SKU, read at most every 30 s (the detail page and the source photo need a row)."""

    def __init__(self, store):
        self.store, self.rows, self.at, self.lock = store, {}, 0.0, threading.Lock()

    def row(self, sku: str) -> dict | None:
        with self.lock:
            if time.monotonic() - self.at > _CATALOG_TTL_S:
                table = self.store.read_table_or_none(T.CATALOG)
                self.rows = {r["sku"]: r for r in table.to_pylist()} if table is not None else {}
                self.at = time.monotonic()
            return self.rows.get(sku)


def _rows(store, key: str) -> list[dict]:
    table = store.read_table_or_none(key)
    return table.to_pylist() if table is not None else []


def _json(text, default):
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def metrics_of(quality_rows: list[dict]) -> list[dict]:
    """One image's metrics, failed and errored first, then passed, then excluded; each with value, threshold,
    comparator, status and detail (parsed when it is JSON)."""
    order = {"fail": 0, "error": 1, "pass": 2, "excluded": 3}
    out = []
    for q in quality_rows:
        detail = _json(q.get("detail"), q.get("detail")) if str(q.get("detail") or "").startswith(("{", "[")) else q.get("detail")
        out.append({**q, "detail_parsed": detail})
    return sorted(out, key=lambda q: (order.get(q["status"], 4), q["metric"]))


def text_check(generated: dict | None, metrics: list[dict]) -> list[dict]:
    """The text drawn on the image beside what OCR read back (the text metric's detail), region by region."""
    drawn = _json((generated or {}).get("text_regions"), [])
    text_metric = next((m for m in metrics if m["metric"] == "text"), None)
    read = []
    if text_metric and isinstance(text_metric["detail_parsed"], dict):
        read = text_metric["detail_parsed"].get("regions") or []
    rows = []
    for i, region in enumerate(drawn):
        ocr = read[i] if i < len(read) and read[i].get("intended") == region.get("text") else next(
            (r for r in read if r.get("intended") == region.get("text")), {})
        rows.append({"kind": region.get("kind"), "drawn": region.get("text"), "read": ocr.get("read"),
                     "ok": ocr.get("ok"), "score": ocr.get("score"), "problem": ocr.get("problem")})
    return rows


def item_detail(store, catalog: CatalogCache, item: dict) -> dict:
    """Everything the detail page shows about one queued image."""
    promotion, sku = item["promotion"], item["sku"]
    generated = next((g for g in _rows(store, T.generated(promotion, sku)) if g["image_key"] == item["image_key"]), None)
    metrics = metrics_of([q for q in _rows(store, T.quality(promotion, sku)) if q["image_key"] == item["image_key"]])
    scene = [a for a in _rows(store, T.attempts(promotion, sku))
             if a["role"] == item["role"] and a["platform"] == item["platform"]]
    graded = next((g for g in scene if g["image_key"] == item["image_key"]), None)
    earlier = sorted((a for a in scene if a["image_key"] != item["image_key"]), key=lambda a: a["attempt"] or 0)
    prompt = next((p for p in _rows(store, T.prompts(promotion)) if p["sku"] == sku and p["role"] == item["role"]), None)
    lineage = _json((generated or {}).get("lineage"), {})
    row = catalog.row(sku)
    return {
        "generated": generated, "lineage": lineage, "metrics": metrics, "text": text_check(generated, metrics),
        "graded": graded, "earlier": earlier, "prompt": prompt, "catalog": row,
        "photo_changed": bool(row and lineage.get("source_sha256") and row["photo_sha256"] != lineage["source_sha256"]),
        "failed": [m for m in metrics if m["status"] in ("fail", "error")],
    }


def attempt_row(store, item: dict, attempt: int) -> dict | None:
    """The graded row of an earlier attempt of the item's scene (its image may be shown)."""
    for a in _rows(store, T.attempts(item["promotion"], item["sku"])):
        if a["role"] == item["role"] and a["platform"] == item["platform"] and a["attempt"] == attempt:
            return a
    return None


def promotions_in_store(store) -> list[str]:
    """Promotions with graded images (the folder names under the graded tables)."""
    return sorted({k.split("/")[2] for k in store.list_keys("tables/graded/") if k.count("/") >= 3})


def _skus_of(store, promotion: str) -> list[str]:
    prefix = f"tables/graded/{promotion}/"
    return sorted(k[len(prefix):-len(".parquet")] for k in store.list_keys(prefix)
                  if k.endswith(".parquet") and not k.endswith(".attempts.parquet"))


def published_a_images(store, promotion: str) -> list[dict]:
    """The promotion's A images that are published now (graded publishable and in the SKU's published table),
    with the template that made them: what a spot check draws from."""
    out = []
    for sku in _skus_of(store, promotion):
        published = {(p["role"], p["platform"], p["sha256"]) for p in _rows(store, T.published(promotion, sku))}
        finals = [g for g in _rows(store, T.graded(promotion, sku))
                  if g["grade"] == "A" and g["publishable"] and (g["role"], g["platform"], g["sha256"]) in published]
        if not finals:
            continue
        templates = {g["image_key"]: g.get("template_id") for g in _rows(store, T.generated(promotion, sku))}
        out.extend({**g, "template_id": templates.get(g["image_key"])} for g in finals)
    return out


def scorecard_rows(store, promotion: str) -> tuple[list[dict], dict[str, str | None]]:
    """Every graded attempt of a promotion, and image key -> template id."""
    attempts, templates = [], {}
    for sku in _skus_of(store, promotion):
        attempts.extend(_rows(store, T.attempts(promotion, sku)) or _rows(store, T.graded(promotion, sku)))
        templates.update({g["image_key"]: g.get("template_id") for g in _rows(store, T.generated(promotion, sku))})
    return attempts, templates


def promotion_scorecard(store, queue, promotion: str) -> list[dict]:
    from skucore.publish.scorecard import template_scorecard

    attempts, templates = scorecard_rows(store, promotion)
    return template_scorecard(attempts, templates, queue.export_decisions(promotion))
