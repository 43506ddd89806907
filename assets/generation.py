"""`generated_images[promotion|sku]`: each SKU's scenes for every platform of the promotion, with lineage."""
import hashlib
import json

import dagster as dg
import pyarrow as pa

from skucore import tables as T

from assets.metadata import thumbnail_md

_EXT = {"JPEG": "jpg", "PNG": "png"}


def store_rendered(store, promotion: str, sku: str, rendered: list, prompt_rows_by_role: dict,
                   catalog_hash: str | None) -> list[dict]:
    """Write each rendered image (atomic) and return its generated_images rows."""
    rows = []
    for img in rendered:
        sha = hashlib.sha256(img.data).hexdigest()
        attempt = int(img.lineage.get("attempt", 0))
        key = T.image(promotion, sku, img.role, img.platform, attempt, sha, _EXT.get(img.format.upper(), "bin"))
        store.put_bytes(key, img.data)
        prompt = prompt_rows_by_role.get(img.role, {})
        rows.append(
            {
                "promotion": promotion,
                "sku": sku,
                "role": img.role,
                "platform": img.platform,
                "slot": img.slot,
                "attempt": attempt,
                "image_key": key,
                "sha256": sha,
                "format": img.format.upper(),
                "width": int(img.width),
                "height": int(img.height),
                "bytes": len(img.data),
                "quality": int(img.quality or 0),
                "fill_ratio": float(img.fill_ratio),
                "product_box": [int(v) for v in img.product_box],
                "fidelity": json.dumps(img.fidelity, default=float),
                "text_regions": json.dumps([{"kind": r.kind, "text": r.text, "box": list(r.box)} for r in img.text_regions]),
                "lineage": json.dumps(img.lineage, default=str, ensure_ascii=False),
                "backend": img.backend,
                "template_id": img.lineage.get("template_id") or prompt.get("template_id"),
                "seed": int(img.lineage.get("seed", prompt.get("seed", 0)) or 0),
                "prompt_hash": img.lineage.get("prompt_hash") or prompt.get("prompt_hash"),
                "catalog_hash": catalog_hash,
            }
        )
    return rows


def generate_stage(step, promotion_id: str, sku: str) -> dict:
    """generated_images for one key: render every scene x platform, store images and the table."""
    run = step.run_for(promotion_id)
    store = step.store
    rendered = run.render(sku, partition_key=f"{promotion_id}|{sku}")
    rows = store_rendered(store, promotion_id, sku, rendered, {r["role"]: r for r in run.prompts.get(sku, [])},
                          run.catalog[sku]["content_hash"])
    store.write_table(T.generated(promotion_id, sku), pa.Table.from_pylist(rows, schema=T.GENERATED_SCHEMA))
    fallbacks = sorted({json.loads(r["lineage"]).get("fallback") or "" for r in rows} - {""})
    # Two small inline thumbnails (the main image and one secondary): enough to recognise the partition in
    # the UI without bloating the event log at catalog scale; the folder link shows the rest.
    main_rows = [r for r in rows if r["slot"] == "main"][:1] + [r for r in rows if r["slot"] != "main"][:1]
    return {
        "images": len(rows),
        "catalog_hash": run.catalog[sku]["content_hash"],
        "backends": dg.MetadataValue.json(sorted({r["backend"] for r in rows})),
        "fallbacks": dg.MetadataValue.json(fallbacks),
        "bytes": sum(r["bytes"] for r in rows),
        "preview": dg.MetadataValue.md(
            thumbnail_md([(f"{r['role']}/{r['platform']}", store.get_bytes(r["image_key"])) for r in main_rows], side=128)
        ),
        "folder": dg.MetadataValue.path(store.uri(rows[0]["image_key"]).rsplit("/", 1)[0]) if rows else "",
    }
