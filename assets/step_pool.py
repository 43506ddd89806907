"""The per-SKU step's worker pool: the parent side, in the Dagster step's process.

The step hands its keys to CPU worker processes (`assets.step_worker.cpu_worker_main`; as many as
`ExecutionSettings.cpu_workers`), each holding a few keys at once, and turns what they report into `KeyEvent`s
as it arrives, so each finished stage of each SKU is materialized while the others run. With a scene generator, a
device worker per device of the GPU pool (`device_worker_main`, started when the first scene is asked for)
loads the model once and runs the batches this parent forms: requests of any SKUs that share a mode and size, up
to `max_batch`, to the device with the most free slots. The parent also keeps each promotion's near-duplicate
hashes (`skucore.quality.hash_registry.PromotionHashes`): workers ask it, so no two SKUs escape comparison.

A worker that dies (killed, out of memory) fails only the keys it held, each with the reason, and a new worker
takes its place; a device worker's death fails the SKUs whose scenes it was generating. Workers that fail
before finishing anything (a resource that cannot start) are replaced `worker_restarts` times, then the keys left
fail with their reason. Workers are forked from a clean forkserver (or spawned): never forked from this process,
whose Dagster, onnxruntime and torch threads make `fork` unsafe.
"""
from __future__ import annotations

import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Iterator

from assets.step_worker import WorkerSpec, cpu_worker_main, device_worker_main  # first: it quiets the beta warnings

from assets.key_pool import FORKSERVER_PRELOAD
from assets.partition_loop import KeyEvent
from assets.promotion_run import SceneGenerationFailed


@dataclass(eq=False)
class _Worker:
    kind: str  # "cpu" | "device"
    process: object
    conn: object
    device: str | None = None
    ready: bool = False
    capacity: int = 0
    held: set = field(default_factory=set)  # keys (cpu) or batch ids (device)
    finished_any: bool = False
    stopping: bool = False
    fatal: str | None = None
    backend: str | None = None
    model_id: str | None = None
    started: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _GenCall:
    worker: _Worker
    call_id: int
    images: list
    remaining: int
    answered: bool = False


@dataclass(eq=False)
class _Request:
    call: _GenCall
    index: int
    request: object

    @property
    def group(self) -> tuple:
        r = self.request
        return (r.mode, int(r.width), int(r.height))


def death_reason(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ": killed, e.g. by the out-of-memory killer" if name == "SIGKILL" else ""
        return f"worker process {process.pid} died ({name}{hint})"
    return f"worker process {process.pid} exited unexpectedly (exit code {code})"


class StepPool:
    """Runs `stages` of `keys` in worker processes; `key_events()` yields what happens, as it happens."""

    def __init__(self, *, spec: WorkerSpec, keys: list[str], step, settings, cpu_workers: int,
                 devices: list[str] | None = None, device_slots: int = 0, max_batch: int = 1):
        import multiprocessing as mp

        self.spec, self.step, self.settings = spec, step, settings
        self.pending = deque(keys)
        self.n_cpu = cpu_workers
        self.devices = list(devices or [])
        self.max_batch = max(1, int(max_batch))
        self.in_flight = settings.in_flight(cpu_workers, device_slots if self.devices else 0, self.max_batch)
        method = settings.method()
        self.ctx = mp.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
        self.workers: list[_Worker] = []
        self.device_workers: dict[str, _Worker] = {}
        self.broken_devices: dict[str, str] = {}
        self.startup_failures = 0
        self.last_fatal: str | None = None
        self.gen_queue: deque[_Request] = deque()
        self.batches: dict[int, tuple[_Worker, list[_Request]]] = {}
        self.batch_ids = iter(range(1 << 62))
        self.stages_done: dict[str, list[str]] = {}
        self.out: list[KeyEvent] = []

    # ---- processes ----------------------------------------------------------------------------------------
    def _start(self, kind: str, device: str | None = None) -> _Worker:
        parent_end, child_end = self.ctx.Pipe(duplex=True)
        if kind == "cpu":
            target, args = cpu_worker_main, (child_end, self.spec, self.in_flight)
        else:
            target, args = device_worker_main, (child_end, self.spec, device)
        process = self.ctx.Process(target=target, args=args, daemon=True, name=f"skustudio-{kind}-worker")
        process.start()
        child_end.close()
        worker = _Worker(kind, process, parent_end, device=device)
        self.workers.append(worker)
        if kind == "device":
            self.device_workers[device] = worker
        return worker

    def close(self) -> None:
        for w in self.workers:
            if w.process.is_alive():
                w.stopping = True
                try:
                    w.conn.send(("stop",))
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 10
        for w in self.workers:
            w.process.join(max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
            w.conn.close()
        self.workers = []

    # ---- the loop -----------------------------------------------------------------------------------------
    def key_events(self) -> Iterator[KeyEvent]:
        try:
            for _ in range(self.n_cpu):
                self._start("cpu")
            next_tick = time.monotonic() + self.settings.progress_every_s
            while True:
                self._assign()
                self._dispatch()
                yield from self._flush()
                if not self.pending and not any(w.held for w in self.workers if w.kind == "cpu"):
                    break
                live = list(self.workers)  # a worker leaves the list when its exit has been handled (`_exited`)
                ready = wait([w.conn for w in live if not w.conn.closed] + [w.process.sentinel for w in live],
                             timeout=max(0.05, next_tick - time.monotonic()))
                for w in live:
                    if w.conn in ready or w.process.sentinel in ready:
                        self._drain(w)
                    if w.process.sentinel in ready:
                        self._exited(w)
                yield from self._flush()
                if time.monotonic() >= next_tick:
                    yield KeyEvent("tick")
                    next_tick = time.monotonic() + self.settings.progress_every_s
        finally:
            self.close()

    def _flush(self) -> Iterator[KeyEvent]:
        out, self.out = self.out, []
        yield from out

    def _assign(self) -> None:
        for w in self.workers:
            if w.kind != "cpu" or not w.ready or w.stopping:
                continue
            while self.pending and len(w.held) < self.in_flight:
                key = self.pending.popleft()
                if not self._send(w, ("run", key)):  # it died just now: the key waits for another worker
                    self.pending.appendleft(key)
                    break
                w.held.add(key)
        if self.pending and not any(w.kind == "cpu" and w.process.is_alive() for w in self.workers):
            self._replace_cpu_worker()

    @staticmethod
    def _send(w: _Worker, message: tuple) -> bool:
        """Send unless the worker is gone (its exit is handled when its sentinel fires)."""
        if w.conn.closed:
            return False
        try:
            w.conn.send(message)
            return True
        except (OSError, ValueError):
            w.stopping = True  # no more work for it; `_exited` reports what it held
            return False

    def _replace_cpu_worker(self) -> None:
        if self.startup_failures > self.settings.worker_restarts:
            reason = f"WorkerStartFailed: {self.startup_failures} workers failed to start: {self.last_fatal}"
            while self.pending:
                self._fail(self.pending.popleft(), reason)
            return
        self._start("cpu")

    def _fail(self, key: str, reason: str) -> None:
        from assets.stages import PER_SKU_STAGE_NAMES

        done = self.stages_done.get(key, [])
        stage = next((s for s in PER_SKU_STAGE_NAMES if s in self.spec.stages and s not in done), self.spec.stages[0])
        self.out.append(KeyEvent("failed", key, stage, reason=reason))
        self.out.append(KeyEvent("done", key))

    def _drain(self, w: _Worker) -> None:
        while not w.conn.closed:
            try:
                if not w.conn.poll():
                    return
                message = w.conn.recv()
            except (EOFError, OSError):
                w.conn.close()
                return
            self._handle(w, message)

    def _handle(self, w: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "stage":
            _, key, stage, metadata = message
            self.stages_done.setdefault(key, []).append(stage)
            self.out.append(KeyEvent("stage", key, stage, metadata=metadata))
        elif kind == "failed":
            _, key, stage, reason, detail = message
            self.out.append(KeyEvent("failed", key, stage, reason=reason, detail=detail))
        elif kind == "done":
            _, key, problems = message
            w.held.discard(key)
            w.finished_any = True
            if problems:
                self.step.gate.problems[key] = problems
            self.out.append(KeyEvent("done", key))
        elif kind == "log":
            self.out.append(KeyEvent("log", reason=message[1]))
        elif kind == "ready":
            w.ready = True
            took = f"{time.monotonic() - w.started:.1f}s"
            if w.kind == "device":
                w.capacity, w.backend, w.model_id = max(1, int(message[1])), message[2], message[3]
                self.out.append(KeyEvent("log", reason=f"device worker for {w.device} ready in {took}: "
                                         f"{w.capacity} batch(es) at once, model {w.model_id}"))
            else:
                self.out.append(KeyEvent("log", reason=f"CPU worker {w.process.pid} ready in {took}"))
        elif kind == "fatal":
            w.fatal = message[1]
            self.last_fatal = message[1]
            where = f"device worker for {w.device}" if w.kind == "device" else "CPU worker"
            self.out.append(KeyEvent("log", reason=f"{where} could not start: {message[1]}\n{message[2]}"))
        elif kind == "call":
            _, call_id, op, payload = message
            if op == "hashes":
                self._hashes(w, call_id, *payload)
            elif op == "generate":
                self._generate(w, call_id, *payload)
        elif kind in ("batch_done", "batch_failed"):
            self._batch_result(w, kind, message[1], message[2])

    # ---- what workers ask the parent ----------------------------------------------------------------------
    def _answer(self, w: _Worker, call_id: int, ok: bool, value) -> None:
        self._send(w, ("answer", call_id, ok, value))

    def _hashes(self, w: _Worker, call_id: int, promotion_id: str, method: str, sku: str, hashes: dict) -> None:
        try:
            duplicates = self.step.run_for(promotion_id).duplicates
            self._answer(w, call_id, True, getattr(duplicates, method)(sku, hashes))
        except Exception as exc:  # the asking key fails with this reason
            self._answer(w, call_id, False, RuntimeError(f"near-duplicate hashes: {type(exc).__name__}: {exc}"))

    def _generate(self, w: _Worker, call_id: int, key: str, requests: list) -> None:
        call = _GenCall(w, call_id, [None] * len(requests), len(requests))
        if self.devices and len(self.broken_devices) == len(self.devices):
            reasons = "; ".join(f"{d}: {r}" for d, r in self.broken_devices.items())
            self._answer(w, call_id, False, RuntimeError(f"no device worker could start ({reasons})"))
            return
        self.gen_queue.extend(_Request(call, i, r) for i, r in enumerate(requests))

    def _dispatch(self) -> None:
        if not self.gen_queue:
            return
        for device in self.devices:
            if device not in self.device_workers and device not in self.broken_devices:
                self._start("device", device)
        while self.gen_queue:
            free = [w for w in self.device_workers.values() if w.ready and w.process.is_alive()
                    and len(w.held) < w.capacity]
            if not free:
                return
            target = max(free, key=lambda d: d.capacity - len(d.held))
            first = self.gen_queue[0]
            batch = [r for r in self.gen_queue if r.group == first.group and not r.call.answered][: self.max_batch]
            chosen = {id(r) for r in batch}
            self.gen_queue = deque(r for r in self.gen_queue if id(r) not in chosen and not r.call.answered)
            if not batch:
                continue
            batch_id = next(self.batch_ids)
            self.batches[batch_id] = (target, batch)
            target.held.add(batch_id)
            self._send(target, ("run", (batch_id, [r.request for r in batch])))  # if it died, `_exited` fails these

    def _batch_result(self, w: _Worker, kind: str, batch_id: int, value) -> None:
        _, batch = self.batches.pop(batch_id, (None, []))
        w.held.discard(batch_id)
        w.finished_any = True
        for r, image in zip(batch, value if kind == "batch_done" else [None] * len(batch)):
            if r.call.answered:
                continue
            if kind == "batch_failed":
                self._give_up(r.call, SceneGenerationFailed(value))
                continue
            r.call.images[r.index] = image
            r.call.remaining -= 1
            if r.call.remaining == 0:
                r.call.answered = True
                self._answer(r.call.worker, r.call.call_id, True, (r.call.images, w.backend, w.model_id))

    def _give_up(self, call: _GenCall, error: Exception) -> None:
        call.answered = True
        self._answer(call.worker, call.call_id, False, error)

    # ---- deaths -------------------------------------------------------------------------------------------
    def _exited(self, w: _Worker) -> None:
        w.process.join(1)
        if w not in self.workers:
            return
        self.workers.remove(w)
        w.conn.close()
        if w.stopping and w.process.exitcode == 0 and not w.held:
            return
        reason = death_reason(w.process)
        if not w.finished_any and (w.fatal or w.kind == "device"):
            self.startup_failures += 1  # a device worker that dies before its first batch may die loading the model
        if w.kind == "cpu":
            for key in sorted(w.held):
                self._fail(key, f"WorkerDied: {reason} while it held this SKU")
            w.held.clear()
            for r in self.gen_queue:
                if r.call.worker is w:
                    r.call.answered = True
            if self.pending:
                self._replace_cpu_worker()
            return
        del self.device_workers[w.device]
        if w.fatal or self.startup_failures > self.settings.worker_restarts:
            self.broken_devices[w.device] = w.fatal or reason
        for batch_id in sorted(w.held):
            _, batch = self.batches.pop(batch_id, (None, []))
            for r in batch:
                if not r.call.answered:
                    self._give_up(r.call, RuntimeError(
                        f"DeviceWorkerDied: the device worker for {w.device}: {reason} while generating these scenes"))
        if len(self.broken_devices) == len(self.devices):
            for r in self.gen_queue:
                if not r.call.answered:
                    self._give_up(r.call, RuntimeError(f"no device worker could start: {w.fatal or reason}"))
            self.gen_queue.clear()
        self.out.append(KeyEvent("log", reason=f"device worker for {w.device}: {reason}"
                                 + ("" if w.device in self.broken_devices else "; a new one takes its place")))
