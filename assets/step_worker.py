"""The worker processes of the per-SKU step's pool (`assets.step_pool` is the parent side).

Dagster resources do not pickle (their config schema is cached on the class), so the parent sends each
resource as a `ResourceSpec` (class path and field values, nested resources likewise) and a worker builds its own
resources from them, with the parent's environment variables.

- CPU worker (`cpu_worker_main`): builds a `PerSkuStep` once, then runs the stages of each key the parent hands
  it, reporting every finished stage, failure and finished key as it happens. It holds up to `in_flight` keys at
  once on as many threads, of which one computes at a time (a CPU token): a key waiting for its generated scenes
  gives the token to another key, so one worker keeps one core busy while the devices work. Generated scenes and
  the promotion's near-duplicate hashes go through the parent (`Link.call`).
- Device worker (`device_worker_main`): builds the generator for its device once (the model loads once per
  device and run) and runs the batches the parent sends, one per slot of the device at once (`slot_generators`:
  a view of the loaded model per slot), each under a lease on its own device from the GPU pool (so concurrent
  runs on the host never oversubscribe a device).
"""
from __future__ import annotations

import importlib
import itertools
import os
import queue
import sys
import threading
import traceback
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler

import dagster as dg

with warnings.catch_warnings():  # a worker imports the asset modules afresh; the code location warned already
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.simplefilter("ignore", category)
    from assets.partition_loop import split_key
    from assets.promotion_run import PerSkuStep
    from assets.stages import PER_SKU_STAGES
    from skucore.imaging.render import generate_outcomes


# ---- resources across processes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceSpec:
    """A Dagster ConfigurableResource as picklable data: its class and its field values."""

    module: str
    qualname: str
    fields: dict


def resource_spec(resource) -> ResourceSpec | None:
    """The spec of a ConfigurableResource (nested resources included); None for None."""
    if resource is None:
        return None
    values = {}
    for name in type(resource).model_fields:
        value = getattr(resource, name, None)
        if isinstance(value, dg.ConfigurableResource):
            value = resource_spec(value)
        elif isinstance(value, dg.EnvVar):
            value = value.get_value()
        values[name] = value
    return ResourceSpec(type(resource).__module__, type(resource).__qualname__, values)


def build_resource(spec: ResourceSpec | None):
    if spec is None:
        return None
    cls = importlib.import_module(spec.module)
    for part in spec.qualname.split("."):
        cls = getattr(cls, part)
    return cls(**{k: build_resource(v) if isinstance(v, ResourceSpec) else v for k, v in spec.fields.items()})


@dataclass
class WorkerSpec:
    """Everything a worker needs, as picklable data."""

    resources: dict[str, ResourceSpec | None]
    keys: list[str]
    stages: list[str]
    publish: bool
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    ocr_threads: int = 1


def _start_process(spec: WorkerSpec) -> dict:
    """A fresh worker: the parent's environment (a forkserver child would otherwise keep the forkserver's), one
    thread per native library (the pool supplies the parallelism), and the resources."""
    os.environ.clear()
    os.environ.update(spec.environ)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a core dependency
        pass
    from skucore.quality import ocr

    ocr.configure(threads=spec.ocr_threads)
    return {name: build_resource(s) for name, s in spec.resources.items()}


# ---- the line to the parent -------------------------------------------------------------------------------
class Link:
    """Messages to the parent from any thread (`send`) and calls that wait for its answer (`call`); the
    worker's main thread reads the parent's messages and hands answers to the waiting calls (`answer`)."""

    def __init__(self, conn):
        self.conn = conn
        self._send_lock = threading.Lock()
        self._calls: dict[int, Future] = {}
        self._ids = itertools.count()

    def send(self, message: tuple) -> None:
        data = bytes(ForkingPickler.dumps(message))  # pickled first: an unpicklable value raises here, in the caller
        with self._send_lock:
            self.conn.send_bytes(data)

    def call(self, op: str, payload) -> Future:
        call_id = next(self._ids)
        future: Future = Future()
        self._calls[call_id] = future
        self.send(("call", call_id, op, payload))
        return future

    def answer(self, call_id: int, ok: bool, value) -> None:
        future = self._calls.pop(call_id, None)
        if future is None:
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value if isinstance(value, BaseException) else RuntimeError(str(value)))


class RemoteHashes:
    """A promotion's near-duplicate hashes, kept by the parent (`skucore.quality.hash_registry.PromotionHashes`)."""

    def __init__(self, link: Link, promotion_id: str):
        self.link, self.promotion_id = link, promotion_id

    def _call(self, method: str, sku: str, hashes: dict):
        return self.link.call("hashes", (self.promotion_id, method, sku, dict(hashes))).result()

    def replace(self, sku, own):
        return self._call("replace", sku, own)

    def compare(self, sku, own):
        return self._call("compare", sku, own)

    def add(self, sku, hashes):
        self._call("add", sku, hashes)


class CpuToken:
    """One key computes at a time in a worker; a key waiting for a device lets another compute."""

    def __init__(self):
        self.lock = threading.Lock()

    def remote_generate(self, link: Link):
        def generate(requests, key: str):
            future = link.call("generate", (key, list(requests)))
            self.lock.release()  # wait for the device without holding the CPU
            try:
                return future.result()
            finally:
                self.lock.acquire()

        return generate


# ---- CPU worker -------------------------------------------------------------------------------------------
def cpu_worker_main(conn, spec: WorkerSpec, in_flight: int) -> None:
    link = Link(conn)
    try:
        res = _start_process(spec)
        token = CpuToken()
        step = PerSkuStep(
            store=res["store"], promotions=res["promotions"], grading=res["grading"], gpu_pool=res["gpu_pool"],
            scene_generator=res["scene_generator"], cdn=res["cdn"], platforms=res["platforms"], keys=spec.keys,
            publish=spec.publish, log=lambda line: link.send(("log", line)),
            generate=token.remote_generate(link), duplicates=lambda promotion_id: RemoteHashes(link, promotion_id),
        )
        stages = [s for s in PER_SKU_STAGES if s.name in spec.stages]
    except Exception as exc:
        link.send(("fatal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return

    def run_key(key: str) -> None:
        promotion_id, sku = split_key(key)
        try:
            with token.lock:
                for stage in stages:
                    try:
                        metadata = stage.work(step, promotion_id, sku)
                        link.send(("stage", key, stage.name, metadata))  # raises here if the metadata cannot pickle
                    except Exception as exc:  # isolate: this key stops here
                        link.send(("failed", key, stage.name, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                        break
        finally:  # whatever happened, the parent hears the key is finished
            link.send(("done", key, step.gate.problems.get(key)))

    link.send(("ready",))
    threads = ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="sku")
    _serve(conn, link, lambda key: threads.submit(run_key, key))


def _serve(conn, link: Link, start) -> None:
    """Read the parent's messages until it says stop or goes away, then leave at once: the parent stops a worker
    when its work is done, or when the step is ending (threads still waiting on an answer will get none)."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone: nothing to report to
            break
        kind = message[0]
        if kind == "run":
            start(message[1])
        elif kind == "answer":
            link.answer(*message[1:])
        elif kind == "stop":
            break
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass
    os._exit(0)


# ---- device worker ----------------------------------------------------------------------------------------
def _portable(outcome):
    """A scene outcome ready for the pipe: an RGB image, or a per-scene result (`generate_scenes`) holding one."""
    import dataclasses

    if hasattr(outcome, "error"):
        image = outcome.image.convert("RGB") if outcome.image is not None else None
        return dataclasses.replace(outcome, image=image) if dataclasses.is_dataclass(outcome) else outcome
    return outcome.convert("RGB")


def pinned_key(gpu_pool, device: str) -> str:
    """A lease key whose preferred device is `device`: leased without spill-over, it holds a slot of that device
    only (the GPU pool's lease API chooses devices by key)."""
    for i in range(10_000):
        key = f"device-worker|{device}|{i}"
        if gpu_pool.device_for(key) == device:
            return key
    raise RuntimeError(f"no lease key maps to device {device!r}")


def slot_generators(generator, slots: int) -> tuple[list, str | None]:
    """A generator per slot of a device, all over one loaded model: the generator's `slot_view()`s (the
    in-process Z-Image backend: shared weights, a pipeline and scheduler each), the generator itself for each
    slot when it says concurrent calls are safe (`thread_safe`), else one slot. Returns (generators, note)."""
    if slots <= 1:
        return [generator], None
    if hasattr(generator, "slot_view"):
        try:
            return [generator] + [generator.slot_view() for _ in range(slots - 1)], None
        except Exception as exc:  # noqa: BLE001 - e.g. CPU offload: one slot, said in the run's log
            return [generator], f"one batch at a time instead of {slots}: {type(exc).__name__}: {exc}"
    if getattr(generator, "thread_safe", False):
        return [generator] * slots, None
    return [generator], f"one batch at a time instead of {slots}: the generator is not safe to call concurrently"


def device_worker_main(conn, spec: WorkerSpec, device: str) -> None:
    link = Link(conn)
    try:
        res = _start_process(spec)
        gpu_pool, scene_generator = res["gpu_pool"], res["scene_generator"]
        generator = scene_generator.generator_for(device)
        views, note = slot_generators(generator, gpu_pool.pool.slots(device))
        lease_key = pinned_key(gpu_pool, device)
    except Exception as exc:
        link.send(("fatal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    free: queue.SimpleQueue = queue.SimpleQueue()
    for view in views:
        free.put(view)

    def run_batch(batch_id: int, requests: list) -> None:
        view = free.get()
        try:
            with gpu_pool.pool.lease(lease_key, timeout_s=gpu_pool.lease_timeout_s, spill=False):
                outcomes = generate_outcomes(view, requests)
            if len(outcomes) != len(requests):
                raise RuntimeError(f"generator returned {len(outcomes)} images for {len(requests)} requests")
            message = ("batch_done", batch_id, [_portable(o) for o in outcomes])
        except Exception as exc:  # noqa: BLE001 - reported to the SKUs of this batch
            message = ("batch_failed", batch_id, f"{type(exc).__name__}: {exc}")
        finally:
            free.put(view)
        link.send(message)

    if note:
        link.send(("log", f"device worker for {device}: {note}"))
    link.send(("ready", len(views), getattr(generator, "backend_name", None), getattr(generator, "model_id", None)))
    threads = ThreadPoolExecutor(max_workers=len(views), thread_name_prefix="slot")
    _serve(conn, link, lambda batch: threads.submit(run_batch, *batch))
