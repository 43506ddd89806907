"""The README's main-job command, in a small form: `skustudio demo --limit 2` on a fresh home."""
import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_command_publishes_and_says_where(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKUSTUDIO_", "DAGSTER_HOME"))}
    cli = Path(sys.executable).with_name("skustudio")
    proc = subprocess.run(
        [str(cli), "demo", "--limit", "2", "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    manifest = home / "cdn" / "promotions" / "double11" / "manifest.json"
    assert str(manifest) in out or manifest.as_uri() in out
    assert "review queue" in out and "grades A=" in out
    doc = json.loads(manifest.read_text())
    assert {e["sku"] for e in doc["entries"]} and len({e["sku"] for e in doc["entries"]}) == 2
    for entry in doc["entries"]:
        assert (home / "cdn" / entry["key"]).is_file()
    assert (home / "dagster_home").is_dir()
