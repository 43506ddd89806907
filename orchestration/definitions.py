"""The code location: every asset, check, job, schedule, sensor and resource of SKU Studio.

Loading this module must stay fast and must not import torch, diffusers or Great Expectations (they load
lazily inside the steps that need them).
"""
from __future__ import annotations

import dagster as dg

from assets import catalog as catalog_assets
from assets import prompts as prompt_assets
from orchestration.jobs import catalog_sync_job, promotion_prompts_job
from orchestration.resources import resources_for_environment
from orchestration.schedules import nightly_catalog_sync

defs = dg.Definitions(
    assets=[catalog_assets.catalog, catalog_assets.catalog_partitions, prompt_assets.prompt_table],
    asset_checks=[catalog_assets.catalog_gate, prompt_assets.prompt_gate],
    jobs=[catalog_sync_job, promotion_prompts_job],
    schedules=[nightly_catalog_sync],
    resources=resources_for_environment(),
)
