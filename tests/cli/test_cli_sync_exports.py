"""`skustudio sync` on every shop export fixture, as a user runs it: photos served by a real HTTP server on
127.0.0.1 (slow, failing, redirecting, oversized and lying endpoints among them), the currency the format does
not name given with --currency, Magento's media prefix with --photo-root. Every row comes out as the fixture
expects, every good row is kept, the gate passes, and a second sync downloads nothing."""
import json

import pytest

from orchestration.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from orchestration.cli.sync import SETTINGS, report
from tests.helpers.catalog_exports import EXPORTS, FAST_FETCH_ENV, export_photo_server, mismatches


@pytest.fixture(scope="module")
def photo_server():
    with export_photo_server() as server:
        yield server


@pytest.fixture
def fetch_env(cli_env, monkeypatch):
    for key, value in FAST_FETCH_ENV.items():
        monkeypatch.setenv(key, value)
    # The command's options set these variables in this process: clear what an earlier test left.
    for key in [*SETTINGS.values(), "SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS"]:
        if key not in FAST_FETCH_ENV:
            monkeypatch.delenv(key, raising=False)
    return cli_env


def _sync(catalog, export, server, *extra):
    argv = ["sync", "--catalog", str(catalog), "--json", "--quiet", *extra]
    if export.currency:
        argv += ["--currency", export.currency]
    if export.photo_root(server.base_url):
        argv += ["--photo-root", export.photo_root(server.base_url)]
    return main(argv)


@pytest.mark.parametrize("name", list(EXPORTS))
def test_export_syncs_as_the_platform_means_it(name, photo_server, fetch_env, tmp_path, capsys):
    from resources.storage import StudioStore
    from skucore import tables as T

    export = EXPORTS[name]
    catalog = export.write(tmp_path / "export", photo_server.base_url)
    assert _sync(catalog, export, photo_server) == EXIT_OK, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    READABLE[name] = first
    expected = export.expected
    assert first["format"] == expected["format"]
    assert (first["rows_in"], first["rows"], first["rejects"]) == (
        expected["records_expected"], expected["accepted"], expected["rejected"])
    assert first["gate"]["passed"] and first["added"] == expected["accepted"]
    store = StudioStore(root=str(fetch_env / "store"))
    problems = mismatches(export, store.read_table(T.CATALOG).to_pylist(),
                          store.read_table(T.CATALOG_REJECTS).to_pylist())
    assert not problems, "\n".join(problems)
    assert first["photo_fetch"]["bytes_downloaded"] > 0


def test_second_sync_downloads_nothing(photo_server, fetch_env, tmp_path, capsys):
    # shopify_classic has the 500-then-200, text/plain and 404 endpoints: only the 404 is asked again.
    export = EXPORTS["shopify_classic"]
    catalog = export.write(tmp_path / "export", photo_server.base_url)
    assert _sync(catalog, export, photo_server) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    sent = photo_server.bytes_sent
    assert _sync(catalog, export, photo_server) == EXIT_OK
    second = json.loads(capsys.readouterr().out)
    fetch = second["photo_fetch"]
    assert (fetch["bytes_downloaded"], fetch["downloaded"]) == (0, 0)
    assert fetch["revalidated"] == first["photo_fetch"]["downloaded"] and fetch["failed"] == 1
    assert photo_server.bytes_sent - sent < 100  # the 404 page, nothing else
    assert (second["added"], second["changed"], second["unchanged"]) == (0, 0, export.expected["accepted"])


READABLE = {}  # the woocommerce sync's figures, for the readable-summary test (saves a sync)


def test_readable_summary_names_rejects_gate_and_defaults():
    if "woocommerce" not in READABLE:
        pytest.skip("runs after the woocommerce sync above")
    out = "\n".join(report(READABLE["woocommerce"]))
    assert "(woocommerce, prices in SEK)" in out
    assert "rows in 13, accepted 11, rejected 2" in out
    assert "unparsable_price" in out and "row 8 WOO-CAP 'gratis'" in out
    assert "photo_not_an_image" in out and "WOO-TOTE-RUBY" in out
    assert "rows fell to the default category: 'Kläder > Tröjor' x5" in out
    assert "catalog gate: PASSED: 2 of 13 rows rejected (15.4%), within the limit 20.0%" in out


def test_a_price_without_currency_is_a_configuration_error(photo_server, fetch_env, tmp_path, capsys):
    export = EXPORTS["woocommerce"]
    catalog = export.write(tmp_path / "export", photo_server.base_url)
    assert main(["sync", "--catalog", str(catalog), "--quiet"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert "no currency" in captured.err and "--currency" in captured.err
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) == 1


def test_loopback_photos_are_refused_unless_allowed(photo_server, fetch_env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SKUSTUDIO_ALLOW_PHOTOS_FROM")
    export = EXPORTS["google_retail"]
    catalog = export.write(tmp_path / "export", photo_server.base_url)
    before = sum(photo_server.hits.values())
    assert main(["sync", "--catalog", str(catalog), "--json", "--quiet"]) == EXIT_FAILED
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 0 and set(result["reject_reasons"]) >= {"photo_address_refused"}
    assert sum(photo_server.hits.values()) == before  # refused before any request
    assert not result["gate"]["passed"] and "no valid rows" in result["gate"]["summary"]


def test_magento_without_a_media_prefix_says_how_to_set_one(photo_server, fetch_env, tmp_path, capsys):
    export = EXPORTS["magento2"]
    catalog = export.write(tmp_path / "export", photo_server.base_url)
    assert main(["sync", "--catalog", str(catalog), "--currency", "EUR", "--quiet"]) == EXIT_USAGE
    assert "--photo-root" in capsys.readouterr().err
