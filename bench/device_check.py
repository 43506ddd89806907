"""Device check: what one NVIDIA GPU does with Z-Image-Turbo, without weights and without internet, in under
8 minutes. Its JSON output is what the slot sizing reads (`gpu_ops.memory`).

    python bench/device_check.py                  # on a GPU machine: the whole check
    python bench/device_check.py --tiny           # anywhere (CPU too): the same code path on the tiny model;
                                                  # its timings and memory mean nothing (CI runs this form)

1. Runs the GPU-path tests (tests/unit/gpu_ops) on CUDA with the tiny random-weight model (SKUSTUDIO_TEST_DEVICE).
2. Builds Z-Image-Turbo's full architecture with random weights from its published configuration (transformer
   6.15 B parameters, Qwen3-4B text encoder, FLUX VAE; facts in ../shared/reference/zimage-architecture.md):
   nothing is downloaded; parameters are created on the meta device, materialised on the GPU in bf16 and filled
   with small random values (timings do not depend on the values). The tokenizer is the tiny test tokenizer:
   its ids are valid in the real vocabulary, and the prompts are long like real ones.
3. Times seconds per 1024 x 768 image at the default steps (8) in bf16 for batch 1, 2 and 4 through
   `ZImageBackend.generate` ("ours": batched, product pasted back), and the same images through a plain
   diffusers loop (one pipeline call per image), with peak GPU memory for each; and batch 1 with VAE tiling.
4. Writes the JSON profile (weights, peak memory per batch size, timings) to `--out` (default: where the slot
   sizing looks, `gpu_ops.memory.default_profile_path()`; a --tiny run writes to a temporary file and marks
   itself `tiny`, which sizing never uses) and prints the slot plan it gives this device.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIB = 1024**3

# Published configuration of Tongyi-MAI/Z-Image-Turbo (../shared/reference/zimage-architecture.md).
TRANSFORMER_CONFIG = dict(
    all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2, n_heads=30,
    n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0, t_scale=1000.0,
    axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512],
)
TEXT_ENCODER_CONFIG = dict(
    hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
    head_dim=128, vocab_size=151936, rms_norm_eps=1e-6, rope_theta=1e6, tie_word_embeddings=True,
    max_position_embeddings=40960,
)
VAE_CONFIG = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=16, norm_num_groups=32,
    sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
    mid_block_add_attention=True,
)
SCHEDULER_CONFIG = dict(shift=3.0, use_dynamic_shifting=False)
PROMPT = ("a {item} standing on a white marble kitchen counter beside a window, soft morning light from the left, "
          "a blurred living room behind it with a green plant and a linen sofa, photorealistic product photography, "
          "shallow depth of field, warm tones, high detail")


def build_full_modules(device: str = "meta", dtype=None, seed: int = 0) -> dict:
    """Transformer, text encoder, VAE and scheduler of Z-Image-Turbo with random weights on `device` (on "meta":
    shapes only, for counting). Buffers keep their computed values; parameters get N(0, 0.02)."""
    import torch
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    with init_empty_weights():
        modules = {
            "transformer": ZImageTransformer2DModel(**TRANSFORMER_CONFIG),
            "text_encoder": Qwen3Model(Qwen3Config(**TEXT_ENCODER_CONFIG)),
            "vae": AutoencoderKL(**VAE_CONFIG),
        }
    if device != "meta":
        gen = torch.Generator(device=device).manual_seed(seed)
        for module in modules.values():
            buffers = {n: b.detach().clone() for n, b in module.named_buffers()}
            module.to(dtype=dtype)  # still meta: the GPU allocation below is bf16 from the start
            module.to_empty(device=device)
            with torch.no_grad():
                for p in module.parameters():
                    p.normal_(0.0, 0.02, generator=gen)
                for n, b in module.named_buffers():
                    b.copy_(buffers[n].to(b.dtype))
            module.eval()
        with torch.no_grad():  # pad tokens start as uninitialised memory in the real model too: pin them
            modules["transformer"].x_pad_token.fill_(0.01)
            modules["transformer"].cap_pad_token.fill_(0.01)
    modules["scheduler"] = FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
    return modules


def parameter_counts(modules: dict) -> dict:
    return {k: sum(p.numel() for p in m.parameters()) for k, m in modules.items() if hasattr(m, "parameters")}


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device):
    import torch

    return round(torch.cuda.max_memory_allocated(device) / GIB, 3) if device.type == "cuda" else None


def run_tests(device_type: str, timeout_s: float, select: str | None) -> dict:
    """The GPU-path tests on `device_type` (CUDA on a GPU machine), as a subprocess."""
    env = dict(os.environ, SKUSTUDIO_TEST_DEVICE=device_type, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pytest", "tests/unit/gpu_ops", "-q", "-p", "no:cacheprovider", "-x"]
    if select:
        cmd += ["-k", select]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"passed": False, "summary": f"timed out after {timeout_s:.0f}s", "seconds": round(timeout_s, 1)}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    tail = lines[-1] if lines else proc.stderr.strip()[-300:]
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    return {"passed": proc.returncode == 0, "summary": tail, "failed": failed[:20],
            "seconds": round(time.perf_counter() - t0, 1), "device": device_type}


def make_requests(n: int, width: int, height: int, seed0: int = 0):
    import numpy as np
    from PIL import Image

    from gpu_ops.base import SceneRequest

    out = []
    for i in range(n):
        rng = np.random.RandomState(seed0 + i)
        canvas = np.zeros((height, width, 3), np.uint8)
        y0, y1, x0, x1 = height // 4, height - height // 6, width // 3, width - width // 3
        canvas[y0:y1, x0:x1] = (rng.rand(y1 - y0, x1 - x0, 3) * 255).astype(np.uint8)
        mask = np.full((height, width), 255, np.uint8)
        mask[y0:y1, x0:x1] = 0
        out.append(SceneRequest(prompt=PROMPT.format(item=f"ceramic vase no. {i}"), negative_prompt="", seed=1000 + seed0 + i,
                                width=width, height=height, init_image=Image.fromarray(canvas, "RGB"),
                                mask=Image.fromarray(mask, "L"), key=f"device-check|{i}"))
    return out


def build_pipeline(tiny: bool, device, dtype):
    import torch
    from diffusers import ZImageInpaintPipeline

    from tests.helpers.tiny_zimage import build_tiny_components, build_tiny_tokenizer

    if tiny:
        comps = build_tiny_components(seed=0)
        for k in ("transformer", "text_encoder", "vae"):
            comps[k].to(device=device, dtype=dtype)
    else:
        comps = build_full_modules(str(device), dtype)
        comps["tokenizer"] = build_tiny_tokenizer()
    te_gib = sum(p.numel() * p.element_size() for p in comps["text_encoder"].parameters()) / GIB
    counts = parameter_counts(comps)
    _sync(device)
    weights = torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else None
    return ZImageInpaintPipeline(**comps), counts, weights, te_gib


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="the tiny random model (CPU or GPU; timings mean nothing)")
    ap.add_argument("--out", help="JSON profile path (default: the slot sizing's; --tiny: a temporary file)")
    ap.add_argument("--skip-tests", action="store_true", help="do not run tests/unit/gpu_ops first")
    ap.add_argument("--tests-k", default=None, help="pytest -k selection for the test step")
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--width", type=int, default=None, help="default 1024 (tiny: 128)")
    ap.add_argument("--height", type=int, default=None, help="default 768 (tiny: 96)")
    ap.add_argument("--steps", type=int, default=None, help="default: the backend's (8)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per measurement, after one warm-up")
    ap.add_argument("--attention-backend", default="auto")
    ap.add_argument("--budget-s", type=float, default=450.0, help="stop measuring after this long (partial JSON)")
    args = ap.parse_args(argv)
    started = time.perf_counter()

    import diffusers
    import torch

    from gpu_ops.memory import default_profile_path, plan_slots, profile_from_check, PROFILE_SCHEMA
    from gpu_ops.zimage import ZImageBackend

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("no CUDA device: the full check needs an NVIDIA GPU (run with --tiny for the dry form)", file=sys.stderr)
        return 2
    device = torch.device("cuda:0" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    width, height = args.width or (128 if args.tiny else 1024), args.height or (96 if args.tiny else 768)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    out_path = Path(args.out) if args.out else (
        Path(tempfile.gettempdir()) / "skustudio-device-check-tiny.json" if args.tiny else default_profile_path())
    card = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores)"
    total = torch.cuda.get_device_properties(device).total_memory / GIB if cuda else None
    result: dict = {
        "schema": PROFILE_SCHEMA, "tiny": bool(args.tiny), "device_name": card, "total_gib": total and round(total, 2),
        "dtype": str(dtype).replace("torch.", ""), "resolution": [width, height], "torch": torch.__version__,
        "cuda": torch.version.cuda, "diffusers": diffusers.__version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "batches": [], "plain_batches": [],
        "tiled_batches": [], "complete": False,
    }
    print(f"# device check: {card}, {result['dtype']}, {width}x{height}{' (TINY: timings mean nothing)' if args.tiny else ''}")

    def write():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=2), encoding="utf-8")

    if not args.skip_tests:
        select = args.tests_k or ("default_diffusers_steps or keeps_product_pixels_exactly" if args.tiny else None)
        result["tests"] = run_tests("cuda" if cuda else "cpu", min(240.0, args.budget_s / 2), select)
        print(f"# tests on {result['tests'].get('device')}: {result['tests']['summary']} ({result['tests']['seconds']}s)")

    t0 = time.perf_counter()
    pipe, counts, weights, te_gib = build_pipeline(args.tiny, device, dtype)
    result.update(parameters=counts, build_s=round(time.perf_counter() - t0, 1), text_encoder_gib=round(te_gib, 3),
                  weights_gib=round(weights, 3) if weights is not None else None)
    backend = ZImageBackend("random-weight Z-Image-Turbo architecture" if not args.tiny else "tiny random Z-Image",
                            device=str(device), dtype=result["dtype"], pipeline=pipe, max_batch=max(batches),
                            num_inference_steps=args.steps, attention_backend=args.attention_backend)
    backend.load()
    steps = backend.num_inference_steps
    result.update(steps=steps, attention_backend=backend.describe()["attention_backend"],
                  device_class=backend.describe()["device_class"])
    print(f"# built in {result['build_s']}s: parameters {counts}, weights on device {result['weights_gib']} GiB, "
          f"attention {result['attention_backend']}, {steps} steps")

    def plain(reqs):
        for r in reqs:
            pipe(prompt=r.prompt, image=r.init_image, mask_image=r.mask, strength=1.0, height=r.height, width=r.width,
                 num_inference_steps=steps, guidance_scale=0.0, generator=torch.Generator("cpu").manual_seed(r.seed))

    def measure(fn, reqs) -> dict:
        fn(reqs)  # warm-up: kernels, allocator, autotuning
        _peak_reset(device)
        t = time.perf_counter()
        for _ in range(args.repeats):
            fn(reqs)
        _sync(device)
        dt = (time.perf_counter() - t) / (args.repeats * len(reqs))
        return {"batch": len(reqs), "seconds_per_image": round(dt, 4), "peak_gib": _peak_gib(device)}

    print(f"{'impl':<12} {'batch':>5} {'s/image':>9} {'peak GiB':>9}")
    plan = [("ours", b, backend.generate, "batches") for b in batches]
    plan += [("plain loop", b, plain, "plain_batches") for b in batches]
    plan += [("ours, tiled", 1, None, "tiled_batches")]
    for name, b, fn, field in plan:
        if time.perf_counter() - started > args.budget_s:
            print(f"# budget of {args.budget_s:.0f}s spent: stopping before {name} batch {b}")
            write()
            return 1
        reqs = make_requests(b, width, height)
        if fn is None:
            pipe.vae.enable_tiling()
            row = measure(backend.generate, reqs)
            pipe.vae.disable_tiling()
        else:
            row = measure(fn, reqs)
        result[field].append(row)
        print(f"{name:<12} {b:>5} {row['seconds_per_image']:>9.4f} {row['peak_gib'] if row['peak_gib'] is not None else 'n/a':>9}")
        sys.stdout.flush()
        write()
    result["complete"] = True
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    write()
    print(f"# wrote {out_path} ({result['seconds_total']}s)")
    if not args.tiny and total is not None:
        prof = profile_from_check(result, source=f"device check {out_path}")
        for side in (1024, 2048):
            print(f"# slot plan for {side} px scenes on this device: {plan_slots(total, prof, side=side).reason}")
    return 0 if result.get("tests", {}).get("passed", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
