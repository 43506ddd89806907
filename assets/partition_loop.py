"""Failure isolation and progress for the per-key steps.

A run over a range of partitions succeeds or fails as a whole, so each per-key step loops over the run's
partition keys itself: each key goes through the step's stages in turn; a key whose stage fails is logged with
its reason and stops there; every stage a key finished is reported with its own
`AssetMaterialization(partition=key)` as soon as it finishes; and the step fails at the end naming the failed
keys. Dagster then records only the failed keys as failed (seen with dagster 1.13.27), so one bad SKU never marks
another SKU failed, and a rerun "from failure" picks up exactly the failed keys.

Where the keys run (here, one after another: `key_events`; or in worker processes: `assets.step_pool`) only
changes who produces the `KeyEvent`s; `materialize_events` turns them into Dagster events, the failure list and
a progress line in the run's log every few seconds (keys done of total, images per second, time left), which
in-process listeners (`watch_progress`: the demo's progress bar) also receive.
"""
from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import dagster as dg


class UpstreamMissing(Exception):
    """An upstream partition this key needs has not been materialized (it failed earlier or never ran)."""


def split_key(key: str) -> tuple[str, str]:
    """'promotion|sku' -> (promotion, sku)."""
    promotion, _, sku = key.partition("|")
    return promotion, sku


@dataclass
class KeyEvent:
    """What happened to a key: "stage" (a stage finished, with its metadata), "failed" (a stage raised: reason,
    traceback), "done" (the key is finished either way; a pool adds the key's publishing-gate problems) or
    "log" (a line for the run's log)."""

    kind: str
    key: str = ""
    stage: str | None = None
    metadata: dict | None = None
    reason: str | None = None
    detail: str | None = None
    gate_problems: list[str] | None = None


def failed_event(key: str, stage: str, exc: BaseException) -> KeyEvent:
    """The "failed" event of `key` at `stage` for `exc`: its type and message as the reason, the traceback."""
    return KeyEvent("failed", key, stage, reason=f"{type(exc).__name__}: {exc}",
                    detail="".join(traceback.format_exception(exc)))


def key_events(keys: Sequence[str], stages: Sequence[tuple[str, Callable[[str], dict]]]) -> Iterator[KeyEvent]:
    """Run `stages` (asset name, work(key) -> metadata) for each key in order, in this process."""
    for key in keys:
        for asset_name, work in stages:
            try:
                metadata = work(key)
            except Exception as exc:  # isolate: this key stops here, the others go on
                yield failed_event(key, asset_name, exc)
                break
            yield KeyEvent("stage", key, asset_name, metadata=metadata)
        yield KeyEvent("done", key)


# ---- progress ---------------------------------------------------------------------------------------------
@dataclass
class Progress:
    """Keys done of total, images made, rate and time left of one step."""

    total: int
    unit: str = "partitions"
    done: int = 0
    failed: int = 0
    images: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def images_per_s(self) -> float:
        return self.images / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.done:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)

    def line(self) -> str:
        parts = [f"{self.done}/{self.total} {self.unit} done" + (f" ({self.failed} failed)" if self.failed else "")]
        if self.images:
            parts.append(f"{self.images} images, {self.images_per_s:.2f} images/s")
        parts.append(f"{_duration(self.elapsed_s)} elapsed")
        if self.done < self.total:
            eta = self.eta_s
            parts.append(f"about {_duration(eta)} left" if eta is not None else "time left not known yet")
        return "progress: " + ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


_LISTENERS: list[Callable[[Progress], None]] = []


@contextlib.contextmanager
def watch_progress(listener: Callable[[Progress], None]):
    """Call `listener(progress)` whenever a per-key step in this process finishes a key (and at its start)."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


def _notify(progress: Progress) -> None:
    for listener in list(_LISTENERS):
        try:
            listener(progress)
        except Exception:  # a display problem never fails the step
            pass


def materialize_events(context, events: Iterable[KeyEvent], failures: dict[str, str], total: int, *,
                       unit: str = "partitions", every_s: float = 5.0,
                       images_stage: str | None = None) -> Iterator[dg.AssetMaterialization]:
    """Turn `events` into materializations, failures (`failures[key] = reason`) and progress lines: one when a
    key finishes if `every_s` has passed since the last, and the last one. `images_stage`: the stage whose
    metadata "images" counts images made."""
    progress = Progress(total, unit)
    _notify(progress)
    last_line, finished_logged = time.perf_counter(), False
    for ev in events:
        if ev.kind == "stage":
            yield dg.AssetMaterialization(asset_key=ev.stage, partition=ev.key, metadata=ev.metadata)
            if ev.stage == images_stage and isinstance((ev.metadata or {}).get("images"), int):
                progress.images += ev.metadata["images"]
        elif ev.kind == "failed":
            failures[ev.key] = f"{ev.stage}: {ev.reason}"
            context.log.error(f"{ev.stage}[{ev.key}] failed: {ev.reason}\n{ev.detail or ''}".rstrip())
        elif ev.kind == "log":
            context.log.info(ev.reason or "")
        elif ev.kind == "done":
            progress.done += 1
            progress.failed += int(ev.key in failures)
            _notify(progress)
        finished = progress.done == total
        if ev.kind in ("done", "tick") and not finished_logged and (time.perf_counter() - last_line >= every_s or finished):
            context.log.info(progress.line())
            last_line, finished_logged = time.perf_counter(), finished


def materialize_stages(
    context: dg.AssetExecutionContext,
    keys: Sequence[str],
    stages: Sequence[tuple[str, Callable[[str], dict]]],
    failures: dict[str, str],
) -> Iterator[dg.AssetMaterialization]:
    """Run `stages` (asset name, work(key) -> metadata) for each key in order in this process; record failures
    in `failures`."""
    yield from materialize_events(context, key_events(keys, stages), failures, len(keys))


def raise_if_failed(failures: dict[str, str], total: int) -> None:
    if not failures:
        return
    lines = "\n".join(f"- `{k}`: {v}" for k, v in sorted(failures.items()))
    raise dg.Failure(
        description=f"{len(failures)} of {total} partitions failed:\n{lines}",
        metadata={
            "failed_partitions": dg.MetadataValue.json(sorted(failures)),
            "failed_count": len(failures),
            "succeeded_count": total - len(failures),
        },
    )
