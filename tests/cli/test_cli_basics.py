"""`skustudio`: --help for every command, and the exit codes scripts rely on (no Dagster run needed)."""
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli import EXIT_FAILED, EXIT_USAGE, main

COMMANDS = [
    [],
    ["demo"],
    ["sync"],
    ["backfill"],
    ["status"],
    ["review"],
    ["review", "list"],
    ["review", "approve"],
    ["review", "reject"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_explains_each_command(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: skustudio" in out
    assert "exit codes" in out  # every command says what its exit codes mean


def test_top_level_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "sync", "backfill", "status", "review"):
        assert command in out
    assert "0  success" in out and "\n  1  " in out and "\n  2  " in out


def test_console_script_runs():
    exe = Path(sys.executable).parent / "skustudio"
    argv = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "orchestration.cli", "--help"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "exit codes" in proc.stdout


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exc:
        main(["status"])  # --promotion is required
    assert exc.value.code == EXIT_USAGE


def test_unknown_promotion_exits_2(cli_env, capsys):
    assert main(["status", "--promotion", "no-such-promo"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown promotion 'no-such-promo'" in err and "double11" in err
    assert main(["demo", "--promotion", "no-such-promo", "--quiet"]) == EXIT_USAGE
    assert "unknown promotion" in capsys.readouterr().err
    assert not (cli_env / "store").exists()  # nothing ran


def test_missing_catalog_exits_2(cli_env, tmp_path, capsys):
    assert main(["sync", "--catalog", str(tmp_path / "missing.csv"), "--quiet"]) == EXIT_USAGE
    assert "catalog file not found" in capsys.readouterr().err


def test_bad_environment_exits_2(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("SKUSTUDIO_ENV", "staging")
    assert main(["status", "--promotion", "double11"]) == EXIT_USAGE
    assert "SKUSTUDIO_ENV" in capsys.readouterr().err


def test_backfill_against_unreachable_server_fails_clearly(capsys):
    # port 9 (discard) on loopback: nothing listens there
    code = main(["backfill", "--promotion", "double11", "--url", "http://user:s3cret@127.0.0.1:9", "--request-timeout", "5"])
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert "cannot reach the Dagster server at http://127.0.0.1:9" in err
    assert "s3cret" not in err and "user" not in err


def test_backfill_rejects_empty_sku_list(capsys):
    assert main(["backfill", "--promotion", "double11", "--skus", " , ", "--url", "http://127.0.0.1:9"]) == EXIT_USAGE
