"""Production execution pieces: backfill chunks from SKUSTUDIO_CHUNK_SKUS, the production code location on the
Celery executor with gpu / cpu queues, and the watch that fails a step whose Celery worker died (on a real Redis
and a real Celery worker, SIGKILLed mid-task). The whole fleet: tests/e2e/test_fleet.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.chunks import chunk_skus, chunked_backfill_policy
from orchestration.celery_fleet import WatchedResult, WorkerLost, pinger

ROOT = Path(__file__).resolve().parents[2]


# ---- chunks ------------------------------------------------------------------------------------------------------
def test_chunk_setting_gives_runs_of_k_skus():
    assert chunked_backfill_policy({"SKUSTUDIO_CHUNK_SKUS": "25"}) == dg.BackfillPolicy.multi_run(25)
    assert chunked_backfill_policy({"SKUSTUDIO_CHUNK_SKUS": "0"}) == dg.BackfillPolicy.single_run()
    assert chunked_backfill_policy({}) == dg.BackfillPolicy.single_run()  # local: one run per promotion
    assert chunk_skus({"SKUSTUDIO_ENV": "production"}) > 0  # production: chunks unless told otherwise
    for bad in ("four", "-1", "2.5"):
        with pytest.raises(ValueError, match="SKUSTUDIO_CHUNK_SKUS"):
            chunk_skus({"SKUSTUDIO_CHUNK_SKUS": bad})


def test_production_code_location_runs_steps_on_celery_queues():
    code = (
        "import json, orchestration.definitions as d;"
        "job = d.defs.resolve_implicit_global_asset_job_def();"
        "step = d.defs.resolve_assets_def('generated_images'); cut = d.defs.resolve_assets_def('product_cutouts');"
        "print(json.dumps({'executor': job.executor_def.name, 'gpu': step.op.tags, 'cpu': cut.op.tags,"
        " 'policy': str(step.backfill_policy), 'cut_policy': str(cut.backfill_policy), 'pool': step.op.pool}))"
    )
    env = {**os.environ, "SKUSTUDIO_ENV": "production", "SKUSTUDIO_CELERY_BROKER": "redis://127.0.0.1:1/0",
           "SKUSTUDIO_CHUNK_SKUS": "7", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["executor"] == "skustudio_celery"
    assert report["gpu"]["dagster-celery/queue"] == "gpu" and report["cpu"]["dagster-celery/queue"] == "cpu"
    assert report["policy"] == report["cut_policy"] == "BackfillPolicy.multi_run(max_partitions_per_run=7)"
    assert report["pool"] == "skustudio_generation"


# ---- the watch, with fakes ---------------------------------------------------------------------------------------
class FakeResult:
    def __init__(self):
        self.state, self.info, self.value = "PENDING", None, None
        self.id = "task-1"

    def ready(self):
        return self.state in ("SUCCESS", "FAILURE")

    def get(self):
        return self.value

    def revoke(self):
        self.state = "REVOKED"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_queued_step_waits_and_a_started_one_is_watched_until_its_worker_is_lost():
    result, clock, alive = FakeResult(), Clock(), {"gpu1@host": True}
    watched = WatchedResult(result, lambda w: alive.get(w, False), "promotion_sku_stages", lost_after_s=30,
                            poll_s=5, clock=clock)
    for _ in range(100):  # queued for a long time: nobody holds it, nothing is lost
        clock.now += 10
        assert not watched.ready()
    result.state, result.info = "STARTED", {"hostname": "gpu1@host", "pid": 7}
    clock.now += 10
    assert not watched.ready() and watched.worker == "gpu1@host"
    alive["gpu1@host"] = False  # the host dies
    for _ in range(5):
        clock.now += 5
        assert not watched.ready()  # 25 s of silence: not yet
    clock.now += 10
    assert watched.ready()
    with pytest.raises(WorkerLost, match=r"gpu1@host stopped answering while it ran step 'promotion_sku_stages'"):
        watched.get()


def test_a_worker_that_answers_again_is_not_lost_and_its_result_comes_through():
    result, clock = FakeResult(), Clock()
    answers = iter([True, False, False, True] + [True] * 20)
    watched = WatchedResult(result, lambda w: next(answers), "s", lost_after_s=30, poll_s=5, clock=clock)
    result.state, result.info = "STARTED", {"hostname": "w@h"}
    for _ in range(10):
        clock.now += 10
        assert not watched.ready()
    result.state, result.value = "SUCCESS", ["events"]
    assert watched.ready() and watched.get() == ["events"]


# ---- the watch, on a real broker and a real worker ---------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_url():
    from tests.helpers.redis_server import RedisServer

    with RedisServer() as redis:
        yield redis.url


def _start_sleeper(redis_url: str, tmp_path: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "SKUSTUDIO_CELERY_BROKER": redis_url, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.helpers.celery_sleep", "worker", "--pool=threads",
         "--concurrency=1", "--queues=cpu", f"--hostname={name}@%h", "--without-gossip", "--without-mingle",
         "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    return proc


def _started(result, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while result.state != "STARTED":
        assert time.monotonic() < deadline, f"the task did not start within {timeout}s ({result.state})"
        time.sleep(0.2)


def test_a_worker_killed_mid_task_fails_the_step_within_the_limit(redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_CELERY_BROKER", redis_url)
    import importlib

    import tests.helpers.celery_sleep as sleep_app

    importlib.reload(sleep_app)  # the app reads the broker from the environment at import
    worker = _start_sleeper(redis_url, tmp_path, "sleeper")
    try:
        healthy = sleep_app.sleep_for.apply_async((6,), queue="cpu")
        _started(healthy)
        watched = WatchedResult(healthy, pinger(sleep_app.app), "healthy", lost_after_s=3, poll_s=0.5)
        deadline = time.monotonic() + 120
        while not watched.ready():  # a busy worker answers its pings: never declared lost
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert watched.get() == 6

        doomed = sleep_app.sleep_for.apply_async((600,), queue="cpu")
        _started(doomed)
        watched = WatchedResult(doomed, pinger(sleep_app.app), "doomed", lost_after_s=3, poll_s=0.5)
        assert not watched.ready()
        os.killpg(worker.pid, signal.SIGKILL)  # the host dies mid-task
        worker.wait(timeout=30)
        killed = time.monotonic()
        while not watched.ready():
            assert time.monotonic() - killed < 120, "a lost worker must fail its step in bounded time, not hang"
            time.sleep(0.2)
        with pytest.raises(WorkerLost, match="sleeper@"):
            watched.get()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
