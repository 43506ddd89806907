"""bench/bench_demo.py in its tiny form: `skustudio demo --limit 2` with the pool and with one worker."""
import json

from tests.helpers.bench import run_bench


def test_bench_demo_tiny():
    out = run_bench("bench_demo.py", "--tiny", timeout_s=1200)
    result = json.loads(out.rsplit("RESULT ", 1)[1].splitlines()[0])
    assert result["ratio"] > 0
    assert all(r["rc"] == 0 for runs in result["runs"].values() for r in runs)
    assert "pool / one worker" in out
