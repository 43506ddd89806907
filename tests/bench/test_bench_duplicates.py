"""The duplicates benchmark runs (tiny form) and prints its figures."""
from bench.bench_duplicates import main


def test_bench_duplicates_tiny(capsys):
    assert main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "whole-image dHash flags" in out and "median ms per image" in out
    assert "solidus_tshirt.jpg~solidus_tshirt_black.jpg" in out  # the same picture under two names
