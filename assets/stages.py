"""The per-SKU stages of a promotion, declared once: the multi-asset step, the jobs, the sensors, the CLI and
docs/CONTRACTS.md all read this table. Each stage's `work(step, promotion_id, sku) -> metadata` runs one key;
a key goes through the stages in this order."""
from dataclasses import dataclass
from typing import Callable

from assets.generation import generate_stage
from assets.publish import publish_stage
from assets.quality import grade_stage, quality_stage


@dataclass(frozen=True)
class PerSkuStage:
    name: str
    description: str
    work: Callable[..., dict]


PER_SKU_STAGES: tuple[PerSkuStage, ...] = (
    PerSkuStage(
        "generated_images",
        "Each SKU's scenes for every platform of the promotion (studio on the CPU, Z-Image on GPUs), with lineage.",
        generate_stage,
    ),
    PerSkuStage("quality_scores", "Every image measured: each metric with its value, threshold and pass/fail.", quality_stage),
    PerSkuStage(
        "graded_sets", "A (publish), B (review) or C (regenerate) per image; C's regenerate; every attempt kept.", grade_stage
    ),
    PerSkuStage("cdn_publish", "Each SKU's A and approved B images on the CDN under content-addressed keys.", publish_stage),
)

PER_SKU_STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in PER_SKU_STAGES)
