"""The code location loads, shows the whole asset graph, and stays light (no torch/diffusers/GX at load)."""
import json
import subprocess
import sys


def test_definitions_load_without_heavy_imports():
    code = (
        "import sys, json, orchestration.definitions as d;"
        "keys = sorted(k.to_user_string() for k in d.defs.resolve_asset_graph().get_all_asset_keys());"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'great_expectations', 'rapidocr_onnxruntime') if m in sys.modules];"
        "print(json.dumps({'keys': keys, 'heavy': heavy}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    for key in [
        "catalog_table",
        "catalog_rejects",
        "catalog_partitions",
        "prompt_table",
        "product_cutouts",
        "generated_images",
        "quality_scores",
        "graded_sets",
        "cdn_publish",
        "cdn_manifest",
    ]:
        assert key in report["keys"], key


def test_definitions_resolve_jobs_schedules_and_checks():
    from orchestration.definitions import defs

    defs.resolve_all_job_defs()
    assert defs.resolve_schedule_def("nightly_catalog_sync").cron_schedule
    check_keys = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"catalog_gate", "prompt_gate"} <= check_keys
