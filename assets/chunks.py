"""How a backfill splits into runs: the per-SKU step and the cutouts run in chunks of K SKUs.

K comes from SKUSTUDIO_CHUNK_SKUS, read when the definitions are built (at import), so every process that loads
the code location (webserver, daemon, run workers, Celery workers) must see the same value. 0 means one run per
backfill range (the embedded default: one host, the model loaded once per run). In production each chunk is a run
of its own: Dagster's run queue spreads the chunks over the hosts, and a chunk that fails reruns alone.
"""
from __future__ import annotations

import os

import dagster as dg

from skucore.base.settings import env_number

CHUNK_ENV = "SKUSTUDIO_CHUNK_SKUS"
DEFAULT_CHUNK_SKUS = {"local": 0, "production": 25}
# Run tags that cap a promotion's share of the run queue (deploy/dagster.yaml `tag_concurrency_limits`).
PROMOTION_TAG = "skustudio/promotion"
# Celery queues (dagster-celery's op tag): steps that generate need a GPU host, the rest take any CPU host.
CELERY_QUEUE_TAG = "dagster-celery/queue"
GPU_STEP_TAGS = {CELERY_QUEUE_TAG: "gpu"}
CPU_STEP_TAGS = {CELERY_QUEUE_TAG: "cpu"}


def chunk_skus(env: dict | None = None) -> int:
    """K, the SKUs per run of a backfill (0 = one run per range). A bad value is a configuration error."""
    env = os.environ if env is None else env
    return env_number(CHUNK_ENV, DEFAULT_CHUNK_SKUS.get(env.get("SKUSTUDIO_ENV", "local"), 0), env=env)


def chunked_backfill_policy(env: dict | None = None) -> dg.BackfillPolicy:
    """`multi_run(K)` when K > 0, else `single_run()`."""
    k = chunk_skus(env)
    return dg.BackfillPolicy.multi_run(k) if k else dg.BackfillPolicy.single_run()
