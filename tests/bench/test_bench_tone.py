"""The tone benchmark runs (tiny form) and prints its figures."""
from bench.bench_tone import main


def test_bench_tone_tiny(capsys):
    assert main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "without the match" in out and "matched" in out and "one transfer at 512" in out
