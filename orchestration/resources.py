"""Resources per environment, chosen in one place.

SKUSTUDIO_ENV=local (default): everything embedded (local folders, studio backend on the CPU).
SKUSTUDIO_ENV=production: S3 storage and CDN through dagster-aws, GPU generation; every secret from the environment.
"""
from __future__ import annotations

import os

import dagster as dg

from resources.catalog import CatalogSource
from resources.promotions import PromotionLibrary
from resources.storage import StudioStore, default_home


def local_resources() -> dict:
    home = default_home()
    return {
        "store": StudioStore(root=os.path.join(home, "store")),
        "catalog_source": CatalogSource(),
        "promotions": PromotionLibrary(),
    }


def production_resources() -> dict:
    from dagster_aws.s3 import S3Resource

    s3 = S3Resource(
        endpoint_url=dg.EnvVar("SKUSTUDIO_S3_ENDPOINT_URL").get_value() or None,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    return {
        "store": StudioStore(kind="s3", bucket=dg.EnvVar("SKUSTUDIO_STORE_BUCKET"), s3=s3),
        "catalog_source": CatalogSource(location=dg.EnvVar("SKUSTUDIO_CATALOG"), s3=s3),
        "promotions": PromotionLibrary(),
    }


def resources_for_environment(env: str | None = None) -> dict:
    env = env or os.environ.get("SKUSTUDIO_ENV", "local")
    if env == "local":
        return local_resources()
    if env == "production":
        return production_resources()
    raise ValueError(f"SKUSTUDIO_ENV must be 'local' or 'production', got {env!r}")
