"""bench/bench_quality.py in its tiny form: it runs and prints its figure lines."""
from tests.helpers.bench import run_bench


def test_bench_quality_tiny():
    out = run_bench("bench_quality.py", "--tiny")
    for line in ("score_image with OCR", "score_image without OCR", "score_image generated scene", "read_texts all 3",
                 "PromotionHashes.compare"):
        assert line in out, out
    assert "text=pass" in out
