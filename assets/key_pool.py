"""A per-key step's pure CPU work on every core: `pooled_key_events`.

For a stage whose heavy part is a pure function of data the step can load (the cutout: photo in, PNGs and
measurements out), the step's own process loads each key's input (`prepare`), a process pool computes
(`compute`), and the step's process stores the result and reports it (`finish`), as results arrive. That is
enough where the per-SKU step needs its own pool (`assets.step_pool`) for more: resources rebuilt in each
worker, a device worker, near-duplicate hashes held by the parent.

Failures stay per key: a `prepare`, `compute` or `finish` that raises fails that key with its reason. A worker
that dies (killed, out of memory) breaks the pool: every key in flight at that moment (at most `per_worker` per
worker) fails with the reason, and the keys not yet sent go on in a new pool. Workers come from a forkserver (or spawn): never
forked from the step's process, whose Dagster and onnxruntime threads make `fork` unsafe.
"""
from __future__ import annotations

from dataclasses import dataclass
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Sequence

from assets.partition_loop import KeyEvent, failed_event, key_events

# What the forkserver imports once, for every pool of a step's process (the first pool to start it sets it).
FORKSERVER_PRELOAD = ["assets.step_worker", "assets.stages", "assets.promotion_run", "assets.cutouts",
                      "skucore.imaging.render", "skucore.quality.score", "skucore.quality.hash_registry"]


def pooled_key_events(keys: Sequence[str], stage: str, *, prepare: Callable[[str], Any], compute: Callable[[Any], Any],
                      finish: Callable[[str, Any], dict], workers: int, start_method: str = "forkserver",
                      preload: Sequence[str] = (), per_worker: int = 2) -> Iterator[KeyEvent]:
    """`KeyEvent`s of `stage` for each key: `finish(key, compute(prepare(key)))`, with `compute` in `workers`
    processes (a module-level function: it is pickled by name) and at most `per_worker` keys per worker sent at
    once (inputs held in memory). `workers` <= 1: everything in this process, one key after another."""
    if workers <= 1 or len(keys) <= 1:
        yield from key_events(keys, [(stage, lambda key: finish(key, compute(prepare(key))))])
        return
    import multiprocessing as mp

    ctx = mp.get_context(start_method)
    if start_method == "forkserver" and preload:
        ctx.set_forkserver_preload(list(preload))  # takes effect if this process's forkserver is not running yet
    todo = list(keys)
    todo.reverse()  # pop() from the end takes keys in their order
    while todo:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
            running: dict[Future, str] = {}
            broken = False
            while todo or running:
                while todo and not broken and len(running) < workers * per_worker:
                    key = todo.pop()
                    try:
                        running[pool.submit(_portable_call, compute, prepare(key))] = key
                    except BrokenProcessPool:
                        todo.append(key)  # never sent: the next pool takes it
                        broken = True
                    except Exception as exc:  # noqa: BLE001 - this key's input could not be prepared
                        yield failed_event(key, stage, exc)
                        yield KeyEvent("done", key)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    events, died = _finished(running.pop(future), stage, future, finish)
                    broken = broken or died
                    yield from events
            if broken:
                yield KeyEvent("log", reason=f"{stage}: a worker died; {len(todo)} keys go on in a new pool")


def warm_forkserver(start_method: str = "forkserver") -> bool:
    """Start this process's forkserver now, importing `FORKSERVER_PRELOAD` in the background, so the first pool
    of a step later on starts its workers without waiting for those imports (seconds of CPU that run on another
    core meanwhile: `skustudio demo` calls this before the catalog sync). Returns whether a forkserver runs."""
    import multiprocessing as mp

    if start_method != "forkserver" or "forkserver" not in mp.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    mp.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    forkserver.ensure_running()
    return True


def _finished(key: str, stage: str, future: Future, finish: Callable[[str, Any], dict]) -> tuple[list[KeyEvent], bool]:
    """The events of a key whose computation ended, and whether its worker died."""
    try:
        result = future.result()
    except BrokenProcessPool as exc:
        reason = f"a worker process died while this key was being computed ({exc or 'killed or out of memory'})"
        return [KeyEvent("failed", key, stage, reason=reason), KeyEvent("done", key)], True
    except Exception as exc:  # noqa: BLE001 - the call could not be made or answered
        return [failed_event(key, stage, exc), KeyEvent("done", key)], False
    if isinstance(result, _Raised):  # the computation raised for this key
        return [KeyEvent("failed", key, stage, reason=result.reason, detail=result.detail), KeyEvent("done", key)], False
    try:
        outcome = KeyEvent("stage", key, stage, metadata=finish(key, result))
    except Exception as exc:  # noqa: BLE001
        outcome = failed_event(key, stage, exc)
    return [outcome, KeyEvent("done", key)], False


@dataclass
class _Raised:
    """What a worker's computation raised, as text: an exception object may not unpickle in the parent (one with
    required arguments of its own does not), and the pool treats a result it cannot read as a dead worker."""

    reason: str
    detail: str


def _portable_call(compute: Callable[[Any], Any], job: Any) -> Any:
    try:
        return compute(job)
    except Exception as exc:  # noqa: BLE001 - reported for this key, as `key_events` reports it in-process
        failed = failed_event("", "", exc)
        return _Raised(failed.reason, failed.detail)
