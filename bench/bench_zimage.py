"""Benchmark: Z-Image inpainting throughput, our backend vs a plain diffusers loop, same process, same weights.
(`bench/device_check.py` does the same without weights, with the full architecture at random, and writes the
memory profile the slot sizing reads.)

    python bench/bench_zimage.py --model /models/Z-Image-Turbo            # real weights, GPU: 1024 x 768
    python bench/bench_zimage.py --tiny                                   # CPU smoke run on a tiny random model

For each batch size (1, 2, 4) it prints seconds per image and images per second for
- "ours":  ZImageBackend.generate(batch)  (batched pipeline call + exact product paste-back)
- "plain": the same loaded ZImageInpaintPipeline called once per image in a Python loop (no paste-back),
and the peak GPU memory (torch.cuda.max_memory_allocated) of each measurement. Both share one set of weights,
so the comparison is only about batching and our post-processing. Figures go to stdout (and --json FILE).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_requests(n: int, width: int, height: int, seed0: int = 0):
    from gpu_ops.base import SceneRequest

    out = []
    for i in range(n):
        rng = np.random.RandomState(seed0 + i)
        canvas = np.full((height, width, 3), 235, np.uint8)
        y0, y1, x0, x1 = height // 4, height - height // 6, width // 3, width - width // 3
        canvas[y0:y1, x0:x1] = (rng.rand(y1 - y0, x1 - x0, 3) * 255).astype(np.uint8)
        mask = np.full((height, width), 255, np.uint8)
        mask[y0:y1, x0:x1] = 0
        out.append(
            SceneRequest(
                prompt=f"a product on a marble kitchen counter, soft morning light, photo {i}",
                negative_prompt="",
                seed=1000 + seed0 + i,
                width=width,
                height=height,
                init_image=Image.fromarray(canvas, "RGB"),
                mask=Image.fromarray(mask, "L"),
                key=f"bench|{i}",
            )
        )
    return out


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak():
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_gb():
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1024**3
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="local Z-Image folder or hub id (weights must be local unless --allow-download)")
    ap.add_argument("--tiny", action="store_true", help="build and use a tiny random-weight model (CPU smoke run)")
    ap.add_argument("--width", type=int, default=None, help="default 1024 (real) / 128 (tiny)")
    ap.add_argument("--height", type=int, default=None, help="default 768 (real) / 96 (tiny)")
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--repeats", type=int, default=2, help="timed repetitions per measurement (after one warm-up)")
    ap.add_argument("--steps", type=int, default=None, help="default: the backend's (8, Turbo's schedule)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--cpu-offload", action="store_true")
    ap.add_argument("--vae-tiling", action="store_true")
    ap.add_argument("--allow-download", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    if not args.model and not args.tiny:
        ap.error("give --model PATH (real weights) or --tiny")

    import torch

    from gpu_ops.zimage import ZImageBackend

    width = args.width or (128 if args.tiny else 1024)
    height = args.height or (96 if args.tiny else 768)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    model = args.model
    tmp = None
    if args.tiny:
        from tests.helpers.tiny_zimage import build_tiny_zimage

        tmp = tempfile.TemporaryDirectory(prefix="tiny-zimage-")
        model = str(build_tiny_zimage(Path(tmp.name) / "pipe"))

    backend = ZImageBackend(
        model,
        device=args.device,
        dtype=args.dtype,
        enable_cpu_offload=args.cpu_offload,
        enable_vae_tiling=args.vae_tiling,
        num_inference_steps=args.steps,
        max_batch=max(batches),
        allow_download=args.allow_download,
    )
    t0 = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - t0
    pipe = backend.pipelines["inpaint"]
    described = backend.describe()
    dev = torch.device(described["device"])
    steps = backend.num_inference_steps
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    info = {
        "model": "tiny random (tests/helpers/tiny_zimage.py)" if args.tiny else model,
        "device": str(dev),
        "card": card,
        "dtype": described["dtype"],
        "attention_backend": described["attention_backend"],
        "size": f"{width}x{height}",
        "steps": steps,
        "load_s": round(load_s, 3),
        "torch": torch.__version__,
    }
    print("# " + json.dumps(info))

    def ours(reqs):
        backend.generate(reqs)

    def plain(reqs):
        for r in reqs:
            pipe(
                prompt=r.prompt,
                image=r.init_image,
                mask_image=r.mask,
                strength=1.0,
                height=r.height,
                width=r.width,
                num_inference_steps=steps,
                guidance_scale=0.0,
                generator=torch.Generator("cpu").manual_seed(r.seed),
            )

    rows = []
    print(f"{'impl':<6} {'batch':>5} {'s/image':>9} {'images/s':>9} {'peak GPU GB':>11}")
    for b in batches:
        reqs = make_requests(b, width, height)
        for name, fn in (("ours", ours), ("plain", plain)):
            fn(reqs)  # warm-up (kernels, allocator, from_pipe)
            _sync()
            _reset_peak()
            t = time.perf_counter()
            for _ in range(args.repeats):
                fn(reqs)
            _sync()
            dt = (time.perf_counter() - t) / (args.repeats * b)
            peak = _peak_gb()
            rows.append({"impl": name, "batch": b, "s_per_image": dt, "images_per_s": 1.0 / dt, "peak_gpu_gb": peak})
            peak_s = f"{peak:.2f}" if peak is not None else "n/a"
            print(f"{name:<6} {b:>5} {dt:>9.4f} {1.0 / dt:>9.2f} {peak_s:>11}")
            sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
