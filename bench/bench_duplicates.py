"""Benchmark: near duplicates among different products, judged on the whole image (dHash, as before) and on the
product region + scene fingerprint (`skucore.quality.duplicates.image_fingerprint`), and the cost of each hash.

The sample packshots are cut out (`cut_out`) and rendered as the shipped templates' studio main image, lifestyle
scene and detail card (price, badge and selling points around the product) for Taobao; every pair of different
packshots on one template is compared at the default limit (4 bits). Some sample photos are the same picture under
two names (a t-shirt "black" and its plain file): those pairs are true duplicates, listed by name.

    python bench/bench_duplicates.py [--tiny]
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from skucore.imaging.cutout import cut_out  # noqa: E402
from skucore.imaging.render import render_sku_images  # noqa: E402
from skucore.prompting.templates import default_library  # noqa: E402
from skucore.quality.duplicates import generated_image_fingerprint, near_duplicates, perceptual_hash  # noqa: E402
from tests.helpers.cutout import PACKSHOTS  # noqa: E402


class Promo:
    id = "bench"
    badge_text = "限时特惠"
    main_role = "studio"
    brand_kit = {"primary": "#C8102E", "secondary": "#FFFFFF", "accent": "#FFD100", "text": "#1A1A1A"}
    look = None

    def promo_price(self, price: float) -> float:
        return round(price * 0.8)


def render_all(names, roles):
    templates = {t.id: t for t in default_library().all()}
    rows = [{"role": r, "template_id": f"default/{r}", "backend": "studio", "seed": 3, "prompt": r} for r in roles]
    out = {}
    for name in names:
        sku = {"sku": name, "category": "default", "price": 129.0, "currency": "CNY",
               "selling_points": ["Soft cotton", "Machine washable"]}
        for img in render_sku_images(cut_out(Image.open(PACKSHOTS / name)), sku, rows, Promo(), platforms=["taobao"],
                                     templates_by_id=templates, source_sha256="0" * 64):
            gen = {"product_box": list(img.product_box),
                   "text_regions": json.dumps([{"box": list(r.box)} for r in img.text_regions])}
            out[(name, img.role)] = (img.data, gen)
    return out


def timed(fn, items):
    fn(items[0])  # warm-up
    ts = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="4 packshots on the detail card (what CI runs)")
    args = ap.parse_args(argv)
    names = sorted(p.name for p in PACKSHOTS.glob("*.jpg"))
    roles = ["studio", "lifestyle", "detail"]
    if args.tiny:
        names, roles = ["tote_bag_ruby.jpg", "tote_bag_solidus.jpg", "solidus_tshirt.jpg",
                        "solidus_tshirt_black.jpg"], ["detail"]
    renders = render_all(names, roles)
    whole = {k: perceptual_hash(v[0]) for k, v in renders.items()}
    prints = {k: generated_image_fingerprint(*v) for k, v in renders.items()}
    n_pairs = len(names) * (len(names) - 1) // 2
    print(f"{len(names)} packshots x {len(roles)} templates, {n_pairs} pairs of different products per template")
    for role in roles:
        old = near_duplicates({k: v for k, v in whole.items() if k[1] == role}, sku_of=lambda k: k[0])
        new = near_duplicates({k: v for k, v in prints.items() if k[1] == role}, sku_of=lambda k: k[0])
        print(f"  {role}: whole-image dHash flags {len(old)} pairs; product + scene fingerprint flags {len(new)}: "
              + ", ".join(f"{a[0]}~{b[0]} ({d})" for a, b, d in new))
    cross = near_duplicates(prints, sku_of=lambda k: k[0])
    print(f"  across templates (fingerprints): {sum(1 for a, b, _ in cross if a[1] != b[1])} pairs")
    items = list(renders.values())
    print(f"  median ms per image: whole-image dHash {timed(lambda v: perceptual_hash(v[0]), items):.1f}, "
          f"fingerprint {timed(lambda v: generated_image_fingerprint(*v), items):.1f}")
    t = time.perf_counter()
    big = {(f"S{i}", j): h for i, h in enumerate(list(prints.values()) * 20) for j in (0,)}
    near_duplicates(big, sku_of=lambda k: k[0])
    print(f"  comparing {len(big)} fingerprints pairwise: {time.perf_counter() - t:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
