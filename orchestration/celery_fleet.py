"""Production execution: Dagster's Celery executor on Redis, with a watch on the workers that run the steps.

Every run's steps become Celery tasks (dagster-celery). A step tagged `dagster-celery/queue: gpu` (the per-SKU
step, `assets.chunks.GPU_STEP_TAGS`) waits for a worker of a GPU host; every other step goes to `cpu`. Workers
are started with `skustudio worker` (orchestration/cli/worker.py), one per GPU host or per device.

The settings below are shared by the run processes that submit tasks and the workers that take them:
- `task_track_started`: a started task records its worker's name in the result backend, so the run knows who
  holds each step.
- `worker_disable_prefetch` (Redis only): a worker takes a task only when it has a free slot. A worker that dies
  then loses only the step it was running, never a queued one it had reserved.
- no late acks: a task is acknowledged when it starts, so a step whose worker died is never delivered again
  behind the run's back (a step must not run twice in one run). Instead:
- the run watches the worker of each started step (`WatchedResult`: a Celery ping every `liveness_poll_s`); when
  that worker has not answered for `worker_lost_after_s`, the step fails with `WorkerLost` and so does the run.
  dagster-celery alone would wait forever on a result that a SIGKILLed (or powered-off) host never writes. A
  step process that dies while its worker lives is reported by Celery itself (WorkerLostError) and fails the
  same way. Either way only that run (one chunk of a backfill) fails; "re-execute from failure" reruns it.

Loaded only in production (`orchestration.resources.executor_for_environment`): importing celery costs time the
local code location does not need.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import dagster as dg
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

BROKER_ENV = "SKUSTUDIO_CELERY_BROKER"
BACKEND_ENV = "SKUSTUDIO_CELERY_BACKEND"
LOST_AFTER_ENV = "SKUSTUDIO_WORKER_LOST_AFTER_S"
WORKER_NAME_ENV = "SKUSTUDIO_WORKER_NAME"
QUEUES = ("gpu", "cpu")
DEFAULT_LOST_AFTER_S = 60
DEFAULT_POLL_S = 5


def celery_settings() -> dict[str, Any]:
    """Celery settings the executor and the workers share (the `config_source` of dagster-celery's app)."""
    return {
        "task_default_queue": "cpu",
        "task_track_started": True,
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "broker_connection_retry_on_startup": True,
        "result_expires": 7 * 24 * 3600,
    }


def broker_url(env: dict | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get(BROKER_ENV, "").strip()
    if not url:
        raise ValueError(f"{BROKER_ENV} is not set: the Celery broker, e.g. redis://redis-host:6379/0")
    return url


def backend_url(env: dict | None = None) -> str:
    """The result backend: SKUSTUDIO_CELERY_BACKEND, else the broker's Redis."""
    env = os.environ if env is None else env
    return env.get(BACKEND_ENV, "").strip() or broker_url(env)


class WorkerLost(RuntimeError):
    """The Celery worker running a step stopped answering (killed, crashed, host down)."""


class WatchedResult:
    """A Celery `AsyncResult` that also becomes ready when the worker running its task is lost.

    dagster-celery's loop only calls `ready()`, `get()` and `revoke()`. Until the task starts nobody holds it
    (it waits in the queue for a free worker, for as long as that takes); once started, its worker is pinged
    every `poll_s` and declared lost after `lost_after_s` without an answer."""

    def __init__(self, result, ping: Callable[[str], bool], step_key: str, lost_after_s: float, poll_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self.result = result
        self.ping = ping
        self.step_key = step_key
        self.lost_after_s = lost_after_s
        self.poll_s = poll_s
        self.clock = clock
        self.worker: str | None = None
        self.silent_since: float | None = None
        self.lost = False
        self.last_check = float("-inf")

    @property
    def id(self) -> str:
        return self.result.id

    def ready(self) -> bool:
        if self.lost or self.result.ready():
            return True
        now = self.clock()
        if now - self.last_check < self.poll_s:
            return False
        self.last_check = now
        if self.worker is None:
            info = self.result.info if self.result.state == "STARTED" else None
            self.worker = info.get("hostname") if isinstance(info, dict) else None
            if self.worker is None:
                return False
        if self.ping(self.worker):
            self.silent_since = None
            return False
        if self.silent_since is None:
            self.silent_since = now
        if now - self.silent_since >= self.lost_after_s and not self.result.ready():
            self.lost = True
        return self.lost

    def get(self):
        if self.lost:
            raise WorkerLost(
                f"Celery worker {self.worker} stopped answering while it ran step {self.step_key!r} "
                f"(no reply for {self.lost_after_s:.0f}s): the worker or its host died; nothing else of this run "
                f"was lost. Start a worker and re-execute the run (or its backfill) from failure."
            )
        return self.result.get()

    def revoke(self):
        return self.result.revoke()


def pinger(app, timeout_s: float = 2.0) -> Callable[[str], bool]:
    def ping(worker: str) -> bool:
        try:
            replies = app.control.ping(destination=[worker], timeout=timeout_s)
        except Exception:  # the broker itself is unreachable: not evidence that the worker died
            return True
        return any(worker in reply for reply in replies or [])

    return ping


class WatchedCeleryExecutor(CeleryExecutor):
    """dagster-celery's executor with `WatchedResult`s in place of bare Celery results."""

    def __init__(self, retries, worker_lost_after_s: float, liveness_poll_s: float, **kwargs):
        super().__init__(retries, **kwargs)
        self.worker_lost_after_s = worker_lost_after_s
        self.liveness_poll_s = liveness_poll_s

    def execute(self, plan_context, execution_plan):
        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=self.submit_step)

    def submit_step(self, app, plan_context, step, queue, priority, known_state) -> WatchedResult:
        # As dagster_celery.executor submits a step (its function is private), then watched.
        from dagster._grpc.types import ExecuteStepArgs  # no public equivalent in dagster 1.13
        from dagster._serdes import pack_value
        from dagster_celery.tasks import create_task

        args = ExecuteStepArgs(
            job_origin=plan_context.reconstructable_job.get_python_origin(),
            run_id=plan_context.dagster_run.run_id,
            step_keys_to_execute=[step.key],
            instance_ref=plan_context.instance.get_ref(),
            retry_mode=self.retries.for_inner_plan(),
            known_state=known_state,
            print_serialized_events=True,
        )
        signature = create_task(app).si(
            execute_step_args_packed=pack_value(args),
            executable_dict=plan_context.reconstructable_job.to_dict(),
        )
        result = signature.apply_async(priority=priority, queue=queue, routing_key=f"{queue}.execute_plan")
        return WatchedResult(result, pinger(app), step.key, self.worker_lost_after_s, self.liveness_poll_s)


@dg.executor(
    name="skustudio_celery",
    config_schema={
        **CELERY_CONFIG,
        "worker_lost_after_s": dg.Field(int, default_value=DEFAULT_LOST_AFTER_S,
                                        description="fail a step whose worker has not answered pings for this long"),
        "liveness_poll_s": dg.Field(int, default_value=DEFAULT_POLL_S, description="seconds between pings"),
    },
    requirements=dg.multiple_process_executor_requirements(),
)
def skustudio_celery_executor(init_context) -> WatchedCeleryExecutor:
    """Dagster's Celery executor (config as dagster-celery's) that fails a step whose worker was lost."""
    from dagster._core.execution.retries import RetryMode

    cfg = init_context.executor_config
    return WatchedCeleryExecutor(
        retries=RetryMode.from_config(cfg["retries"]),
        worker_lost_after_s=cfg["worker_lost_after_s"],
        liveness_poll_s=cfg["liveness_poll_s"],
        broker=cfg.get("broker"),
        backend=cfg.get("backend"),
        include=cfg.get("include"),
        config_source=cfg.get("config_source"),
    )


def production_executor(env: dict | None = None) -> dg.ExecutorDefinition:
    """The executor of the production code location: brokers read from the environment by each run process
    (never written into the job's snapshot), the shared settings, and the worker watch."""
    env = os.environ if env is None else env
    lost_after = int(env.get(LOST_AFTER_ENV) or DEFAULT_LOST_AFTER_S)
    return skustudio_celery_executor.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": {"env": BACKEND_ENV if env.get(BACKEND_ENV) else BROKER_ENV},
            "config_source": celery_settings(),
            "worker_lost_after_s": lost_after,
            "liveness_poll_s": max(1, min(DEFAULT_POLL_S, lost_after // 4)),
        },
        name="skustudio_celery",
    )


def worker_app(env: dict | None = None):
    """The Celery app a worker runs: dagster-celery's, with its step task and the shared settings."""
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    executor = CeleryExecutor.for_cli(broker=broker_url(env), backend=backend_url(env), config_source=celery_settings())
    app = make_app(executor.app_args())
    create_task(app)
    return app
