"""The main job on the embedded defaults: sample catalog -> catalog sync -> one promotion through every stage,
on a persistent Dagster instance (so the runs show up in the UI afterwards)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg


def prepare_home(home: str | os.PathLike | None) -> Path:
    """SKUSTUDIO_HOME holds the store, CDN folder, review queue and DAGSTER_HOME; default ./var."""
    home = Path(home or os.environ.get("SKUSTUDIO_HOME") or "var").resolve()
    os.environ["SKUSTUDIO_HOME"] = str(home)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster_home").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return home


@dataclass
class StageResult:
    name: str
    success: bool
    failed: list[str] = field(default_factory=list)


def _failed_keys(result) -> list[str]:
    failed = []
    for event in result.all_events:
        if event.is_step_failure:
            md = event.step_failure_data.user_failure_data.metadata if event.step_failure_data.user_failure_data else {}
            value = md.get("failed_partitions")
            failed.extend(value.value if value is not None else [event.step_key])
    return failed


def run_stage(defs: dg.Definitions, job_name: str, instance, *, partition_key=None, start=None, end=None) -> StageResult:
    from assets.partitions import range_tags

    job = defs.resolve_job_def(job_name)
    tags = range_tags(start, end) if start is not None else {}
    # Dagster's console logger at WARNING: the demo prints its own one-line progress per stage; every event is
    # still in the instance (and the UI).
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = job.execute_in_process(
        instance=instance, partition_key=partition_key, tags=tags, raise_on_error=False, run_config=run_config
    )
    return StageResult(job_name, result.success, _failed_keys(result))


def run_demo(*, promotion: str = "double11", limit: int | None = None, home=None, echo=print, defs=None,
             on_progress=None) -> dict:
    """`on_progress(progress)`: called as each per-key step of the demo finishes a key (an
    `assets.partition_loop.Progress`: keys done of total, images, rate, time left), for a progress bar."""
    home = prepare_home(home)
    if defs is None:
        from orchestration.definitions import build_definitions
        from orchestration.resources import resources_for_environment

        defs = build_definitions(resources_for_environment())  # resolved after prepare_home set SKUSTUDIO_HOME
    from assets.partitions import SKUS

    instance = dg.DagsterInstance.get()
    summary: dict = {"home": str(home), "dagster_home": os.environ["DAGSTER_HOME"], "stages": []}
    execution = defs.resources.get("execution")
    if execution is not None and execution.cpu_workers(2) > 1:
        from assets.key_pool import warm_forkserver

        # The worker pools' imports run on another core while the catalog syncs (one worker: nothing to warm).
        warm_forkserver(execution.method())
    echo(f"SKU Studio demo: home {home}")

    stage = run_stage(defs, "catalog_sync", instance)
    summary["stages"].append(stage)
    echo(f"  catalog sync: {'ok' if stage.success else 'FAILED'}")
    if not stage.success:
        return summary
    skus = instance.get_dynamic_partitions(SKUS)
    if limit:
        skus = skus[:limit]
    summary["skus"] = len(skus)

    from assets.partition_loop import watch_progress

    for job_name, kwargs in _promotion_stages(defs, instance, promotion, skus):
        with watch_progress(on_progress) if on_progress else contextlib.nullcontext():
            stage = run_stage(defs, job_name, instance, **kwargs)
        summary["stages"].append(stage)
        status = "ok" if stage.success else f"FAILED ({len(stage.failed)} partitions: {', '.join(stage.failed[:5])})"
        echo(f"  {job_name}: {status}")
    summary["report"] = promotion_report(promotion, skus, defs)
    return summary


def promotion_report(promotion: str, skus: list[str], defs) -> list[str]:
    """Counts per grade, where the manifest and the review queue are: what a person wants after a run."""
    from skucore import tables as T
    from skucore.publish.publishing import manifest_key

    res = defs.resources
    store, cdn, grading = res["store"], res["cdn"], res["grading"]
    grades = {"A": 0, "B": 0, "C": 0}
    published = pending = 0
    for sku in skus:
        graded = store.read_table_or_none(T.graded(promotion, sku))
        for row in graded.to_pylist() if graded is not None else []:
            grades[row["grade"]] = grades.get(row["grade"], 0) + 1
            pending += int(row["grade"] == "B" and row["decision"] is None)
        pub = store.read_table_or_none(T.published(promotion, sku))
        published += pub.num_rows if pub is not None else 0
    target = cdn.target()
    lines = [
        f"Promotion {promotion}: {len(skus)} SKUs, grades A={grades['A']} B={grades['B']} C={grades['C']}, "
        f"{published} images published",
        f"  CDN manifest: {target.url_for(manifest_key(promotion))}",
        f"  review queue ({pending} images await a person): {grading.review_db}  (skustudio review list)",
    ]
    return lines


def _promotion_stages(defs, instance, promotion, skus):
    from assets.partitions import promotion_range

    start, end = promotion_range(instance, promotion, skus)
    yield "promotion_prompts", {"partition_key": promotion}
    yield "sku_cutouts", {"start": skus[0], "end": skus[-1]}
    yield "promotion_images", {"start": start, "end": end}
    yield "promotion_manifest", {"partition_key": promotion}
