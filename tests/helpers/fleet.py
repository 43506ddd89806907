"""A GPU fleet in simulation, for the pool's tests and bench/bench_fleet.py on a machine without GPUs.

`SimulatedGpu` stands for one device's loaded model: it takes `seconds_per_image` per image of a call (sleeping,
so the host's cores are not what limits a fleet's throughput) and returns a flat scene per request (its colour
from the request's seed; the renderer pastes the product back as it does over a real model's scene). It records
in a ledger folder, across processes and threads: each model load, each call (device, keys, start, end) and, per
device, how many calls ran at once (flock-guarded counters), so a test can show every slot busy and none
oversubscribed. The device worker holds the device's lease from the GPU pool around each call.

`SimulatedSceneGenerator` is a `SceneGeneratorResource` (backend "diffusers", so the step treats it as a GPU
generator) whose `generator_for(device)` returns a `SimulatedGpu`, once per process and device. It pickles
as its config, so the pool's device workers build their own.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import yaml
from PIL import Image
from pydantic import PrivateAttr

from resources.gpu import SceneGeneratorResource

REPO = Path(__file__).resolve().parents[2]


class Ledger:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _locked(self, name: str):
        fd = os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _append(self, name: str, record: dict) -> None:
        fd = self._locked(name)
        try:
            with open(self.folder / f"{name}.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        finally:
            os.close(fd)

    def _records(self, name: str) -> list[dict]:
        path = self.folder / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def _change(self, device: str, delta: int) -> int:
        name = "busy-" + hashlib.sha256(device.encode()).hexdigest()[:12]
        fd = self._locked(name)
        try:
            path = self.folder / f"{name}.json"
            state = json.loads(path.read_text()) if path.exists() else {"device": device, "now": 0, "max": 0}
            state["now"] += delta
            state["max"] = max(state["max"], state["now"])
            path.write_text(json.dumps(state))
            return state["now"]
        finally:
            os.close(fd)

    def load(self, device: str) -> None:
        self._append("loads", {"device": device, "pid": os.getpid(), "at": time.time()})

    def enter(self, device: str) -> int:
        return self._change(device, +1)

    def leave(self, device: str) -> None:
        self._change(device, -1)

    def call(self, record: dict) -> None:
        self._append("calls", record)

    def report(self) -> dict:
        """loads and peak concurrency per device, the calls, images, and the span from the first call's start to
        the last call's end (the fleet's busy time, without the run's start-up)."""
        calls = self._records("calls")
        loads: dict[str, int] = {}
        for r in self._records("loads"):
            loads[r["device"]] = loads.get(r["device"], 0) + 1
        peak = {}
        for path in self.folder.glob("busy-*.json"):
            state = json.loads(path.read_text())
            peak[state["device"]] = state["max"]
        images = sum(c["images"] for c in calls)
        span = (max(c["end"] for c in calls) - min(c["start"] for c in calls)) if calls else 0.0
        return {"loads": loads, "peak_concurrency": peak, "calls": calls, "images": images, "span_s": span,
                "cross_sku_batches": sum(1 for c in calls if len({k.split("|")[1] for k in c["keys"]}) > 1)}


class SimulatedGpu:
    """One device's model, in simulation (see the module docstring). Safe to call from several threads."""

    backend_name = "diffusers"
    model_id = "simulated/z-image"
    thread_safe = True

    def __init__(self, device: str, ledger: Ledger, seconds_per_image: float, kill_on_sku: str = "",
                 kill_marker: str = ""):
        self.device, self.ledger, self.seconds_per_image = str(device), ledger, float(seconds_per_image)
        self.kill_on_sku, self.kill_marker = kill_on_sku, kill_marker
        ledger.load(self.device)

    def generate(self, requests: list) -> list[Image.Image]:
        if self.kill_on_sku and os.path.exists(self.kill_marker) and any(
                r.key.split("|")[1] == self.kill_on_sku for r in requests):
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would, mid-batch
        now = self.ledger.enter(self.device)
        start = time.time()
        try:
            time.sleep(self.seconds_per_image * len(requests))
        finally:
            self.ledger.leave(self.device)
        self.ledger.call({"device": self.device, "pid": os.getpid(), "start": start, "end": time.time(),
                          "images": len(requests), "concurrent": now, "keys": [r.key for r in requests]})
        return [Image.new("RGB", (r.width, r.height), _colour(r.seed)) for r in requests]


def _colour(seed: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(str(seed).encode()).digest()
    return (64 + digest[0] % 128, 64 + digest[1] % 128, 64 + digest[2] % 128)


class SimulatedSceneGenerator(SceneGeneratorResource):
    """A `SceneGeneratorResource` whose generators are `SimulatedGpu`s recording into `ledger_dir`."""

    backend: str = "diffusers"
    ledger_dir: str = ""
    seconds_per_image: float = 1.0
    kill_on_sku: str = ""  # the process generating this SKU's scenes is killed while `kill_marker` exists
    kill_marker: str = ""

    _sims: dict = PrivateAttr(default_factory=dict)
    _sim_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def generator_for(self, device: str = "auto") -> SimulatedGpu:
        key = (os.getpid(), str(device))
        with self._sim_lock:
            if key not in self._sims:
                self._sims[key] = SimulatedGpu(str(device), Ledger(self.ledger_dir), self.seconds_per_image,
                                               self.kill_on_sku, self.kill_marker)
            return self._sims[key]


# ---- a small generated-scene promotion ----------------------------------------------------------------------
def generated_library(folder: Path) -> Path:
    """The shipped template library with every lifestyle scene switched to the diffusers backend."""
    from skucore.prompting.templates import default_library

    data = yaml.safe_load(Path(default_library().source).read_text(encoding="utf-8"))
    for roles in data["categories"].values():
        if "lifestyle" in roles:
            roles["lifestyle"]["backend"] = "diffusers"
    out = Path(folder) / "templates.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


def small_promotion(folder: Path, promotion_id: str = "gpu_week", platforms=("shopify",)) -> Path:
    """promotions/<id>.yaml from double11 with a studio and a (generated) lifestyle scene per SKU."""
    data = yaml.safe_load((REPO / "promotions" / "double11.yaml").read_text(encoding="utf-8"))
    data.update(id=promotion_id, platforms=list(platforms), scene_roles={"default": ["studio", "lifestyle"]})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{promotion_id}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


SMALL_SHOPIFY = {"shopify": {"size": [128, 128], "min_side": 64}}  # PlatformSettings overrides: small, fast images
