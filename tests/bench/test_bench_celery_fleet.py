"""bench/bench_celery_fleet.py runs in its tiny form (2 SKUs in chunks of 1, two workers against one) and prints its figures."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e  # it starts the production deployment: servers, webserver, daemon, Celery workers


def test_tiny_celery_fleet_benchmark_prints_throughput():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_celery_fleet.py"), "--tiny"], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "throughput two workers / one:" in out.stdout
    assert "generated img/s" in out.stdout
