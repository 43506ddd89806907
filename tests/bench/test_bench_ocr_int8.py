"""bench/bench_ocr_int8.py in its tiny form: it runs and prints its figure lines."""
import re

from tests.helpers.bench import run_bench


def test_bench_ocr_int8_tiny():
    out = run_bench("bench_ocr_int8.py", "--tiny")
    for line in ("legible overlays: exact reads float", "hostile crops: exact reads float", "pass under int8 only",
                 "recogniser 1 x 48 x 380: float"):
        assert line in out, out
    legible = re.search(r"legible overlays: exact reads float (\d+)/(\d+), int8 (\d+)/\2", out)
    assert legible and int(legible.group(3)) > 0, out
