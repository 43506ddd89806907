"""The per-SKU stages of a promotion (`assets.stages.PER_SKU_STAGES`) as one subsettable multi-asset over
promotion x sku.

Why one step and not four: inside a run, a downstream step runs only if its upstream step succeeded for the whole
partition range. With four steps, one bad SKU would skip (and mark failed) the later stages of every other SKU
in the run. In one step, each key goes through its stages in turn; a key that fails stops there and is reported,
and every other key goes on to publish. The step still loads the model once for all its keys.

Inside the step, the keys run in a worker pool (`assets.step_pool`: CPU workers up to the usable cores, a device
worker per GPU holding the model, scenes of several SKUs batched together), or, with one worker
(`ExecutionSettings.workers=1`, or a run of one key), one after another in this process. Either way each
finished stage of each key is materialized as it finishes and the run's log shows progress every few seconds.

The publishing gate is enforced per key before publishing (`assets.publish.PublishGate`) and reported as the
blocking `graded_sets_gate` check over the run's keys, so the UI shows why a SKU was held back.
"""
import json
import os
import socket

import dagster as dg

from assets.chunks import GPU_STEP_TAGS, chunked_backfill_policy
from assets.partition_loop import key_events, materialize_events, raise_if_failed
from assets.partitions import from_promotion, from_sku, promotion_sku_partitions
from assets.promotion_run import PerSkuStep
from assets.stages import PER_SKU_STAGES
from resources.cdn import CdnResource
from resources.execution import ExecutionSettings
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.platforms import PlatformSettings
from resources.promotions import PromotionLibrary
from resources.quality import GradingSettings
from resources.storage import StudioStore


def _stage_specs() -> list[dg.AssetSpec]:
    specs, upstream = [], None
    for stage in PER_SKU_STAGES:
        deps = [dg.AssetDep(upstream)] if upstream else [
            dg.AssetDep("prompt_table", partition_mapping=from_promotion),
            dg.AssetDep("product_cutouts", partition_mapping=from_sku),
        ]
        specs.append(dg.AssetSpec(stage.name, deps=deps, group_name="promotion", description=stage.description,
                                  skippable=True))
        upstream = stage.name
    return specs


@dg.multi_asset(
    specs=_stage_specs(),
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
    backfill_policy=chunked_backfill_policy(),  # runs of SKUSTUDIO_CHUNK_SKUS keys (assets/chunks.py)
    can_subset=True,
    name="promotion_sku_stages",
    # Runs that generate hold a model per device for the whole step: limit them to the GPU workers of the
    # instance with `dagster instance concurrency set skustudio_generation <N>` (no limit when unset; docs/DEPLOY.md).
    pool="skustudio_generation",
    op_tags=GPU_STEP_TAGS,  # the Celery executor sends this step to the `gpu` queue
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
    execution: ExecutionSettings,
):
    selected = [s for s in PER_SKU_STAGES if dg.AssetKey(s.name) in context.selected_asset_keys]
    keys = [str(k) for k in context.partition_keys]
    # Which worker ran what, in the run's event log (hosts share one promotion in production).
    context.log.info(f"worker {os.environ.get('SKUSTUDIO_WORKER_NAME') or socket.gethostname()} (pid {os.getpid()}): {len(keys)} partitions")
    step = PerSkuStep(
        store=store, promotions=promotions, grading=grading, gpu_pool=gpu_pool, scene_generator=scene_generator,
        cdn=cdn, platforms=platforms, keys=keys, publish=any(s.name == "cdn_publish" for s in selected),
        log=context.log.info,
    )
    if scene_generator.enabled:
        context.log.info(f"scene generator {scene_generator.backend}; devices {json.dumps(gpu_pool.describe(), default=str)}")
    else:
        context.log.info("no scene generator configured: generated-scene templates render in the studio on the CPU")

    failures: dict[str, str] = {}
    workers = execution.cpu_workers(len(keys))
    if workers > 1:
        from assets.step_pool import StepPool
        from assets.step_worker import WorkerSpec, resource_spec

        resources = dict(store=store, promotions=promotions, grading=grading, gpu_pool=gpu_pool,
                         scene_generator=scene_generator, cdn=cdn, platforms=platforms)
        spec = WorkerSpec(resources={k: resource_spec(v) for k, v in resources.items()}, keys=keys,
                          stages=[s.name for s in selected], publish=step.target is not None,
                          ocr_threads=execution.ocr_threads)
        devices = gpu_pool.describe()["devices"] if scene_generator.enabled else []
        pool = StepPool(spec=spec, keys=keys, step=step, settings=execution, cpu_workers=workers, devices=devices,
                        device_slots=sum(gpu_pool.pool.slots(d) for d in devices),
                        max_batch=scene_generator.max_batch)
        context.log.info(f"worker pool: {workers} CPU workers ({execution.method()}), {pool.in_flight} SKUs each "
                         f"at once" + (f"; a device worker for each of {devices}, batches of up to "
                                       f"{scene_generator.max_batch}" if devices else ""))
        events = pool.key_events()
    else:
        context.log.info("one worker: every SKU in this process, one after another")
        events = key_events(keys, [(s.name, _bind(step, s)) for s in selected])
    yield from materialize_events(context, events, failures, len(keys), unit="SKUs",
                                  every_s=execution.progress_every_s, images_stage="generated_images")

    if dg.AssetCheckKey(dg.AssetKey("graded_sets"), "graded_sets_gate") in context.selected_asset_check_keys:
        held = step.gate.problems
        yield dg.AssetCheckResult(
            asset_key="graded_sets",
            check_name="graded_sets_gate",
            passed=not held,
            metadata={
                "partitions": len(keys),
                "held_back_partitions": dg.MetadataValue.json(sorted(held)[:100]),
                "problems": dg.MetadataValue.json({k: v[:5] for k, v in list(held.items())[:50]}),
            },
            description=(f"{len(held)} of {len(keys)} partitions held back" if held else f"{len(keys)} partitions passed"),
        )
    raise_if_failed(failures, len(keys))


def _bind(step, stage):
    def work(key: str) -> dict:
        promotion_id, _, sku = key.partition("|")
        return stage.work(step, promotion_id, sku)

    return work
