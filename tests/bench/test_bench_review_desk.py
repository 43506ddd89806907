"""The review desk benchmark runs in its tiny form and prints the queue page's server time for both sizes."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_review_desk_tiny():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_review_desk.py"), "--tiny"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"100 pending .*\n  queue, all +median +[\d.]+ ms", out.stdout), out.stdout
    assert re.search(r"300 pending .*\n  queue, all +median +[\d.]+ ms", out.stdout), out.stdout
