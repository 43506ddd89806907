"""A GPU fleet in simulation: a promotion's per-SKU step through Dagster with its worker pool, generated scenes
made by simulated GPUs (tests/helpers/fleet.py: a fixed time per image, sleeping, so this machine's cores are not
what limits the figure), on 4 devices x 2 slots against 1 device x 1 slot.

    python bench/bench_fleet.py [--seconds-per-image 3] [--skus 64] [--baseline-skus 8] [--max-batch 2] [--tiny]

Each SKU has a studio scene and a generated lifestyle scene on one small platform (128 x 128 Shopify), so the
CPU side is light. Prints, per configuration: images generated, the fleet's rate while it had work (scenes
generated per second between the first call's start and the last call's start: ramp-up included, the drain at the
end left out, as a catalog of thousands of SKUs makes it negligible), its rate over the whole span too, peak
concurrent calls per device (never above the device's slots) and model loads per device. Then the speed-up of
4 x 2 over 1 x 1 against the ideal 8. --tiny: 2 devices x 1 slot against 1 x 1, a few SKUs, a short time per
image (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def steady_rate(calls: list[dict]) -> float:
    """Images per second the fleet generated between the first call's start and the last call's start, each
    call's images counted in proportion to the part of it inside that window."""
    if not calls:
        return 0.0
    t0, t1 = min(c["start"] for c in calls), max(c["start"] for c in calls)
    if t1 <= t0:
        return sum(c["images"] for c in calls) / max(1e-9, max(c["end"] for c in calls) - t0)
    done = 0.0
    for c in calls:
        overlap = max(0.0, min(c["end"], t1) - max(c["start"], t0))
        done += c["images"] * overlap / max(1e-9, c["end"] - c["start"])
    return done / (t1 - t0)


def run_fleet(folder: Path, n_skus: int, devices: int, slots: int, seconds_per_image: float, max_batch: int) -> dict:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.demo import run_stage
    from orchestration.resources import local_resources
    from resources.catalog import CatalogSource
    from resources.execution import ExecutionSettings
    from resources.gpu import GpuPoolResource
    from resources.platforms import PlatformSettings
    from resources.promotions import PromotionLibrary
    from skucore.catalog.sample import build_synthetic_catalog, sample_catalog_path
    from tests.helpers.catalogs import prepare_promotion
    from tests.helpers.fleet import SMALL_SHOPIFY, Ledger, SimulatedSceneGenerator, generated_library, small_promotion

    folder.mkdir(parents=True, exist_ok=True)
    catalog = build_synthetic_catalog(n_skus, folder)
    resources = local_resources(home=str(folder / "home"), catalog=str(catalog))
    resources.update(
        catalog_source=CatalogSource(location=str(catalog), allowed_photo_locations=[str(sample_catalog_path().parent)]),
        promotions=PromotionLibrary(folder=str(small_promotion(folder / "promotions")),
                                    template_library=str(generated_library(folder))),
        scene_generator=SimulatedSceneGenerator(ledger_dir=str(folder / "ledger"), seconds_per_image=seconds_per_image,
                                                allow_studio_fallback=False, max_batch=max_batch),
        gpu_pool=GpuPoolResource(devices=[f"sim:{i}" for i in range(devices)], slots_per_device=slots,
                                 lease_dir=str(folder / "leases")),
        platforms=PlatformSettings(overrides=SMALL_SHOPIFY),
        execution=ExecutionSettings(workers=0),
    )
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(defs, instance, "gpu_week")
        t = time.perf_counter()
        result = run_stage(defs, "promotion_images", instance, start=start, end=end)
        wall = time.perf_counter() - t
    report = Ledger(folder / "ledger").report()
    return {"success": result.success, "failed": result.failed, "wall_s": wall, "images": report["images"],
            "steady_rate": steady_rate(report["calls"]), "span_rate": report["images"] / max(1e-9, report["span_s"]),
            "peak": report["peak_concurrency"], "loads": report["loads"], "slots": slots, "devices": devices,
            "cross_sku_batches": report["cross_sku_batches"], "calls": len(report["calls"])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds-per-image", type=float, default=3.0)
    ap.add_argument("--skus", type=int, default=64, help="SKUs for the 4 x 2 fleet")
    ap.add_argument("--baseline-skus", type=int, default=8, help="SKUs for the 1 x 1 baseline")
    ap.add_argument("--max-batch", type=int, default=2)
    ap.add_argument("--tiny", action="store_true", help="2 x 1 against 1 x 1, 4 SKUs, 0.5 s per image (CI)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    configs = [(4, 2, args.skus), (1, 1, args.baseline_skus)]
    if args.tiny:
        args.seconds_per_image, configs = 0.5, [(2, 1, 4), (1, 1, 2)]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; simulated {args.seconds_per_image} s "
          f"per image, batches of up to {args.max_batch}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    rows = []
    try:
        for devices, slots, n in configs:
            r = run_fleet(tmp / f"{devices}x{slots}", n, devices, slots, args.seconds_per_image, args.max_batch)
            rows.append(r)
            over = {d: p for d, p in r["peak"].items() if p > slots}
            print(f"{devices} devices x {slots} slots, {n} SKUs: {r['images']} scenes generated in {r['calls']} calls "
                  f"({r['cross_sku_batches']} batches of several SKUs), {r['steady_rate']:.2f} images/s while busy "
                  f"({r['span_rate']:.2f} over the whole span), run {r['wall_s']:.0f}s"
                  + ("" if r["success"] else f", FAILED {r['failed']}"), flush=True)
            print(f"  peak concurrent calls per device {json.dumps(r['peak'], sort_keys=True)}; oversubscribed: "
                  f"{len(over)}; model loads per device {json.dumps(r['loads'], sort_keys=True)}", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    big, base = rows
    ideal = big["devices"] * big["slots"] / (base["devices"] * base["slots"])
    speedup = big["steady_rate"] / base["steady_rate"] if base["steady_rate"] else float("nan")
    oversubscribed = sum(1 for r in rows for d, p in r["peak"].items() if p > r["slots"])
    loads = max(v for r in rows for v in r["loads"].values())
    print(f"speed-up {big['devices']}x{big['slots']} over 1x1: {speedup:.2f} (ideal {ideal:.0f}, "
          f"{(1 - speedup / ideal) * 100:.1f}% below); oversubscribed devices: {oversubscribed}; "
          f"model loads per device per run: {loads}")
    print("RESULT " + json.dumps({"speedup": speedup, "ideal": ideal, "oversubscribed": oversubscribed,
                                  "max_loads_per_device": loads, "rows": rows}))
    return 0 if all(r["success"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
