"""Cutout benchmark: accuracy and one-core speed of `cut_out` beside a naive threshold and OpenCV GrabCut, on the
unkind synthetic ground truth (tests/helpers/cutout_groundtruth.py).

    python bench/bench_cutout.py [--n 60] [--sets white_sweep,falloff_reflection] [--methods cut_out,threshold,grabcut]
                                 [--previous FILE] [--repeat 1] [--size PX] [-v] [--tiny]

Sets: `white_sweep` (1200 x 1200 on white, soft floor, cast and drop shadows, JPEG 80-95) and `falloff_reflection`
(800-2000 px off-white sweeps with falloff, vignette, colour casts, hard contact shadows and glossy-floor
reflections, JPEG 75-95); see the generator's docstring. Cases are cached on disk in a temp folder.

Per method and set it prints: mean IoU and worst IoU (mask > 127 against true alpha > 127; a rejected photo scores
0), the mean boundary F-score (boundary pixels within 2 px per 1200 px of the long side, see
`cutout_groundtruth.boundary_f`), and the median and p95 milliseconds per photo scaled to 1200 x 1200 (time x
1.44 MP / the photo's pixels).

Timing: CPU time of the calling thread (time.thread_time; a busy shared machine inflates wall time, less this),
one thread (cv2.setNumThreads(1), BLAS/OpenMP threads 1), the photo already decoded, best of `--repeat` runs.
Methods are timed interleaved photo by photo, so a busy machine slows them alike. `--previous FILE` adds another
cut_out loaded from a file, e.g. the last release's (`git show main:skucore/imaging/cutout.py > /tmp/prev.py`),
and an `x previous` column: each method's median time over that one's, the figure that travels between machines.
`--tiny` is the CI form (2 small photos per set).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skucore.base.types import CutoutRejected  # noqa: E402
from skucore.imaging.cutout import cut_out  # noqa: E402
from tests.helpers import cutout_groundtruth as gt  # noqa: E402
from tests.helpers.cutout_gt_cache import cache_dir, cached_case  # noqa: E402


def threshold_mask(image, level=235):
    """Naive: product = any pixel whose darkest channel is below `level`."""
    rgb = np.asarray(image.convert("RGB"))
    return np.where(rgb.min(2) < level, 255, 0).astype(np.uint8)


def grabcut_mask(image, level=235, iterations=3):
    """OpenCV GrabCut at half size, 3 iterations, initialised with the bounding rectangle of the naive threshold."""
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    th = small.min(2) < level
    ys, xs = np.nonzero(th)
    if ys.size == 0:
        return np.zeros((h, w), np.uint8)
    x0, y0 = max(0, xs.min() - 2), max(0, ys.min() - 2)
    x1, y1 = min(small.shape[1] - 1, xs.max() + 2), min(small.shape[0] - 1, ys.max() + 2)
    rect = (int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0)))
    m = np.zeros(small.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), m, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # a rectangle covering the whole frame: GrabCut has no background sample
        return cv2.resize(th.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_NEAREST)
    fg = np.where((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)


def load_previous(path):
    """`cut_out` from a Python file (an older version of skucore/imaging/cutout.py)."""
    spec = importlib.util.spec_from_file_location("previous_cutout", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda im: module.cut_out(im).mask


def methods(names, previous=None):
    table = {"cut_out": lambda im: cut_out(im).mask, "threshold": threshold_mask, "grabcut": grabcut_mask}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {sorted(table)}")
    out = {k: table[k] for k in names}
    if previous:
        out["previous"] = load_previous(previous)
    return out


def run(set_name, n, seed, meths, repeat, size, verbose):
    rows = {k: {"iou": [], "bf": [], "ms": [], "kind": []} for k in meths}
    for i in range(n):
        case = cached_case(set_name, seed * 100003 + i, size=size)
        mp = case.alpha.size / 1.44e6
        line = [f"{case.name:36s}"]
        for k, fn in meths.items():
            best, mask = float("inf"), None
            for _ in range(repeat):
                t = time.thread_time()
                try:
                    mask = fn(case.photo)
                except CutoutRejected:
                    mask = np.zeros_like(case.alpha)
                best = min(best, time.thread_time() - t)
            iou, bf = gt.iou(mask, case.alpha), gt.boundary_f(mask, case.alpha)
            r = rows[k]
            r["iou"].append(iou)
            r["bf"].append(bf)
            r["ms"].append(best * 1000 / mp)
            r["kind"].append(case.meta["kind"])
            line.append(f"{k}={iou:.3f}")
        if verbose:
            print(" ".join(line), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="photos per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default="white_sweep,falloff_reflection")
    ap.add_argument("--methods", default="cut_out,threshold,grabcut")
    ap.add_argument("--previous", help="a file holding another cut_out to time and score beside these")
    ap.add_argument("--repeat", type=int, default=1, help="timing: best of N runs per photo")
    ap.add_argument("--size", type=int, help="force the photos' long side (default: each set's own sizes)")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-photo IoU and per-kind means")
    ap.add_argument("--tiny", action="store_true", help="CI form: 2 photos per set at 400 px")
    args = ap.parse_args(argv)
    if args.tiny:
        args.n, args.size, args.repeat = 2, 400, 1
    cv2.setNumThreads(1)
    meths = methods(args.methods.split(","), args.previous)
    print(f"cutout benchmark: {args.n} photos per set, one thread, thread CPU time, cases cached in {cache_dir()}",
          flush=True)
    out = []
    for s in args.sets.split(","):
        rows = run(s, args.n, args.seed, meths, args.repeat, args.size, args.verbose)
        ref = float(np.median(rows["previous"]["ms"])) if "previous" in rows else None
        for k, r in rows.items():
            med = float(np.median(r["ms"]))
            out.append((s, k, np.mean(r["iou"]), np.min(r["iou"]), np.mean(r["bf"]), med,
                        float(np.percentile(r["ms"], 95)), med / ref if ref else None))
        if args.verbose and "cut_out" in rows:
            r = rows["cut_out"]
            print(f"\n{s}: cut_out mean IoU per kind")
            for kind in sorted(set(r["kind"])):
                v = [x for x, kk in zip(r["iou"], r["kind"]) if kk == kind]
                print(f"  {kind:16s} n={len(v):2d}  {np.mean(v):.4f}  worst {np.min(v):.4f}")
    print("\n| set | method | photos | mean IoU | worst IoU | boundary F (2 px) | median ms | p95 ms | x previous |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s, k, mi, wi, bf, med, p95, rel in out:
        rel_s = f"{rel:.2f}" if rel is not None else "-"
        print(f"| {s} | {k} | {args.n} | {mi:.4f} | {wi:.4f} | {bf:.3f} | {med:.1f} | {p95:.1f} | {rel_s} |")
    print("\nms: per 1200 x 1200 photo on one core (thread CPU time, scaled by pixel count); "
          "IoU: mask > 127 vs true alpha > 127")
    if args.size and args.size < 1000:
        print(f"(photos of {args.size} px: the scaled times carry fixed costs and do not stand for 1200 x 1200)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
