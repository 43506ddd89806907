"""The struck-price benchmark runs (tiny form) and prints its figures."""
from bench.bench_struck_prices import main


def test_bench_struck_prices_tiny(capsys):
    assert main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "new: read back exactly" in out and "old: read back exactly" in out
