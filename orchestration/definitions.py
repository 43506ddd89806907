"""The code location: every asset, check, job, schedule, sensor and resource of SKU Studio.

Loading this module must stay fast and must not import torch, diffusers or Great Expectations (they load
lazily inside the steps that need them).
"""
import warnings

import dagster as dg

with warnings.catch_warnings():  # per-partition asset checks are a 1.13 preview feature, used deliberately
    warnings.simplefilter("ignore", dg.PreviewWarning)
    warnings.simplefilter("ignore", dg.BetaWarning)
    from assets import catalog as catalog_assets
    from assets import cutouts as cutout_assets
    from assets import pipeline as pipeline_assets
    from assets import prompts as prompt_assets
    from assets import publish as publish_assets

from orchestration.jobs import ALL_JOBS
from orchestration.resources import executor_for_environment, resources_for_environment
from orchestration.schedules import nightly_catalog_sync
from orchestration.sensors import catalog_change_regeneration, manifest_refresh

ASSETS = [
        catalog_assets.catalog,
        catalog_assets.catalog_partitions,
        prompt_assets.prompt_table,
        cutout_assets.product_cutouts,
        pipeline_assets.promotion_sku_stages,
        publish_assets.cdn_manifest,
]
ASSET_CHECKS = [catalog_assets.catalog_gate, prompt_assets.prompt_gate]


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The whole code location; `resources` overrides the environment's (tests point them at temp folders)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=ALL_JOBS,
        schedules=[nightly_catalog_sync],
        sensors=[catalog_change_regeneration, manifest_refresh],
        resources={**resources_for_environment(), **(resources or {})},
        executor=executor_for_environment(),  # local: Dagster's default; production: Celery (gpu / cpu queues)
    )


defs = build_definitions()
