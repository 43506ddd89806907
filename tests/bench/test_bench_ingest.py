"""bench/bench_ingest.py runs in its tiny form: URL photos on loopback ingest, the second sync downloads zero
bytes, and the figures are printed."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ingest_tiny():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--tiny"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "60 rows, photos by URL" in out and "first sync:" in out and "rows/s" in out
    assert "60 downloaded" in out
    assert "second sync:" in out and "60 unchanged (304), 0 downloaded, 0 bytes downloaded" in out
    assert "local photos:" in out and "ms per distinct photo" in out
