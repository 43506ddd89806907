"""Loaded models kept for the life of a worker process, across runs.

A Celery worker (`skustudio worker`, docs/DEPLOY.md) runs one chunk of a backfill after another in the same
process, and each chunk is a new run with new resource instances. Without a process-wide cache every chunk would
load the diffusion model again. `DeviceModelCache` keeps one loaded generator per (process, device): a later run
on the same device with the same generator settings gets the same object; different settings on that device
unload the old one first, so a device never holds two models.

Intended use in `resources.gpu.SceneGeneratorResource.generator_for(device)`:

    return PROCESS_MODELS.get(device, settings_key(self), lambda: self._build(device))

with `teardown_after_execution` leaving the cached generators loaded (a one-host `skustudio demo` process ends
anyway). Thread-safe: a worker with `--concurrency 2` runs two steps in one process.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable


def settings_key(resource: Any) -> str:
    """A stable text of a Dagster resource's configuration (pydantic fields), for the cache key."""
    fields = resource.model_dump() if hasattr(resource, "model_dump") else dict(vars(resource))
    return json.dumps(fields, sort_keys=True, default=str)


class DeviceModelCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_device: dict[tuple[int, str], tuple[str, Any]] = {}
        self.loads = 0  # generators built by this process: what a test or a benchmark counts

    def get(self, device: str, settings: str, build: Callable[[], Any]) -> Any:
        """The generator for `device` built with `settings`, built now if this process has none for them."""
        key = (os.getpid(), str(device))  # a forked child never reuses its parent's CUDA state
        with self._lock:
            held = self._by_device.get(key)
            if held is not None and held[0] == settings:
                return held[1]
            if held is not None:
                self._unload(held[1])
            generator = build()
            self.loads += 1
            self._by_device[key] = (settings, generator)
            return generator

    def held(self) -> list[tuple[str, Any]]:
        """(device, generator) pairs this process holds."""
        with self._lock:
            return [(dev, gen) for (pid, dev), (_, gen) in self._by_device.items() if pid == os.getpid()]

    def clear(self) -> None:
        """Unload everything this process holds (a worker shutting down, or a test)."""
        with self._lock:
            for key in [k for k in self._by_device if k[0] == os.getpid()]:
                self._unload(self._by_device.pop(key)[1])

    @staticmethod
    def _unload(generator: Any) -> None:
        if hasattr(generator, "unload"):
            generator.unload()


PROCESS_MODELS = DeviceModelCache()
