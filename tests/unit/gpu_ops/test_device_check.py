"""bench/device_check.py: its --tiny form runs end to end here (CPU; timings mean nothing, so none are asserted),
and the full architecture it builds has the published sizes (counted on the meta device: no memory, no weights)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "bench" / "device_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_full_architecture_has_the_published_sizes():
    mod = _module()
    counts = mod.parameter_counts(mod.build_full_modules("meta"))
    assert counts["transformer"] == pytest.approx(6.16e9, rel=0.01)
    assert counts["text_encoder"] == pytest.approx(4.02e9, rel=0.01)
    assert counts["vae"] == pytest.approx(84e6, rel=0.01)
    bf16_gib = 2 * sum(counts.values()) / 1024**3
    assert bf16_gib == pytest.approx(19.1, abs=0.2)


def test_tiny_form_runs_and_writes_a_profile_sizing_will_not_use(tmp_path):
    from gpu_ops.memory import PROFILE_SCHEMA, profile_from_check

    out = tmp_path / "check.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--skip-tests", "--batches", "1,2", "--width", "64",
                           "--height", "64", "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["schema"] == PROFILE_SCHEMA and data["tiny"] is True and data["complete"] is True
    assert [r["batch"] for r in data["batches"]] == [1, 2] and [r["batch"] for r in data["plain_batches"]] == [1, 2]
    assert data["steps"] == 8 and data["tiled_batches"]
    assert all(r["seconds_per_image"] > 0 for r in data["batches"])
    assert "s/image" in proc.stdout and "TINY" in proc.stdout
    with pytest.raises(ValueError, match="tiny"):
        profile_from_check(data)
