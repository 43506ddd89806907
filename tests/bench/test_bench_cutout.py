"""bench/bench_cutout.py runs in its tiny form and prints, for cut_out beside the naive threshold and GrabCut on
both ground-truth sets, mean and worst IoU, boundary F-score and median / p95 ms."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cutout_tiny(tmp_path):
    env = {**os.environ, "SKUSTUDIO_CUTOUT_GT_CACHE": str(tmp_path / "gt")}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_cutout.py"), "--tiny"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "| set | method | photos | mean IoU | worst IoU | boundary F (2 px) | median ms | p95 ms |" in out
    number = r"(\d+\.\d+)"
    rows = {}
    for s, m, mean, worst, bf, med, p95 in re.findall(
            rf"^\| (\w+) \| (\w+) \| 2 \| {number} \| {number} \| {number} \| {number} \| {number} \|", out, re.M):
        rows[(s, m)] = tuple(map(float, (mean, worst, bf, med, p95)))
    assert set(rows) == {(s, m) for s in ("white_sweep", "falloff_reflection")
                         for m in ("cut_out", "threshold", "grabcut")}
    for mean, worst, bf, med, p95 in rows.values():
        assert 0 <= worst <= mean <= 1 and 0 <= bf <= 1 and 0 < med <= p95
    assert any((tmp_path / "gt").rglob("*.npz"))  # the cases were cached where it was told, not in the repository
