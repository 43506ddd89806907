"""Benchmark: one tone for a promotion's generated backgrounds. A stand-in generator returns each SKU's scene with
another colour cast (warm, cool, dark, green, magenta: `tests.helpers.scene_inputs.CastGenerator`); the renderer
matches every background to the template's reference (`skucore.imaging.tone`). Prints the spread of background
tone across the SKUs (CIEDE2000: the largest pairwise distance, and the `tone_consistency` values against the
reference) without the match (look strength 0) and with it, and the time of one transfer at export sizes.

    python bench/bench_tone.py [--tiny]
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skucore.base.colour import ciede2000  # noqa: E402
from skucore.imaging.render import render_sku_images  # noqa: E402
from skucore.imaging.scene import render_scene  # noqa: E402
from skucore.imaging.tone import match_background_tone, reference_tone  # noqa: E402
from skucore.prompting.look import Look  # noqa: E402
from skucore.quality.tone import image_background_tone  # noqa: E402
from tests.helpers.imaging import SKU_ROW, TEMPLATES, FakePromotion, cutout_from_rgba, drawn_product  # noqa: E402
from tests.helpers.imaging import prompt_row  # noqa: E402
from tests.helpers.scene_inputs import CastGenerator  # noqa: E402

TEMPLATE = {"id": "t_sweep", "backend": "diffusers", "overlays": ["price", "badge"], "fill": 0.55,
            "backdrop": {"kind": "gradient", "colours": ["#F4F1EC", "#D6D0C6"]}}


def promotion_tones(n: int, look) -> list:
    promo = FakePromotion()
    promo.look = look
    product = cutout_from_rgba(drawn_product())
    tones = []
    for seed in range(n):
        row = dict(prompt_row("detail", "t_gen", seed), template_id="t_sweep", sku=f"SKU-{seed}")
        (img,) = render_sku_images(product, dict(SKU_ROW, sku=f"SKU-{seed}"), [row], promo, platforms=["taobao"],
                                   templates_by_id=dict(TEMPLATES, t_sweep=TEMPLATE), scene_generator=CastGenerator(),
                                   source_sha256="0" * 64)
        tones.append(image_background_tone(img.data, img.product_box, [r.box for r in img.text_regions]))
    return tones


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="3 SKUs, one transfer at 512 px (what CI runs)")
    args = ap.parse_args(argv)
    n, sizes, reps = (3, [512], 1) if args.tiny else (10, [1024, 2048], 5)
    ref = reference_tone(None, "t_sweep", TEMPLATE["backdrop"])
    print(f"{n} SKUs' generated scenes, each with another colour cast (Taobao, 800 x 800)")
    for label, look in (("without the match", Look(strength=0.0)), ("matched", None)):
        tones = promotion_tones(n, look)
        pair = max(ciede2000(a, b) for a, b in itertools.combinations(tones, 2))
        to_ref = sorted(ciede2000(t, ref) for t in tones)
        print(f"  {label}: largest pairwise dE00 {pair:.2f}; tone_consistency median {statistics.median(to_ref):.2f},"
              f" max {to_ref[-1]:.2f}")
    product = cutout_from_rgba(drawn_product())
    for side in sizes:
        scene = render_scene(product, TEMPLATE["backdrop"], (side, side), fill=0.55, seed=1)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            match_background_tone(scene.image, scene.product_mask, [80.0, 4.0, 12.0])
            ts.append(time.perf_counter() - t)
        print(f"  one transfer at {side} x {side}: {statistics.median(ts) * 1000:.0f} ms (median of {reps})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
