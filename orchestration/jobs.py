"""Jobs: the catalog sync, and the per-promotion image pipeline that backfills run over."""
from __future__ import annotations

import dagster as dg

from orchestration.partitions import promotion_sku_partitions

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
