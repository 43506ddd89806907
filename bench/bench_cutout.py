"""Benchmark for skucore.imaging.cutout: accuracy on the synthetic ground truth, speed on it and on the real packshots.

    python bench/bench_cutout.py [--per-kind 2] [--size 1200] [--repeat 3] [--packshots DIR]

Prints per-case IoU (mask > 127 vs true alpha > 127), mean IoU, ms/photo (mean and p95, one OpenCV thread,
the photo already decoded), each packshot's area ratio and flags, and the peak memory of the process.
"""
from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import time
import tracemalloc

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))

sys.path.insert(0, os.path.dirname(HERE))

from tests.helpers.cutout_groundtruth import groundtruth_set, iou  # noqa: E402
from skucore.imaging.cutout import cut_out  # noqa: E402
from skucore.base.types import CutoutRejected  # noqa: E402

DEFAULT_PACKSHOTS = os.path.join(os.path.dirname(HERE), "data", "samples", "packshots")


def _time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=2)
    ap.add_argument("--size", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timing: best of N runs per photo")
    ap.add_argument("--packshots", default=DEFAULT_PACKSHOTS)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    print(f"building ground truth: {args.per_kind} per kind, {args.size}px ...", flush=True)
    cases = groundtruth_set(size=args.size, seed=args.seed, per_kind=args.per_kind)
    cut_out(cases[0].photo)  # warm-up

    tracemalloc.start()
    ious, times = [], []
    print(f"\n{'case':28s} {'IoU':>7s} {'ms':>7s}  flags")
    for c in cases:
        try:
            res = cut_out(c.photo)
            score = iou(res.mask, c.alpha)
            flags = ",".join(res.flags)
        except CutoutRejected as e:
            score, flags = 0.0, f"REJECTED {e.reason}"
        ms = _time(lambda: _safe(c.photo), args.repeat)
        ious.append(score)
        times.append(ms)
        print(f"{c.name:28s} {score:7.4f} {ms:7.1f}  {flags}")
    kinds = sorted({c.name.split('#')[0] for c in cases})
    print("\nper kind mean IoU:")
    for k in kinds:
        v = [s for c, s in zip(cases, ious) if c.name.split('#')[0] == k]
        print(f"  {k:26s} {np.mean(v):.4f}")
    t = np.asarray(times)
    print(f"\nSYNTHETIC  n={len(cases)}  mean IoU={np.mean(ious):.4f}  min IoU={np.min(ious):.4f}  "
          f"ms/photo mean={t.mean():.1f} p95={np.percentile(t, 95):.1f}")

    files = sorted(glob.glob(os.path.join(args.packshots, "*.jpg")) + glob.glob(os.path.join(args.packshots, "*.png")))
    if files:
        print(f"\n{'packshot':34s} {'size':>10s} {'ms':>7s} {'area':>6s}  bbox  flags")
        pt = []
        for f in files:
            im = Image.open(f)
            im.load()
            try:
                res = cut_out(im)
                info = f"{res.area_ratio:6.3f}  {res.bbox}  {','.join(res.flags)}"
            except CutoutRejected as e:
                info = f"REJECTED {e.reason}: {e.message}"
            ms = _time(lambda: _safe(im), args.repeat)
            pt.append(ms)
            print(f"{os.path.basename(f):34s} {im.size[0]:>4d}x{im.size[1]:<5d} {ms:7.1f} {info}")
        pt = np.asarray(pt)
        print(f"\nPACKSHOTS  n={len(files)}  ms/photo mean={pt.mean():.1f} p95={np.percentile(pt, 95):.1f}")

    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\nmemory: peak traced (numpy + Python) {peak / 2**20:.1f} MiB; process max RSS {rss:.0f} MiB "
          f"(includes the ground-truth set held in memory)")
    return 0


def _safe(im):
    try:
        cut_out(im)
    except CutoutRejected:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
