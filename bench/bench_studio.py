"""Studio render time per SKU: 3 scenes x 5 platforms, rendered, overlaid, exported, fidelity-checked, labelled.

    python bench/bench_studio.py [--skus 4] [--repeat 2] [--platforms amazon_main,taobao,jd,pinduoduo,shopify] [--tiny]

Prints the mean/min/max seconds per SKU (and per image), the byte sizes and JPEG qualities chosen, and memory: peak
RSS of the process (ru_maxrss, includes the interpreter and libraries) and the numpy/Python allocation peak of one
SKU's render (tracemalloc; Pillow's and OpenCV's own buffers are not traced).
Cutouts come from `skucore.imaging.cutout.cut_out` when it imports, else a near-white threshold (timed separately, not
included in the render figure).
"""
from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skucore.imaging.render import render_sku_images  # noqa: E402

PACKSHOTS = Path(__file__).resolve().parents[1] / "data" / "samples" / "packshots"
TEMPLATES = {
    "bench/hero": {"id": "bench/hero", "backend": "studio", "backdrop": {"kind": "white"}, "overlays": [],
                   "shadow": True},
    "bench/lifestyle": {"id": "bench/lifestyle", "backend": "studio",
                        "backdrop": {"kind": "surface", "surface": "marble"}, "overlays": ["selling_points"],
                        "shadow": True, "reflection": True, "fill": 0.6},
    "bench/detail": {"id": "bench/detail", "backend": "studio",
                     "backdrop": {"kind": "gradient", "colours": ["brand.secondary", "#FFFFFF"]},
                     "overlays": ["price", "badge", "selling_points"], "fill": 0.55},
}


class Promo:
    id = "bench"
    badge_text = "限时特惠"
    main_role = "hero"
    brand_kit = {"primary": "#E4393C", "secondary": "#FFE8E0", "accent": "#FFC53D", "text": "#FFFFFF", "font": None}

    def promo_price(self, price: float) -> float:
        return round(price * 0.8, 2)


def threshold_cutout(im: Image.Image):
    from skucore.base.types import Cutout

    a = np.asarray(im.convert("RGB"))
    mask = np.where((a < 245).any(axis=2), 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Cutout(rgba=np.dstack([a, mask]), mask=mask, bbox=bbox, area_ratio=float((mask > 0).mean()),
                  touches_edge=False)


def load_cutouts(n: int):
    try:
        from skucore.imaging.cutout import cut_out

        how = "skucore.imaging.cutout.cut_out"
    except Exception:  # noqa: BLE001
        cut_out, how = threshold_cutout, "threshold (< 245)"
    out = []
    t = time.perf_counter()
    for path in sorted(PACKSHOTS.glob("*.jpg")):
        if len(out) == n:
            break
        im = Image.open(path)
        im.load()
        try:
            c = cut_out(im)
        except Exception as exc:  # noqa: BLE001 - a rejected photo is skipped
            print(f"  skip {path.name}: {exc}")
            continue
        out.append((path.stem, c, hashlib.sha256(path.read_bytes()).hexdigest()))
    return out, how, time.perf_counter() - t


def rows_for(sku: str):
    return [{"promotion": "bench", "sku": sku, "role": role, "template_id": f"bench/{role}", "backend": "studio",
             "prompt": "", "negative_prompt": "", "seed": 1000 + i, "attempt": 0, "prompt_hash": f"h{i}"}
            for i, role in enumerate(("hero", "lifestyle", "detail"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--platforms", default="amazon_main,taobao,jd,pinduoduo,shopify")
    ap.add_argument("--tiny", action="store_true", help="one SKU, one render, two platforms (CI)")
    args = ap.parse_args()
    if args.tiny:
        args.skus, args.repeat, args.platforms = 1, 1, "taobao,shopify"
    platforms = args.platforms.split(",")
    cutouts, how, cut_s = load_cutouts(args.skus)
    if not cutouts:
        sys.exit(f"no packshots under {PACKSHOTS}")
    print(f"cutouts: {len(cutouts)} via {how} ({cut_s:.2f} s, not counted below)")
    promo = Promo()
    sku_row = lambda sku: {"sku": sku, "category": "default", "price": 1299.0, "currency": "CNY",  # noqa: E731
                           "selling_points": ["304不锈钢内胆，保温12小时", "Dishwasher safe, BPA-free lid", "轻巧便携"]}

    def render(sku, c, sha):
        return render_sku_images(c, sku_row(sku), rows_for(sku), promo, platforms=platforms,
                                 templates_by_id=TEMPLATES, source_sha256=sha)

    render(*cutouts[0])  # warm-up: font loading, caches, lazy imports
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, last = [], None
    for _ in range(args.repeat):
        for sku, c, sha in cutouts:
            t = time.perf_counter()
            last = render(sku, c, sha)
            times.append(time.perf_counter() - t)
    n_img = len(last)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    render(*cutouts[0])
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"scenes x platforms: 3 x {len(platforms)} = {n_img} images per SKU ({', '.join(platforms)})")
    print(f"studio render per SKU: mean {statistics.mean(times):.3f} s, min {min(times):.3f} s, "
          f"max {max(times):.3f} s over {len(times)} renders ({statistics.mean(times) / n_img * 1000:.0f} ms/image)")
    print(f"peak RSS: {rss_peak / 1024:.0f} MiB (after warm-up {rss_before / 1024:.0f} MiB); "
          f"tracemalloc peak for one SKU: {traced_peak / 2**20:.0f} MiB")
    print("last SKU's images:")
    for r in last:
        print(f"  {r.role:9s} {r.platform:12s} {r.slot:9s} {r.width}x{r.height} q={r.quality} "
              f"{len(r.data) / 1024:7.0f} KiB fill={r.fill_ratio:.2f} psnr={r.fidelity['psnr_db']} "
              f"text={len(r.text_regions)}")


if __name__ == "__main__":
    main()
