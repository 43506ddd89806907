"""bench/bench_fleet.py in its tiny form: a simulated fleet of 2 devices x 1 slot against 1 x 1."""
import json

from tests.helpers.bench import run_bench


def test_bench_fleet_tiny():
    out = run_bench("bench_fleet.py", "--tiny", timeout_s=900)
    result = json.loads(out.rsplit("RESULT ", 1)[1].splitlines()[0])
    assert result["oversubscribed"] == 0 and result["max_loads_per_device"] == 1
    assert all(r["success"] and r["images"] > 0 for r in result["rows"])
    assert "speed-up" in out
