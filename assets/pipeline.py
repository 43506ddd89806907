"""The per-SKU stages of a promotion, `generated_images -> quality_scores -> graded_sets -> cdn_publish`, as
one subsettable multi-asset over promotion x sku.

Why one step and not four: inside a run, a downstream step runs only if its upstream step succeeded for the whole
partition range. With four steps, one bad SKU would skip (and mark failed) the later stages of every other SKU
in the run. In one step, each key goes through its stages in turn; a key that fails stops there and is reported,
and every other key goes on to publish. The step still loads the model once for all its keys.

The publishing gate is enforced per key before publishing (`publish_gate_problems`) and reported as the
blocking `graded_sets_gate` check over the run's keys, so the UI shows why a SKU was held back.
"""
import json
import time
import traceback

import dagster as dg

from assets._per_partition import split_key
from assets.generation import SkuRenderer, generate_stage, renderers_by_promotion
from assets.publish import publish_stage
from assets.quality import _promotion_contexts, graded_stage, publish_gate_problems, quality_stage
from orchestration.partitions import from_promotion, from_sku, promotion_sku_partitions
from resources.cdn import CdnResource
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.promotions import PromotionLibrary
from resources.quality import GradingSettings
from resources.storage import StudioStore

STAGES = ("generated_images", "quality_scores", "graded_sets", "cdn_publish")


class PublishGateClosed(Exception):
    """graded_sets_gate refused a SKU's graded set."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "generated_images",
            deps=[
                dg.AssetDep("prompt_table", partition_mapping=from_promotion),
                dg.AssetDep("product_cutouts", partition_mapping=from_sku),
            ],
            group_name="promotion",
            description="Each SKU's scenes for every platform of the promotion (studio on the CPU, Z-Image on GPUs), with lineage.",
            skippable=True,
        ),
        dg.AssetSpec(
            "quality_scores",
            deps=["generated_images"],
            group_name="promotion",
            description="Every image measured: each metric with its value, threshold and pass/fail.",
            skippable=True,
        ),
        dg.AssetSpec(
            "graded_sets",
            deps=["quality_scores"],
            group_name="promotion",
            description="A (publish), B (review) or C (regenerate) per image; C's regenerate; every attempt kept.",
            skippable=True,
        ),
        dg.AssetSpec(
            "cdn_publish",
            deps=["graded_sets"],
            group_name="promotion",
            description="Each SKU's A and approved B images on the CDN under content-addressed keys.",
            skippable=True,
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "graded_sets_gate",
            asset="graded_sets",
            blocking=True,
            description="Publishing gate: every image graded, no A that failed a hard rule, no C left, "
            "nothing publishable but A's and approved B's.",
        )
    ],
    partitions_def=promotion_sku_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    name="promotion_sku_stages",
)
def promotion_sku_stages(
    context: dg.AssetExecutionContext,
    store: StudioStore,
    promotions: PromotionLibrary,
    grading: GradingSettings,
    gpu_pool: GpuPoolResource,
    scene_generator: SceneGeneratorResource,
    cdn: CdnResource,
):
    selected = [s for s in STAGES if dg.AssetKey(s) in context.selected_asset_keys]
    keys = [str(k) for k in context.partition_keys]
    renderers = renderers_by_promotion(context, store, promotions, gpu_pool, scene_generator, keys)
    contexts = _promotion_contexts(store, promotions, keys)
    target = cdn.target() if "cdn_publish" in selected else None
    never_a = grading.grading_config().never_a
    if scene_generator.enabled:
        context.log.info(f"scene generator {scene_generator.backend}; devices {json.dumps(gpu_pool.describe(), default=str)}")
    else:
        context.log.info("no scene generator configured: generated-scene templates render in the studio on the CPU")

    failures: dict[str, str] = {}
    gate_problems: dict[str, list[str]] = {}
    done = 0
    started = time.perf_counter()
    for i, key in enumerate(keys, 1):
        promotion_id, sku = split_key(key)
        for stage in selected:
            try:
                renderer = renderers[promotion_id]
                if isinstance(renderer, Exception) and stage in ("generated_images", "graded_sets"):
                    raise renderer
                if stage == "generated_images":
                    metadata = generate_stage(store, renderer, promotion_id, sku, key)
                elif stage == "quality_scores":
                    metadata = quality_stage(store, contexts[promotion_id], grading, promotion_id, sku)
                elif stage == "graded_sets":
                    metadata = graded_stage(store, renderer, contexts[promotion_id], grading, promotion_id, sku, log=context.log.info)
                    problems = publish_gate_problems(store.read_table(_graded_key(promotion_id, sku)).to_pylist(), never_a)
                    if problems:
                        gate_problems[key] = problems
                else:
                    if key in gate_problems or _gate_now(store, promotion_id, sku, never_a, gate_problems, key):
                        raise PublishGateClosed(f"graded_sets_gate is closed: {'; '.join(gate_problems[key][:5])}")
                    metadata = publish_stage(store, target, promotion_id, sku)
            except Exception as exc:  # isolate: this key stops here, the others go on
                failures[key] = f"{stage}: {type(exc).__name__}: {exc}"
                context.log.error(f"{stage}[{key}] failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                break
            yield dg.AssetMaterialization(asset_key=stage, partition=key, metadata=metadata)
        else:
            done += 1
        if i % 10 == 0 or i == len(keys):
            context.log.info(f"{i}/{len(keys)} partitions through {', '.join(selected)} in {time.perf_counter() - started:.1f}s")

    if dg.AssetCheckKey(dg.AssetKey("graded_sets"), "graded_sets_gate") in context.selected_asset_check_keys:
        yield dg.AssetCheckResult(
            asset_key="graded_sets",
            check_name="graded_sets_gate",
            passed=not gate_problems,
            metadata={
                "partitions": len(keys),
                "held_back_partitions": dg.MetadataValue.json(sorted(gate_problems)[:100]),
                "problems": dg.MetadataValue.json({k: v[:5] for k, v in list(gate_problems.items())[:50]}),
            },
            description=(f"{len(gate_problems)} of {len(keys)} partitions held back" if gate_problems else f"{len(keys)} partitions passed"),
        )
    if failures:
        lines = "\n".join(f"- `{k}`: {v}" for k, v in sorted(failures.items()))
        raise dg.Failure(
            description=f"{len(failures)} of {len(keys)} partitions failed:\n{lines}",
            metadata={
                "failed_partitions": dg.MetadataValue.json(sorted(failures)),
                "failed_count": len(failures),
                "succeeded_count": done,
            },
        )


def _graded_key(promotion_id, sku):
    from assets import _tables as T

    return T.graded(promotion_id, sku)


def _gate_now(store, promotion_id, sku, never_a, gate_problems, key) -> bool:
    """When graded_sets was not in this run's selection, evaluate the gate on the stored graded set."""
    if not store.exists(_graded_key(promotion_id, sku)):
        return False  # publish_stage reports the missing upstream itself
    problems = publish_gate_problems(store.read_table(_graded_key(promotion_id, sku)).to_pylist(), never_a)
    if problems:
        gate_problems[key] = problems
        return True
    return False
