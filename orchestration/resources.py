"""Resources and the executor per environment, chosen in one place.

SKUSTUDIO_ENV=local (default): everything embedded (local folders, studio backend on the CPU), Dagster's default
executor.
SKUSTUDIO_ENV=production: S3 storage and CDN through dagster-aws, GPU generation, steps on Celery workers
(docs/DEPLOY.md); every secret from the environment.
"""
from __future__ import annotations

import os

import dagster as dg

from resources.catalog import CatalogSource
from resources.cdn import CdnResource
from resources.execution import execution_from_environment
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.platforms import PlatformSettings
from resources.promotions import PromotionLibrary
from resources.quality import GradingSettings, review_db_setting
from resources.storage import StudioStore, default_home


def local_resources(home: str | None = None, catalog: str | None = None) -> dict:
    home = home or default_home()
    return {
        "store": StudioStore(root=os.path.join(home, "store")),
        # Fetched catalog photos beside the store, kept by content hash (SKUSTUDIO_PHOTO_CACHE overrides).
        "catalog_source": CatalogSource(
            **({"location": catalog} if catalog else {}),
            photo_cache=os.environ.get("SKUSTUDIO_PHOTO_CACHE") or os.path.join(home, "store", "photo-cache"),
        ),
        "promotions": PromotionLibrary(),
        "grading": GradingSettings(review_db=review_db_setting(os.path.join(home, "review", "queue.sqlite"))),
        # No generator on a fresh machine: generated-scene templates render with the studio backend on the CPU
        # (allow_studio_fallback) and their lineage says so.
        "gpu_pool": GpuPoolResource(lease_dir=os.path.join(home, "leases")),
        "scene_generator": SceneGeneratorResource(backend=os.environ.get("SKUSTUDIO_GENERATOR", "none")),
        "cdn": CdnResource(kind="local", local_root=os.path.join(home, "cdn")),
        "platforms": PlatformSettings(),
        # Worker processes of the per-SKU step: SKUSTUDIO_WORKERS (default: the usable cores; 1 = in-process).
        "execution": execution_from_environment(),
    }


def production_resources() -> dict:
    from dagster_aws.s3 import S3Resource

    s3 = S3Resource(
        endpoint_url=dg.EnvVar("SKUSTUDIO_S3_ENDPOINT_URL").get_value() or None,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    return {
        "store": StudioStore(kind="s3", bucket=dg.EnvVar("SKUSTUDIO_STORE_BUCKET"), s3=s3),
        # Fetched catalog photos under the store's bucket (SKUSTUDIO_PHOTO_CACHE: another s3://bucket/prefix).
        "catalog_source": CatalogSource(
            location=dg.EnvVar("SKUSTUDIO_CATALOG"), s3=s3,
            photo_cache=os.environ.get("SKUSTUDIO_PHOTO_CACHE") or (
                f"s3://{os.environ['SKUSTUDIO_STORE_BUCKET']}/skustudio/photo-cache"
                if os.environ.get("SKUSTUDIO_STORE_BUCKET") else None),
        ),
        "promotions": PromotionLibrary(),
        "grading": GradingSettings(
            review_db=review_db_setting("/var/lib/skustudio/review.sqlite")  # SKUSTUDIO_REVIEW_DB_URL
        ),
        "gpu_pool": GpuPoolResource(
            devices=[d for d in os.environ.get("SKUSTUDIO_GPU_DEVICES", "auto").split(",") if d],
            lease_dir=os.environ.get("SKUSTUDIO_LEASE_DIR", "/var/lib/skustudio/leases"),
            # the device check's JSON (bench/device_check.py) sizes slots and batches from measured memory
            memory_profile=os.environ.get("SKUSTUDIO_MEMORY_PROFILE") or None,
            extra_weights_gib=_env_float("SKUSTUDIO_EXTRA_WEIGHTS_GIB", 0.0),
        ),
        "scene_generator": SceneGeneratorResource(
            backend=os.environ.get("SKUSTUDIO_GENERATOR", "diffusers"),
            # In production a missing model or a dead server must fail the SKU loudly, not quietly degrade
            # every generated scene to a studio render.
            allow_studio_fallback=os.environ.get("SKUSTUDIO_ALLOW_STUDIO_FALLBACK", "false").lower() == "true",
            model=os.environ.get("SKUSTUDIO_MODEL", "Tongyi-MAI/Z-Image-Turbo"),
            endpoints=[e for e in os.environ.get("SKUSTUDIO_IMAGE_SERVERS", "").split(",") if e],
            # what to do when the image servers cannot inpaint: fail (default), composite, in_process
            inpaint_unsupported=os.environ.get("SKUSTUDIO_INPAINT_UNSUPPORTED", "fail"),
            controlnet=os.environ.get("SKUSTUDIO_CONTROLNET") or None,
            controlnet_config=os.environ.get("SKUSTUDIO_CONTROLNET_CONFIG") or None,
            memory_profile=os.environ.get("SKUSTUDIO_MEMORY_PROFILE") or None,
        ),
        "cdn": CdnResource(
            kind="s3",
            bucket=dg.EnvVar("SKUSTUDIO_CDN_BUCKET"),
            base_url=os.environ.get("SKUSTUDIO_CDN_BASE_URL"),
            s3=s3,
        ),
        "execution": execution_from_environment(),
    }


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def platform_settings() -> PlatformSettings:
    """Marketplace rule overrides from SKUSTUDIO_PLATFORM_OVERRIDES (a YAML/JSON file), the same everywhere."""
    path = os.environ.get("SKUSTUDIO_PLATFORM_OVERRIDES")
    if not path:
        return PlatformSettings()
    import yaml

    with open(path, encoding="utf-8") as fh:
        overrides = yaml.safe_load(fh) or {}
    settings = PlatformSettings(overrides=overrides)
    try:
        settings.validate()
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return settings


def executor_for_environment(env: str | None = None) -> dg.ExecutorDefinition | None:
    """local: Dagster's default (multiprocess; in-process where the caller asks). production: steps on Celery
    workers over Redis (`orchestration.celery_fleet`), gpu and cpu queues."""
    env = env or os.environ.get("SKUSTUDIO_ENV", "local")
    if env == "production":
        from orchestration.celery_fleet import production_executor

        return production_executor()
    return None


def resources_for_environment(env: str | None = None) -> dict:
    env = env or os.environ.get("SKUSTUDIO_ENV", "local")
    if env == "local":
        return {**local_resources(), "platforms": platform_settings()}
    if env == "production":
        return {**production_resources(), "platforms": platform_settings()}
    raise ValueError(f"SKUSTUDIO_ENV must be 'local' or 'production', got {env!r}")
