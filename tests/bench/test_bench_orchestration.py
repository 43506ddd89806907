"""bench/bench_orchestration.py in its tiny form (3 SKUs through Dagster and without it, with the pool)."""
import json

from tests.helpers.bench import run_bench


def test_bench_orchestration_tiny():
    out = run_bench("bench_orchestration.py", "--tiny", timeout_s=900)
    rows = json.loads(out.rsplit("RESULT ", 1)[1].splitlines()[0])
    [row] = rows
    assert row["n"] == 3
    for mode in ("plain", "dagster"):
        assert row[mode]["success"] and row[mode]["images"] > 0 and row[mode]["tree_peak_rss_mb"] > 0, row
    assert "overhead" in out
