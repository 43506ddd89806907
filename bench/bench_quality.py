"""Benchmark: milliseconds per image for skucore.quality.score.score_image on a typical 800x800 secondary image with
three text regions (price, badge on a brand plate, a selling point), with and without the OCR text check.

    python bench/bench_quality.py [--n 30]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.quality_images import Preset, canvas, draw_text, encode, product  # noqa: E402

from skucore.quality.duplicates import near_duplicates  # noqa: E402
from skucore.quality.score import QualityConfig, score_image  # noqa: E402


def build():
    im, box = canvas(size=(800, 800), bg=(250, 246, 240), prod=product(420, 420), at=(190, 200))
    regions = [
        draw_text(im, "¥1,039", (40, 660), size=56, fill=(200, 0, 30), kind="price"),
        draw_text(im, "限时特惠", (560, 40), size=44, fill="white", plate=(228, 0, 43), kind="badge"),
        draw_text(im, "Waterproof breathable fabric", (40, 740), size=28, fill=(40, 40, 40), kind="selling_point"),
    ]
    return encode(im, "JPEG", quality=88), box, regions


def run(n, data, box, regions, cfg):
    kw = dict(preset=Preset(), slot="secondary", product_box=box, text_regions=regions,
              fidelity={"passed": True, "psnr": 60.0, "max_abs_diff": 1}, brand_colours={"primary": "#E4002B"},
              backdrop_kind="surface", config=cfg)
    score_image(data, **kw)  # warm-up (OCR engine creation, first-call costs)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        res = score_image(data, **kw)
        times.append((time.perf_counter() - t) * 1000)
    return times, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    data, box, regions = build()
    t0 = time.perf_counter()
    import skucore.quality.ocr as ocr
    ocr.get_engine()
    print(f"OCR engine creation: {(time.perf_counter() - t0) * 1000:.0f} ms (once per process)")
    for label, cfg in (("with OCR", QualityConfig()), ("without OCR", QualityConfig(exclude=frozenset({"text"})))):
        times, res = run(args.n, data, box, regions, cfg)
        statuses = {r.metric: r.status for r in res}
        print(f"score_image {label:12s}: median {statistics.median(times):6.1f} ms/image, "
              f"p90 {sorted(times)[int(0.9 * len(times)) - 1]:6.1f} ms (n={args.n}, 800x800 JPEG, 3 text regions); "
              f"text={statuses['text']}")
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    for r in regions:
        crop = img.crop(r.box)
        ts = []
        for _ in range(max(5, args.n // 3)):
            t = time.perf_counter()
            read, _score = ocr.read_text(crop)
            ts.append((time.perf_counter() - t) * 1000)
        print(f"  read_text {r.kind:13s} {crop.width}x{crop.height}: median {statistics.median(ts):5.1f} ms -> {read!r}")
    # near duplicates at promotion scale
    import random
    rnd = random.Random(0)
    hashes = {(f"SKU-{i // 4}", i % 4): "%016x" % rnd.getrandbits(64) for i in range(10_000)}
    t = time.perf_counter()
    pairs = near_duplicates(hashes)
    print(f"near_duplicates over 10,000 hashes: {(time.perf_counter() - t) * 1000:.0f} ms ({len(pairs)} pairs)")


if __name__ == "__main__":
    main()
