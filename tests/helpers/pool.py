"""Helpers for the worker-pool tests: a store that kills the worker process reading a chosen SKU (as the
out-of-memory killer would), and a catalog whose two SKUs share one photo (near duplicates of each other)."""
from __future__ import annotations

import csv
import multiprocessing
import os
import signal
from pathlib import Path

from resources.storage import StudioStore
from tests.helpers.catalogs import write_small_catalog


class KillingStore(StudioStore):
    """A local `StudioStore` that SIGKILLs the pool worker process reading any key of SKU `kill_sku` while the
    file `kill_marker` exists. Only in a worker (a process with a multiprocessing parent), never the step's own."""

    kill_sku: str = ""
    kill_marker: str = ""

    def get_bytes(self, key: str) -> bytes:
        if (self.kill_sku and self.kill_sku in key.split("/") and os.path.exists(self.kill_marker)
                and multiprocessing.parent_process() is not None):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().get_bytes(key)


def write_twin_catalog(folder: Path) -> Path:
    """A catalog of two SKUs with the same photo, category and price (their main images come out alike)."""
    path = write_small_catalog(folder, 1)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, fields = list(reader), reader.fieldnames
    twin = dict(rows[0], sku=rows[0]["sku"] + "-TWIN")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows([rows[0], twin])
    return path
