"""Jobs: the catalog sync, and the per-promotion stages that backfills and the demo run."""
import dagster as dg

from assets.stages import PER_SKU_STAGE_NAMES


catalog_sync_job = dg.define_asset_job(
    "catalog_sync",
    selection=dg.AssetSelection.assets("catalog_table", "catalog_rejects", "catalog_partitions"),
    description="Nightly: ingest the catalog, gate it, and sync SKU and promotion partitions.",
)

promotion_prompts_job = dg.define_asset_job(
    "promotion_prompts",
    selection=dg.AssetSelection.assets("prompt_table"),
    description="Render a promotion's prompt table (one partition per promotion).",
)

sku_cutouts_job = dg.define_asset_job(
    "sku_cutouts",
    selection=dg.AssetSelection.assets("product_cutouts"),
    description="Cut out SKUs' products (a range of SKU partitions in one run).",
)

promotion_images_job = dg.define_asset_job(
    "promotion_images",
    selection=dg.AssetSelection.assets(*PER_SKU_STAGE_NAMES),
    description="Generate, score, grade and publish a promotion's SKUs (backfill it over promotion x sku).",
)

promotion_manifest_job = dg.define_asset_job(
    "promotion_manifest",
    selection=dg.AssetSelection.assets("cdn_manifest"),
    description="Write a promotion's CDN manifest from what is published.",
)

ALL_JOBS = [catalog_sync_job, promotion_prompts_job, sku_cutouts_job, promotion_images_job, promotion_manifest_job]
