"""`skustudio status` and `skustudio sync` on real data: a 2-SKU run of every stage, and catalog syncs."""
import json

import pytest

from orchestration.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
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


def test_gate_counts_rejected_rows_17_good_3_bad_passes(cli_env, tmp_path, capsys):
    # The case: 17 good rows and 3 bad ones, each bad row with three problems. 3 / 20 = 15%, under the
    # 20% limit: the gate passes (counting the nine reject reasons gave "34.6%" and closed it).
    catalog = write_small_catalog(tmp_path / "catalog", 17)
    lines = catalog.read_text(encoding="utf-8").splitlines()
    for i in range(3):
        lines.append(f"bad sku {i},Broken,fashion,Red,Cotton,free,CNY,Solidus,,photos/missing-{i}.jpg")
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["sync", "--catalog", str(catalog), "--json", "--quiet"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert (result["rows_in"], result["rows"], result["rejects"]) == (20, 17, 3)
    assert result["reject_reasons"] == {"unsafe_sku": 3, "unparsable_price": 3, "photo_missing": 3}
    assert result["gate"]["passed"] and result["gate"]["figures"]["reject_ratio"] == 0.15
    assert result["added"] == 17

    assert main(["sync", "--catalog", str(catalog), "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "rows in 20, accepted 17, rejected 3" in out
    assert "unsafe_sku                     3  e.g. row 19 bad sku 0 'bad sku 0'" in out
    assert "catalog gate: PASSED: 3 of 20 rows rejected (15.0%), within the limit 20.0%" in out


def test_gate_closed_says_why_and_exits_1(cli_env, tmp_path, capsys):
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    lines = catalog.read_text(encoding="utf-8").splitlines()
    lines.append("X-1,Broken,fashion,Red,Cotton,free,CNY,Solidus,,photos/missing.jpg")
    catalog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["sync", "--catalog", str(catalog), "--quiet", "--max-reject-ratio", "0.1"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "catalog gate: CLOSED: reject ratio 33.3% is over the limit 10.0%: 1 of 3 rows rejected" in captured.out
    assert "the catalog gate closed" in captured.err and "catalog_rejects" in captured.err


@pytest.mark.parametrize("args, message", [
    (["--mapping", "no-such-mapping.yaml"], "mapping file .*no-such-mapping.yaml: cannot read"),
    (["--format", "prestashop"], "unknown format 'prestashop'"),
    (["--currency", "kronor"], "'kronor' is not a three-letter ISO 4217 code"),
    (["--catalog", "no-such-catalog.csv"], "catalog file not found"),
])
def test_configuration_errors_exit_2_with_one_line_and_no_traceback(cli_env, tmp_path, capsys, args, message):
    import re

    catalog = write_small_catalog(tmp_path / "catalog", 2)
    assert main(["sync", "--catalog", str(catalog), "--quiet", *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    # --debug shows where it came from.
    assert main(["sync", "--catalog", str(catalog), "--quiet", "--debug", *args]) == EXIT_USAGE
    assert "Traceback" in capsys.readouterr().err
