"""Benchmark: what the int8 recogniser (`skucore.quality.ocr_int8`) does to OCR's reads and speed, against the
fused float recogniser, both in this process.

    python bench/bench_ocr_int8.py [--tiny]

1. Legible overlays: 20 texts (prices, CJK badges, Latin and CJK selling points) x 7 sizes (16 to 64 px) x 4
   colourings (dark on cream, white on a red plate, red on white, grey on beige), drawn in the product's face,
   JPEG q88, cropped to their boxes: exact reads (`ocr.reads_as_drawn`) of each recogniser, and the crops whose
   verdict int8 changes, both ways.
2. Hostile crops: 80 text lines on the sample packshots, on noise and on gradients, at contrast 5 % to 100 %,
   some blurred, JPEG q40 to q88: how many pass under each, and the verdicts int8 changes. A pass where float
   fails is a crop int8 read exactly: OCR cannot produce the drawn text unless it is there.
3. Speed: milliseconds of the recogniser alone at 48 x 117 (a price), 2 x 48 x 117 and 48 x 380 (a selling
   point), one onnxruntime thread, the two models called in turn; medians of CPU time.

None of these texts is in the calibration set. `--tiny`: a few crops of each kind and a few calls (CI).
"""
from __future__ import annotations

import argparse
import io
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

import skucore.quality.ocr as ocr  # noqa: E402
from tests.helpers.quality_images import draw_text, encode, font  # noqa: E402

TEXTS = ["¥1,039", "¥99.00", "$19.99", "¥12,345", "到手价 ¥299", "省 ¥260", "限时特惠", "新品上市", "包邮", "满300减50",
         "Best Seller", "NEW", "Waterproof breathable fabric", "100% organic cotton", "买一送一 限量供应",
         "Free shipping over ¥99", "轻盈透气 舒适百搭", "SALE -30%", "Only 3 left", "双11狂欢价"]
SIZES = [16, 20, 24, 28, 36, 48, 64]
STYLES = [((20, 20, 20), (250, 246, 240), None), ("white", (240, 240, 240), (228, 0, 43)),
          ((200, 0, 30), (255, 255, 255), None), ((90, 90, 90), (235, 225, 205), None)]
HOSTILE_TEXTS = ["¥1,039", "$24.90", "到手价 ¥199", "限时特惠", "新品", "Organic linen blend", "满199减30", "SALE -40%",
                 "舒适透气 百搭款", "Only today"]


def legible(tiny: bool) -> list[tuple[str, Image.Image, str]]:
    combos = list(itertools.product(TEXTS, SIZES, range(len(STYLES))))
    if tiny:
        combos = combos[::40]
    out = []
    for text, size, s in combos:
        fill, bg, plate = STYLES[s]
        im = Image.new("RGB", (900, 200), bg)
        region = draw_text(im, text, (30, 60), size=size, fill=fill, plate=plate, kind="x")
        crop = Image.open(io.BytesIO(encode(im, "JPEG", quality=88))).convert("RGB").crop(region.box)
        out.append((text, crop, f"{size}px style {s}"))
    return out


def hostile(tiny: bool) -> list[tuple[str, Image.Image, str]]:
    rnd = random.Random(11)
    photos = [Image.open(p).convert("RGB") for p in sorted((ROOT / "data/samples/packshots").glob("*.jpg"))[:12]]
    out = []
    for i, text in enumerate(HOSTILE_TEXTS * (1 if tiny else 8)):
        size = rnd.choice([18, 22, 28, 36, 48])
        kind = rnd.choice(["photo", "noise", "gradient"])
        w, h = 700, 140
        if kind == "photo":
            ph = rnd.choice(photos)
            x, y = rnd.randint(0, max(0, ph.width - w)), rnd.randint(0, max(0, ph.height - h))
            bg = ph.crop((x, y, x + w, y + h)).resize((w, h))
        elif kind == "noise":
            noise = np.random.default_rng(i).normal(rnd.randint(60, 200), rnd.randint(10, 60), (h, w, 3))
            bg = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
        else:
            ramp = np.tile(np.linspace(rnd.randint(0, 255), rnd.randint(0, 255), w), (h, 1))
            bg = Image.fromarray(np.stack([ramp] * 3, -1).astype(np.uint8))
        mean = np.asarray(bg, float).mean(axis=(0, 1))
        contrast = rnd.choice([0.05, 0.1, 0.2, 0.35, 0.6, 1.0])
        fill = tuple(int(m + ((0 if m > 128 else 255) - m) * contrast) for m in mean)
        im = bg.copy()
        d = ImageDraw.Draw(im)
        box = d.textbbox((30, 40), text, font=font(size))
        d.text((30, 40), text, font=font(size), fill=fill)
        if rnd.random() < 0.3:
            im = im.filter(ImageFilter.GaussianBlur(rnd.choice([0.8, 1.5, 2.5])))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=rnd.choice([40, 70, 88]))
        out.append((text, Image.open(buf).convert("RGB").crop(box), f"{kind} contrast {contrast:g}"))
    return out


def verdicts(samples, int8: bool) -> list[tuple[bool, str]]:
    ocr.configure(threads=1, int8=int8)
    out = []
    for text, crop, _ in samples:
        (read, _score), = ocr.read_texts([crop])
        out.append((ocr.reads_as_drawn(read, text)[0], read))
    return out


def compare(name: str, samples) -> None:
    f, q = verdicts(samples, False), verdicts(samples, True)
    gained = [(s[0], s[2], b[1], a[1]) for s, b, a in zip(samples, f, q) if a[0] and not b[0]]
    lost = [(s[0], s[2], b[1], a[1]) for s, b, a in zip(samples, f, q) if b[0] and not a[0]]
    same = sum(a[1] == b[1] for a, b in zip(f, q))
    print(f"{name}: exact reads float {sum(v for v, _ in f)}/{len(samples)}, int8 {sum(v for v, _ in q)}/{len(samples)}; "
          f"same text read {same}/{len(samples)}")
    print(f"  pass under int8 only: {len(gained)} {gained[:4]}")
    print(f"  pass under float only: {len(lost)} {lost[:4]}")


def speed(n: int) -> None:
    ocr.configure(threads=1, int8=False)
    float_session = ocr.get_engine().text_rec.session.session
    ocr.configure(threads=1, int8=True)
    int8_session = ocr.get_engine().text_rec.session.session
    rng = np.random.default_rng(0)
    shapes = [(1, 117), (2, 117), (1, 380)]
    inputs = {s: rng.uniform(-1, 1, (s[0], 3, 48, s[1])).astype(np.float32) for s in shapes}
    times = {(m, s): [] for m in ("float", "int8") for s in shapes}
    for _ in range(n):
        for m, session in (("float", float_session), ("int8", int8_session)):
            for s in shapes:
                t = time.process_time()
                session.run(None, {"x": inputs[s]})
                times[(m, s)].append((time.process_time() - t) * 1000)
    for s in shapes:
        a, b = statistics.median(times[("float", s)]), statistics.median(times[("int8", s)])
        print(f"recogniser {s[0]} x 48 x {s[1]}: float {a:5.1f} ms, int8 {b:5.1f} ms CPU (ratio {b / a:.2f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a few crops and calls (CI)")
    args = ap.parse_args(argv)
    compare("legible overlays", legible(args.tiny))
    compare("hostile crops", hostile(args.tiny))
    speed(3 if args.tiny else 30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
