"""`assets.key_pool.pooled_key_events`: a step's pure CPU work in worker processes, failures kept per key, and
the cutout step on two workers storing what one worker stores."""
import os
import signal

import dagster as dg
import pytest

from assets.key_pool import pooled_key_events
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources
from resources.execution import ExecutionSettings
from skucore import tables as T


def square_or_fail(job):
    key, value = job
    if key == "bad":
        raise ValueError(f"cannot compute {key}")
    if key == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    return (os.getpid(), value * value)


def _collect(events):
    done, failed, stages = [], {}, {}
    for ev in events:
        if ev.kind == "done":
            done.append(ev.key)
        elif ev.kind == "failed":
            failed[ev.key] = ev.reason
        elif ev.kind == "stage":
            stages[ev.key] = ev.metadata
    return done, failed, stages


def _prepare(key):
    if key == "unreadable":
        raise OSError("photo missing")
    return key, len(key)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_key_is_computed_once_and_a_bad_key_fails_alone(workers):
    keys = ["a", "bb", "bad", "ccc", "unreadable", "dddd", "eeeee"]
    events = pooled_key_events(keys, "squares", prepare=_prepare, compute=square_or_fail,
                               finish=lambda key, result: {"square": result[1], "pid": result[0]},
                               workers=workers, start_method="spawn")
    done, failed, stages = _collect(events)
    assert sorted(done) == sorted(keys)  # each key reported finished exactly once
    assert failed == {"bad": "ValueError: cannot compute bad", "unreadable": "OSError: photo missing"}
    assert {k: v["square"] for k, v in stages.items()} == {"a": 1, "bb": 4, "ccc": 9, "dddd": 16, "eeeee": 25}
    pids = {v["pid"] for v in stages.values()}
    assert (os.getpid() in pids) == (workers == 1)  # in this process, or only in workers


def test_a_killed_worker_fails_the_keys_it_was_computing_and_the_rest_go_on():
    keys = ["killer"] + [f"k{i:02d}" for i in range(12)]
    events = pooled_key_events(keys, "squares", prepare=lambda k: (k, 3), compute=square_or_fail,
                               finish=lambda key, result: {"square": result[1]}, workers=2, per_worker=1,
                               start_method="spawn")
    done, failed, stages = _collect(events)
    assert sorted(done) == sorted(keys)
    assert "killer" in failed and "worker process died" in failed["killer"]
    # At most the keys in flight when the pool noticed the death fail: 2 workers x 1 key each. Which keys those
    # are depends on timing: the other worker goes on taking keys until the pool sees the dead one.
    assert len(failed) <= 2, failed
    assert set(stages) == set(keys) - set(failed)


def test_cutouts_on_two_workers_store_what_one_worker_stores(tmp_path, small_catalog):
    stored = {}
    for workers in (1, 2):
        home = tmp_path / f"home{workers}"
        resources = local_resources(home=str(home), catalog=str(small_catalog))
        resources["execution"] = ExecutionSettings(workers=workers)
        defs = build_definitions(resources)
        with dg.instance_for_test() as instance:
            assert run_stage(defs, "catalog_sync", instance).success
            skus = instance.get_dynamic_partitions("skus")
            result = run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1])
            assert result.success
            assert instance.get_materialized_partitions(dg.AssetKey("product_cutouts")) == set(skus)
        store = defs.resources["store"]
        stored[workers] = {sku: (store.get_bytes(T.cutout(sku)), store.read_table(T.cutout_meta(sku)).to_pylist())
                           for sku in skus}
    assert stored[1] == stored[2]


class NeedsItsArguments(Exception):
    def __init__(self, sku, why):  # unpickling calls __init__ with args=(message,) only: it would fail
        super().__init__(f"{sku}: {why}")
        self.sku, self.why = sku, why


def raise_unpicklable(job):
    key, _ = job
    if key == "odd":
        raise NeedsItsArguments(key, "background_not_white")
    return os.getpid()


def test_an_exception_that_does_not_unpickle_fails_only_its_key_with_its_reason():
    keys = ["a", "odd", "b", "c"]
    events = pooled_key_events(keys, "cutouts", prepare=lambda k: (k, 0), compute=raise_unpicklable,
                               finish=lambda key, pid: {"pid": pid}, workers=2, start_method="spawn")
    done, failed, stages = _collect(events)
    assert sorted(done) == sorted(keys)
    assert failed == {"odd": "NeedsItsArguments: odd: background_not_white"}
    assert set(stages) == {"a", "b", "c"}
