"""`skustudio status` and `skustudio sync` on real data: a 2-SKU run of every stage, and catalog syncs."""
import json

from orchestration.cli import EXIT_OK, EXIT_USAGE, main
from orchestration.status import promotion_status
from orchestration.resources import local_resources
from tests.helpers.cli import write_small_catalog


def test_status_counts_every_stage_and_grade(demo_run, capsys):
    home, catalog, _ = demo_run
    assert main(["status", "--promotion", "double11", "--home", str(home), "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    s, g = status["stages"], status["grades"]
    assert s["catalog_rows"] == 2 and s["catalog_rejects"] == 0
    assert s["cutouts"]["skus"] == 2
    assert s["generated"]["skus"] == 2 and s["generated"]["images"] >= 6  # 3 scenes x 1 platform, + regenerations
    assert s["scored"]["skus"] == 2 and s["scored"]["metric_rows"] > 0
    assert s["graded"] == {"skus": 2, "images": 6}
    assert g["A"] + g["B"] + g["C"] == 6
    assert g["pending_review"] == status["review"]["pending"]
    assert s["published"]["images"] == status["publishable"] == s["manifest_entries"]
    assert status["manifest"]["exists"] and status["manifest"]["skus"] == s["published"]["skus"]
    dagster = status["dagster"]
    assert dagster["registered_skus"] == 2
    for asset in ("product_cutouts", "generated_images", "quality_scores", "graded_sets", "cdn_publish"):
        assert dagster["assets"][asset]["materialized"] == 2 and dagster["assets"][asset]["failed"] == 0, asset
    assert dagster["assets"]["cdn_manifest"]["materialized"] == 1

    assert main(["status", "--promotion", "double11", "--home", str(home)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "SKUs with cutouts        2" in out and "manifest entries" in out and "cdn_publish" in out


def test_status_functions_return_plain_dicts(demo_run):
    home, catalog, promotions = demo_run
    res = local_resources(home=str(home), catalog=str(catalog))
    status = promotion_status(res, "double11")  # no instance: store counts only
    assert status["dagster"] is None and status["stages"]["graded"]["skus"] == 2
    json.dumps(status)  # JSON-ready


def test_status_of_a_promotion_nothing_ran_for(demo_run, tmp_path, monkeypatch, capsys):
    _, _, promotions = demo_run
    (promotions / "spring.yaml").write_text((promotions / "double11.yaml").read_text().replace("id: double11", "id: spring"))
    try:
        assert main(["status", "--promotion", "spring", "--home", str(demo_run[0]), "--json"]) == EXIT_OK
        status = json.loads(capsys.readouterr().out)
        assert status["stages"]["generated"]["skus"] == 0 and not status["manifest"]["exists"]
    finally:
        (promotions / "spring.yaml").unlink()
    assert main(["status", "--promotion", "winter", "--home", str(demo_run[0])]) == EXIT_USAGE


def test_sync_reports_added_changed_delisted(cli_env, tmp_path, capsys):
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    assert main(["sync", "--catalog", str(catalog), "--json", "--quiet"]) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    assert first["success"] and (first["added"], first["changed"], first["delisted"]) == (2, 0, 0)
    assert first["sku_partitions"] == 2 and "double11" in first["promotions"]

    lines = catalog.read_text(encoding="utf-8").splitlines()
    catalog.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # header + the first SKU: the second is delisted
    assert main(["sync", "--catalog", str(catalog), "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "added 0, changed 0, delisted 1, unchanged 1" in out
    assert "SKU partitions: 1" in out
