"""bench/bench_studio.py in its tiny form."""
from tests.helpers.bench import run_bench


def test_bench_studio_tiny():
    out = run_bench("bench_studio.py", "--tiny")
    assert "studio render per SKU" in out and "peak RSS" in out, out
