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

import dagster as dg

from assets import _tables as T
from assets._per_partition import materialize_stages, raise_if_failed, split_key
from assets.generation import generate_stage, renderers_by_promotion
from assets.publish import publish_stage, refresh_review_decisions
from assets.quality import _promotion_contexts, graded_stage, publish_gate_problems, quality_stage
from orchestration.partitions import from_promotion, from_sku, promotion_sku_partitions
from resources.cdn import CdnResource
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.platforms import PlatformSettings
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
    # Runs that generate hold a model per device for the whole step: limit them per host with
    # `dagster instance concurrency set skustudio_generation <GPUs>` (no limit when unset).
    pool="skustudio_generation",
)
def promotion_sku_stages(
    context: dg.AssetExecutionContext,
    store: StudioStore,
    promotions: PromotionLibrary,
    grading: GradingSettings,
    gpu_pool: GpuPoolResource,
    scene_generator: SceneGeneratorResource,
    cdn: CdnResource,
    platforms: PlatformSettings,
):
    selected = [s for s in STAGES if dg.AssetKey(s) in context.selected_asset_keys]
    keys = [str(k) for k in context.partition_keys]
    renderers = renderers_by_promotion(context, store, promotions, gpu_pool, scene_generator, keys, platforms)
    contexts = _promotion_contexts(store, promotions, keys, platforms.preset)
    target = cdn.target() if "cdn_publish" in selected else None
    queue = grading.review_queue()
    never_a = grading.grading_config().never_a
    if scene_generator.enabled:
        context.log.info(f"scene generator {scene_generator.backend}; devices {json.dumps(gpu_pool.describe(), default=str)}")
    else:
        context.log.info("no scene generator configured: generated-scene templates render in the studio on the CPU")

    failures: dict[str, str] = {}
    gate_problems: dict[str, list[str]] = {}

    def renderer_for(promotion_id: str):
        renderer = renderers[promotion_id]
        if isinstance(renderer, Exception):  # e.g. the promotion file broke: reported for each of its keys
            raise renderer
        return renderer

    def generate(key):
        promotion_id, sku = split_key(key)
        return generate_stage(store, renderer_for(promotion_id), promotion_id, sku, key)

    def score(key):
        promotion_id, sku = split_key(key)
        return quality_stage(store, contexts[promotion_id], grading, promotion_id, sku)

    def grade(key):
        promotion_id, sku = split_key(key)
        metadata = graded_stage(store, renderer_for(promotion_id), contexts[promotion_id], grading, promotion_id, sku,
                                log=context.log.info)
        problems = publish_gate_problems(store.read_table(T.graded(promotion_id, sku)).to_pylist(), never_a)
        if problems:
            gate_problems[key] = problems
        return metadata

    def publish(key):
        promotion_id, sku = split_key(key)
        graded = refresh_review_decisions(store, queue, promotion_id, sku)
        if key not in gate_problems:
            problems = publish_gate_problems(graded, never_a)
            if problems:
                gate_problems[key] = problems
        if key in gate_problems:
            raise PublishGateClosed(f"graded_sets_gate is closed: {'; '.join(gate_problems[key][:5])}")
        return publish_stage(store, target, promotion_id, sku, graded)

    work = {"generated_images": generate, "quality_scores": score, "graded_sets": grade, "cdn_publish": publish}
    yield from materialize_stages(context, keys, [(s, work[s]) for s in selected], failures)

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
    raise_if_failed(failures, len(keys))
