"""`generated_images[promotion|sku]`: each SKU's scenes for every platform of the promotion, with lineage."""
import hashlib
import json

import dagster as dg
import pyarrow as pa

from assets import _tables as T
from assets._per_partition import UpstreamMissing, split_key
from assets._thumbs import thumbnail_md
from assets.cutouts import catalog_rows_by_sku, load_cutout
from resources.storage import StudioStore

GENERATED_SCHEMA = pa.schema(
    [
        ("promotion", pa.string()),
        ("sku", pa.string()),
        ("role", pa.string()),
        ("platform", pa.string()),
        ("slot", pa.string()),
        ("attempt", pa.int32()),
        ("image_key", pa.string()),
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("bytes", pa.int64()),
        ("quality", pa.int32()),
        ("fill_ratio", pa.float64()),
        ("product_box", pa.list_(pa.int32())),
        ("fidelity", pa.string()),  # JSON
        ("text_regions", pa.string()),  # JSON list of {kind, text, box}
        ("lineage", pa.string()),  # JSON, the same as embedded in the file
        ("backend", pa.string()),
        ("template_id", pa.string()),
        ("seed", pa.int64()),
        ("prompt_hash", pa.string()),
        ("catalog_hash", pa.string()),  # the catalog row's content hash it was made from (row fields + photo)
    ]
)

_EXT = {"JPEG": "jpg", "PNG": "png"}


def store_rendered(store: StudioStore, promotion: str, sku: str, rendered: list, prompt_rows_by_role: dict,
                   catalog_hash: str | None) -> list[dict]:
    """Write each rendered image (atomic) and return its table rows."""
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


class SkuRenderer:
    """Everything a step needs to render any SKU of a promotion, loaded once per step (not once per SKU)."""

    def __init__(self, context, store, promotions, gpu_pool, scene_generator, promotion_id: str, platforms=None):
        self.context = context
        self.store = store
        self.promotion = promotions.get(promotion_id)
        self.library = promotions.templates()
        self.templates = {t.id: t for t in self.library.all()}
        prompts_key = T.prompts(promotion_id)
        if not store.exists(prompts_key):
            raise UpstreamMissing(f"prompt_table[{promotion_id}] has not been materialized")
        self.prompts: dict[str, list[dict]] = {}
        for row in store.read_table(prompts_key).to_pylist():
            self.prompts.setdefault(row["sku"], []).append(row)
        self.catalog = catalog_rows_by_sku(store)
        self.gpu_pool = gpu_pool
        self.scene_generator = scene_generator
        self.platforms = platforms  # PlatformSettings (configured overrides), or None for the shipped presets

    def needs_generator(self, prompt_rows: list[dict]) -> bool:
        return any(r["backend"] != "studio" for r in prompt_rows)

    def render(self, sku: str, prompt_rows: list[dict] | None = None, attempt: int = 0, partition_key: str = "",
               platforms: list[str] | None = None):
        from skucore.imaging.render import render_sku_images

        row = self.catalog.get(sku)
        if row is None:
            raise KeyError(f"SKU {sku!r} is not in the current catalog (delisted?)")
        cutout, meta = load_cutout(self.store, sku)
        if meta["photo_sha256"] != row["photo_sha256"]:
            raise UpstreamMissing(f"product_cutouts[{sku}] is stale: its photo changed; rerun product_cutouts")
        prompt_rows = prompt_rows if prompt_rows is not None else self.prompts.get(sku, [])
        if not prompt_rows:
            raise UpstreamMissing(f"prompt_table[{self.promotion.id}] has no prompts for SKU {sku!r}")
        for field in ("price", "category"):  # prompts carry the price text and the category's scene roles
            if prompt_rows[0].get(field) is not None and prompt_rows[0].get(field) != row.get(field):
                raise UpstreamMissing(
                    f"prompt_table[{self.promotion.id}] is stale for SKU {sku!r}: its {field} is "
                    f"{prompt_rows[0].get(field)!r}, the catalog's is {row.get(field)!r}; rerun prompt_table"
                )
        kwargs = dict(
            platforms=[self.platforms.preset(p) if self.platforms is not None else p
                       for p in (platforms or self.promotion.platforms)],
            templates_by_id=self.templates,
            source_sha256=row["photo_sha256"],
            attempt=attempt,
            allow_studio_fallback=self.scene_generator.allow_studio_fallback,
        )
        if self.needs_generator(prompt_rows) and self.scene_generator.enabled:
            with self.gpu_pool.lease(partition_key or sku) as device:
                generator = self.scene_generator.generator_for(device)
                return render_sku_images(cutout, row, prompt_rows, self.promotion, scene_generator=generator, **kwargs)
        return render_sku_images(cutout, row, prompt_rows, self.promotion, scene_generator=None, **kwargs)


def renderers_by_promotion(context, store, promotions, gpu_pool, scene_generator, keys: list[str], platforms=None) -> dict:
    out = {}
    for key in keys:
        promotion_id, _ = split_key(key)
        if promotion_id not in out:
            try:
                out[promotion_id] = SkuRenderer(context, store, promotions, gpu_pool, scene_generator, promotion_id, platforms)
            except Exception as exc:  # reported per key below, so the failure names each partition
                out[promotion_id] = exc
    return out


def generate_stage(store: StudioStore, renderer: "SkuRenderer", promotion_id: str, sku: str, key: str) -> dict:
    """generated_images for one key: render every scene x platform, store images and the table."""
    rendered = renderer.render(sku, partition_key=key)
    rows = store_rendered(store, promotion_id, sku, rendered, {r["role"]: r for r in renderer.prompts.get(sku, [])},
                          renderer.catalog[sku]["content_hash"])
    store.write_table(T.generated(promotion_id, sku), pa.Table.from_pylist(rows, schema=GENERATED_SCHEMA))
    fallbacks = sorted({json.loads(r["lineage"]).get("fallback") or "" for r in rows} - {""})
    # Two small inline thumbnails (the main image and one secondary): enough to recognise the partition in
    # the UI without bloating the event log at catalog scale; the folder link shows the rest.
    main_rows = [r for r in rows if r["slot"] == "main"][:1] + [r for r in rows if r["slot"] != "main"][:1]
    return {
        "images": len(rows),
        "catalog_hash": renderer.catalog[sku]["content_hash"],
        "backends": dg.MetadataValue.json(sorted({r["backend"] for r in rows})),
        "fallbacks": dg.MetadataValue.json(fallbacks),
        "bytes": sum(r["bytes"] for r in rows),
        "preview": dg.MetadataValue.md(
            thumbnail_md([(f"{r['role']}/{r['platform']}", store.get_bytes(r["image_key"])) for r in main_rows], side=128)
        ),
        "folder": dg.MetadataValue.path(store.uri(rows[0]["image_key"]).rsplit("/", 1)[0]) if rows else "",
    }
