"""GpuPool: stable preferred devices, spill-over, cross-process leases, CPU fallback."""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time

import pytest

from gpu_ops import pool as pool_mod
from gpu_ops.pool import GpuPool, Lease, LeaseTimeout, device_safe_name


def test_device_for_is_stable_and_spreads(tmp_path):
    devs = ["cuda:0", "cuda:1", "cuda:2"]
    a = GpuPool(devs, lease_dir=tmp_path)
    b = GpuPool(list(devs), lease_dir=tmp_path / "other")
    keys = [f"double11|SKU-{i:04d}" for i in range(300)]
    assert [a.device_for(k) for k in keys] == [b.device_for(k) for k in keys]
    counts = {d: sum(a.device_for(k) == d for k in keys) for d in devs}
    assert all(c > 60 for c in counts.values()), counts
    # Known value: sha256-based, independent of PYTHONHASHSEED and of the process.
    import hashlib

    k = "double11|SKU-0001"
    assert a.device_for(k) == devs[int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") % 3]


def test_lease_prefers_then_spills(tmp_path):
    p = GpuPool(["cuda:0", "cuda:1"], slots_per_device=1, lease_dir=tmp_path)
    key = "promo|sku-a"
    pref = p.device_for(key)
    other = "cuda:1" if pref == "cuda:0" else "cuda:0"
    with p.lease(key) as first:
        assert isinstance(first, Lease) and first == pref and not first.spilled and first.slot == 0
        with p.lease(key) as second:  # preferred device full: spill over
            assert second == other and second.spilled and second.preferred == pref
            with pytest.raises(LeaseTimeout):
                with p.lease(key, timeout_s=0.2):
                    pass
    with p.lease(key) as again:  # released: back on the preferred device
        assert again == pref


def test_no_spill_waits_for_preferred(tmp_path):
    p = GpuPool(["a", "b"], slots_per_device=1, lease_dir=tmp_path, poll_s=0.01)
    key = "k"
    with p.lease(key):
        with pytest.raises(LeaseTimeout):
            with p.lease(key, timeout_s=0.1, spill=False):
                pass


def test_multiple_slots_per_device(tmp_path):
    p = GpuPool(["cuda:0"], slots_per_device=2, lease_dir=tmp_path)
    with p.lease("x") as a, p.lease("y") as b:
        assert {a.slot, b.slot} == {0, 1}
        with pytest.raises(LeaseTimeout):
            with p.lease("z", timeout_s=0.1):
                pass


def test_lock_file_names_are_safe_for_urls(tmp_path):
    url = "http://10.0.0.5:30000/v1"
    p = GpuPool([url, "http://10.0.0.6:30000"], lease_dir=tmp_path)
    with p.lease("k") as held:
        path = held.lock_path
    assert os.path.dirname(path) == str(tmp_path)
    name = os.path.basename(path)
    assert "/" not in name and ":" not in name and name.endswith(".slot0.lock")
    assert device_safe_name(url) != device_safe_name("http://10.0.0.5_30000/v1")


def _worker(lease_dir, devices, key, counts, maxes, lock, log_q):
    p = GpuPool(devices, slots_per_device=1, lease_dir=lease_dir, poll_s=0.01)
    with p.lease(key) as held:
        i = devices.index(str(held))
        with lock:
            counts[i] += 1
            maxes[i] = max(maxes[i], counts[i])
        log_q.put((os.getpid(), str(held), held.spilled))
        time.sleep(0.15)
        with lock:
            counts[i] -= 1


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl leases are POSIX")
def test_concurrent_processes_never_exceed_slots(tmp_path):
    ctx = mp.get_context("fork")
    devices = ["cuda:0", "cuda:1"]
    counts, maxes = ctx.Array("i", [0, 0]), ctx.Array("i", [0, 0])
    lock, log_q = ctx.Lock(), ctx.Queue()
    keys = [f"promo|sku-{i}" for i in range(6)]
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), devices, k, counts, maxes, lock, log_q)) for k in keys]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(30)
    assert all(pr.exitcode == 0 for pr in procs)
    seen = [log_q.get(timeout=5) for _ in procs]
    assert len({pid for pid, _, _ in seen}) == 6
    assert list(maxes) == [1, 1]  # never two holders of one slot at once...
    assert {dev for _, dev, _ in seen} == set(devices)  # ...and both devices were used


def test_threads_share_the_limit_too(tmp_path):
    p = GpuPool(["cuda:0"], slots_per_device=1, lease_dir=tmp_path, poll_s=0.005)
    active, peak, lock = [0], [0], threading.Lock()

    def run():
        with p.lease("k"):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1

    ts = [threading.Thread(target=run) for _ in range(5)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert peak[0] == 1


def test_auto_falls_back_to_cpu_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(pool_mod, "detect_cuda_devices", lambda *a, **k: (["cpu"], {"cpu": 1}, "no CUDA devices found", {}))
    p = GpuPool("auto", lease_dir=tmp_path)
    d = p.describe()
    assert d["devices"] == ["cpu"] and d["fallback_reason"] == "no CUDA devices found" and d["auto_detected"]
    assert p.device_for("anything") == "cpu"
    with p.lease("anything") as held:
        assert held == "cpu"


def test_real_detection_on_this_machine(tmp_path):
    """No mock: on a machine without CUDA (CI, this box) auto-detection reports the CPU fallback."""
    torch = pytest.importorskip("torch")
    p = GpuPool("auto", lease_dir=tmp_path)
    if torch.cuda.is_available():
        assert p.devices[0].startswith("cuda:") and p.fallback_reason is None
    else:
        assert p.devices == ["cpu"] and p.fallback_reason == "no CUDA devices found"


def test_auto_detection_slots_from_memory(tmp_path, monkeypatch):
    class Props:
        def __init__(self, gb):
            self.total_memory = gb * 1024**3

    class FakeCuda:
        @staticmethod
        def is_available():
            return True

        @staticmethod
        def device_count():
            return 2

        @staticmethod
        def get_device_properties(i):
            return Props([80, 24][i])

    class FakeTorch:
        cuda = FakeCuda

    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    from gpu_ops.memory import ESTIMATED_PROFILE

    p = GpuPool("auto", lease_dir=tmp_path, memory_profile=ESTIMATED_PROFILE)
    assert p.devices == ["cuda:0", "cuda:1"]
    # weights once per device + activations per slot: 80 GB holds 4 slots of batch 4, 24 GB one slot of
    # batch 1 with VAE tiling
    assert p.slots("cuda:0") == 4 and p.plan("cuda:0").batch == 4
    assert p.slots("cuda:1") == 1 and p.plan("cuda:1").batch == 1 and p.plan("cuda:1").vae_tiling
    assert "cuda:1" in p.describe()["memory_plans"]
    assert GpuPool("auto", slots_per_device=2, lease_dir=tmp_path).slots("cuda:0") == 2
    assert GpuPool("auto", gb_per_slot=24, lease_dir=tmp_path).slots("cuda:0") == 3  # the old rule, when set


def test_bad_config():
    with pytest.raises(ValueError):
        GpuPool([])
    with pytest.raises(ValueError):
        GpuPool(["cuda:0", "cuda:0"])
    with pytest.raises(ValueError):
        GpuPool(["cuda:0"], slots_per_device=0)
