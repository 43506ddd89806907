"""Benchmark: milliseconds per image for skucore.quality.score.score_image on a typical 800x800 secondary image with
three text regions (price, badge on a brand plate, a selling point): with and without the OCR text check, and as a
generated scene (whose backdrop is also searched for stray text); then OCR alone and the near-duplicate checks.

    python bench/bench_quality.py [--n 30] [--threads 1] [--tiny]

Each figure is the median over --n calls after a warm-up, as wall time and as this process's CPU time, and for
score_image the fastest call too: on a machine that other tenants load, the medians measure their load as well
(on this project's machine they move by a third from one block of calls to the next), the fastest call much
less. `--threads` sets the OCR engine's onnxruntime threads (1 is what each worker of the per-SKU step's pool
uses). `--tiny`: a few calls, for CI. The figure line to read: "score_image with OCR" (the product's recogniser:
fused graphs, heavy convolutions in int8). A second pair of lines times the same calls, in turn so that all see
the same load, on RapidOCR's stock model graphs, on the fused float graphs (`skucore.quality.ocr_graph`) and on
the product's int8 recogniser (`skucore.quality.ocr_int8`), and prints the ratios. What int8 does to the reads:
`bench/bench_ocr_int8.py`.
"""
from __future__ import annotations

import argparse
import io
import os
import random
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


def timed(n: int, fn) -> tuple[float, float, object]:
    """(median wall ms, median CPU ms, last result) over n calls after one warm-up call."""
    wall, cpu, _fastest, result = timed_with_fastest(n, fn)
    return wall, cpu, result


def timed_with_fastest(n: int, fn) -> tuple[float, float, float, object]:
    """(median wall ms, median CPU ms, fastest wall ms, last result) over n calls after one warm-up call. The
    fastest call is what the work costs with nothing else on the machine: other tenants only ever add time."""
    fn()
    walls, cpus, result = [], [], None
    for _ in range(n):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return statistics.median(walls), statistics.median(cpus), min(walls), result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads of the OCR engine (0 = its default)")
    ap.add_argument("--tiny", action="store_true", help="3 calls per figure (CI)")
    args = ap.parse_args(argv)
    n = 3 if args.tiny else args.n
    import skucore.quality.ocr as ocr

    # The stock graphs' and the fused float graphs' sessions first, kept for the interleaved comparison below;
    # then the engine the product uses.
    ocr.configure(threads=args.threads or None, fused_graphs=False, int8=False)
    stock = ocr.get_engine()
    stock_sessions = (stock.text_rec.session.session, stock.text_det.infer.session)
    ocr.configure(threads=args.threads or None, int8=False)
    fused_float = ocr.get_engine()
    float_sessions = (fused_float.text_rec.session.session, fused_float.text_det.infer.session)
    ocr.configure(threads=args.threads or None, int8=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; OCR threads {args.threads or 'default'}")
    data, box, regions = build()
    t0 = time.perf_counter()
    engine = ocr.get_engine()
    fused_sessions = (engine.text_rec.session.session, engine.text_det.infer.session)
    print(f"OCR engine creation: {(time.perf_counter() - t0) * 1000:.0f} ms (once per process, graphs fused, "
          f"int8 recogniser from the cache)")
    kw = dict(preset=Preset(), slot="secondary", product_box=box, text_regions=regions,
              fidelity={"passed": True, "psnr": 60.0, "max_abs_diff": 1}, brand_colours={"primary": "#E4002B"},
              backdrop_kind="surface")
    cases = (("with OCR", QualityConfig(), False), ("without OCR", QualityConfig(exclude=frozenset({"text"})), False),
             ("generated scene", QualityConfig(), True))
    for label, cfg, generated in cases:
        wall, cpu, fastest, res = timed_with_fastest(n, lambda: score_image(data, config=cfg, generated=generated, **kw))
        statuses = {r.metric: r.status for r in res}
        print(f"score_image {label:15s}: median {wall:6.1f} ms/image wall, {cpu:6.1f} ms CPU, fastest {fastest:6.1f} ms "
              f"(n={n}, 800x800 JPEG, 3 text regions); text={statuses['text']}")

    def use(sessions):
        engine.text_rec.session.session, engine.text_det.infer.session = sessions

    # Stock against fused float against fused int8, call by call in turn so that all see the same load: the ratios
    # travel between machines better than any one figure.
    variants = (("stock", stock_sessions), ("fused float", float_sessions), ("fused int8", fused_sessions))
    for label, cfg, generated in (cases[0], cases[2]):
        times = {name: [] for name, _ in variants}
        for _ in range(n if label == "with OCR" else max(3, n // 3)):
            for name, sessions in variants:
                use(sessions)
                t = time.perf_counter()
                score_image(data, config=cfg, generated=generated, **kw)
                times[name].append((time.perf_counter() - t) * 1000)
        use(fused_sessions)
        a, b, c = (statistics.median(times[name]) for name, _ in variants)
        print(f"score_image {label:15s}, OCR stock -> fused float -> fused int8, interleaved: {a:6.1f} -> {b:6.1f} "
              f"-> {c:6.1f} ms (ratios to stock {b / a:.2f}, {c / a:.2f}; int8 to float {c / b:.2f})")

    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    crops = [img.crop(r.box) for r in regions]
    for r, crop in zip(regions, crops):
        wall, cpu, (read, _score) = timed(max(3, n // 3), lambda: ocr.read_text(crop))
        print(f"  read_text  {r.kind:13s} {crop.width}x{crop.height}: median {wall:5.1f} ms wall, {cpu:5.1f} ms CPU -> {read!r}")
    wall, cpu, reads = timed(max(3, n // 3), lambda: ocr.read_texts(crops))
    print(f"  read_texts all 3 regions, batched: median {wall:5.1f} ms wall, {cpu:5.1f} ms CPU -> {[t for t, _ in reads]}")

    rnd = random.Random(0)
    hashes = {(f"SKU-{i // 4}", i % 4): "%016x" % rnd.getrandbits(64) for i in range(2_000 if args.tiny else 10_000)}
    t = time.perf_counter()
    pairs = near_duplicates(hashes)
    print(f"near_duplicates over {len(hashes):,} hashes: {(time.perf_counter() - t) * 1000:.0f} ms ({len(pairs)} pairs)")
    from skucore.quality.hash_registry import PromotionHashes

    registry = PromotionHashes(4, hashes)
    own = {("SKU-new", k): "%016x" % rnd.getrandbits(64) for k in range(15)}
    wall, cpu, _ = timed(max(3, n // 3), lambda: registry.compare("SKU-new", own))
    print(f"PromotionHashes.compare, one SKU's 15 images against {len(hashes):,}: {wall:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
