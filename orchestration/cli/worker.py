"""`skustudio worker`: one Celery worker of the production fleet (docs/DEPLOY.md)."""
from __future__ import annotations

import os
import socket

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_OK, UsageError

POOLS = ("threads", "prefork", "solo")


def add_parser(sub) -> None:
    worker = sub.add_parser(
        "worker",
        formatter_class=C.FORMATTER,
        help="start one Celery worker that runs the production steps of its queues (gpu, cpu)",
        description="Start one Celery worker of the production fleet: it takes steps of Dagster runs from the "
        "broker at $SKUSTUDIO_CELERY_BROKER (Redis) on its queues and runs them here, on this host's GPUs and "
        "CPUs, against the shared state (Dagster's PostgreSQL, S3, the review queue's database). Steps that "
        "generate (the per-SKU step) go to the `gpu` queue, every other step to `cpu`. Run one worker per GPU "
        "host (--queues gpu,cpu), or one per device (--cuda-devices 0, --cuda-devices 1, ... with --queues gpu) "
        "plus a CPU worker. The worker's name is logged by every step it runs, so the run's event log says "
        "which host ran what.\n\n"
        "Needs SKUSTUDIO_ENV=production and the production variables (docs/DEPLOY.md). Stops on SIGTERM after "
        "its current step (a warm shutdown); a worker killed mid-step fails only that step's run.\n\n"
        "exit codes: 0 the worker stopped; 2 configuration error (no broker, SKUSTUDIO_ENV not production, "
        "bad option).",
    )
    worker.add_argument("--queues", default="gpu,cpu",
                        help="comma-separated queues to take steps from: gpu, cpu or both (default gpu,cpu)")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="steps run at once (default 1: one per GPU; a CPU-only worker can take the cores)")
    worker.add_argument("--name", default=None,
                        help="worker name, unique in the fleet (default HOSTNAME-PID); Celery's node is NAME@HOSTNAME")
    worker.add_argument("--broker", default=None, help="Celery broker URL (default $SKUSTUDIO_CELERY_BROKER)")
    worker.add_argument("--pool", choices=POOLS, default="threads",
                        help="threads (default): steps run in this process, which keeps loaded models between "
                        "steps and may start the step's own worker processes; prefork: a child process per slot "
                        "(its children cannot start processes); solo: one step, no control replies while busy")
    worker.add_argument("--cuda-devices", default=None,
                        help="set CUDA_VISIBLE_DEVICES for this worker (e.g. 0), for one worker per device")
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.set_defaults(func=cmd_worker)


def worker_argv(queues: list[str], concurrency: int, name: str, pool: str, loglevel: str) -> list[str]:
    """The `celery worker` arguments of one fleet worker."""
    return [
        "worker",
        f"--loglevel={loglevel}",
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--hostname={name}@{socket.gethostname()}",
        # No worker-to-worker chatter: the fleet only talks through the broker and the result backend.
        "--without-gossip",
        "--without-mingle",
    ]


def parse_queues(text: str) -> list[str]:
    from orchestration.celery_fleet import QUEUES

    queues = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in queues if q not in QUEUES]
    if not queues or unknown:
        raise UsageError(f"--queues takes {', '.join(QUEUES)} (comma-separated), got {text!r}")
    return queues


def cmd_worker(args) -> int:
    from orchestration.celery_fleet import BROKER_ENV, WORKER_NAME_ENV, worker_app

    queues = parse_queues(args.queues)
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be 1 or more, got {args.concurrency}")
    if os.environ.get("SKUSTUDIO_ENV", "local") != "production":
        raise UsageError("a worker runs the production code location: set SKUSTUDIO_ENV=production and the "
                         "production variables (docs/DEPLOY.md)")
    if args.broker:
        os.environ[BROKER_ENV] = args.broker
    if not os.environ.get(BROKER_ENV):
        raise UsageError(f"no broker: set {BROKER_ENV} (e.g. redis://redis-host:6379/0) or pass --broker")
    C.resources()  # a bad production configuration stops here, not in the first step
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    os.environ[WORKER_NAME_ENV] = name  # every step this worker runs logs it
    if args.cuda_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = args.cuda_devices
    app = worker_app()
    print(f"worker {name}: queues {','.join(queues)}, concurrency {args.concurrency}, pool {args.pool}, "
          f"broker {_redacted(os.environ[BROKER_ENV])}", flush=True)
    app.worker_main(worker_argv(queues, args.concurrency, name, args.pool, args.loglevel))
    return EXIT_OK


def _redacted(url: str) -> str:
    """The broker URL without its password, for the log."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
