"""How the per-SKU step spreads a run's SKUs over processes (`assets.step_pool`)."""
from __future__ import annotations

import math
import os

import dagster as dg
from pydantic import Field

START_METHODS = ("forkserver", "spawn")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow), not the
    machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class ExecutionSettings(dg.ConfigurableResource):
    """Worker processes of the per-SKU step.

    `workers`: CPU worker processes (0 = the usable cores, `os.sched_getaffinity`); 1 runs every SKU in the step's
    own process, one after another (for debugging, and what the GPU tests use). Never more workers than SKUs.
    With a scene generator, one device worker per device of the GPU pool holds the model and runs up to the
    device's slots of batches at once; the CPU workers do everything else.
    `skus_in_flight`: SKUs a CPU worker holds at once (0 = 1 on the studio backend; with a generator, enough
    to fill every device slot's batches while the CPU workers export what came back).
    """

    workers: int = Field(default=0, description="CPU worker processes; 0 = usable cores, 1 = in the step's process")
    skus_in_flight: int = Field(default=0, description="SKUs per CPU worker at once; 0 = automatic")
    start_method: str = Field(default="forkserver", description='"forkserver" (Linux) or "spawn"')
    progress_every_s: float = Field(default=5.0, description="seconds between progress lines in the run's log")
    ocr_threads: int = Field(default=1, description="onnxruntime threads of each worker's OCR engine")
    worker_restarts: int = Field(default=3, description="workers that may die before their first SKU, then the rest fail")

    def cpu_workers(self, n_keys: int) -> int:
        wanted = self.workers if self.workers > 0 else usable_cores()
        return max(1, min(int(wanted), int(n_keys)))

    def in_flight(self, cpu_workers: int, device_slots: int, max_batch: int) -> int:
        """SKUs each CPU worker holds at once."""
        if self.skus_in_flight > 0:
            return int(self.skus_in_flight)
        if device_slots <= 0:
            return 1
        # two batches per slot queued or running, spread over the CPU workers; capped for memory
        return max(2, min(32, math.ceil(2 * device_slots * max(1, max_batch) / max(1, cpu_workers))))

    def method(self) -> str:
        if self.start_method not in START_METHODS:
            raise ValueError(f"ExecutionSettings.start_method must be one of {START_METHODS}, got {self.start_method!r}")
        import multiprocessing as mp

        if self.start_method == "forkserver" and "forkserver" not in mp.get_all_start_methods():
            return "spawn"
        return self.start_method


def execution_from_environment() -> ExecutionSettings:
    """SKUSTUDIO_WORKERS (0 = usable cores), SKUSTUDIO_SKUS_IN_FLIGHT."""
    return ExecutionSettings(workers=int(os.environ.get("SKUSTUDIO_WORKERS", "0") or 0),
                             skus_in_flight=int(os.environ.get("SKUSTUDIO_SKUS_IN_FLIGHT", "0") or 0))
