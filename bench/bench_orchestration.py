"""Orchestration overhead and memory: the per-SKU stages of a promotion through Dagster against the same plain
functions without Dagster, both with the step's worker pool, on a synthetic catalog, for two catalog sizes.

    python bench/bench_orchestration.py [--skus 100] [--compare 300] [--platforms shopify] [--workers 0]
                                        [--stages generated_images,quality_scores,graded_sets,cdn_publish] [--tiny]

For each size N: build a synthetic catalog of N SKUs (skucore.catalog.sample.build_synthetic_catalog; 3 scenes per
SKU from the promotion's scene roles, studio backend on the CPU; its photos are the sample packshots, named by
absolute path, so the catalog source allows their folder) and a copy of promotions/double11.yaml limited to
--platforms; run the catalog sync, the prompt table and the cutouts once (setup, not timed); then, each in a fresh
subprocess starting from a copy of that store:

- dagster: the `promotion_images` job over the promotion's whole partition range (one run, one step, in-process
  executor) on a temporary SQLite instance, restricted to --stages; the step's pool has --workers workers;
- plain:   what that step does without Dagster: the same `assets.stages.PER_SKU_STAGES` work functions over a
  `assets.promotion_run.PerSkuStep`, in the same worker pool (`assets.step_pool.StepPool`), or in a loop in one
  process with --workers 1.

Prints images/second of each, the overhead ratio (dagster seconds / plain seconds; aim 1.2 or less), and memory:
peak RSS of the process tree (the step's process and its workers, summed, sampled every 0.2 s), peak RSS of the
step's process alone (ru_maxrss) and its growth over the timed section, which should stay flat as N grows.
--tracemalloc adds the Python allocation peak of the step's process over the timed section (it slows
allocation-heavy code, so the timings of that pass are not used). --tiny: 3 SKUs, one size (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMOTION = "double11"
from assets.stages import PER_SKU_STAGE_NAMES as ALL_STAGES


def _rss_mb() -> float:
    """Current RSS in MB (from /proc; ru_maxrss is the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _tree_rss_mb(pid: int) -> float:
    """RSS of `pid` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


class TreePeak:
    """Samples the RSS of this process and its workers (forkserver children included) in a thread."""

    def __init__(self, every_s: float = 0.2):
        self.every_s, self.peak, self._stop = every_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(os.getpid()))
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _quiet_warnings():
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", message="Found asset job named")
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)


def _resources(home: Path, workers: int = 0):
    from orchestration.resources import local_resources
    from resources.catalog import CatalogSource
    from resources.execution import ExecutionSettings
    from resources.promotions import PromotionLibrary
    from skucore.catalog.sample import sample_catalog_path

    res = local_resources(home=str(home / "work"), catalog=str(home / "catalog.csv"))
    res["promotions"] = PromotionLibrary(folder=str(home / "promotions"))
    # The synthetic catalog names the sample packshots by absolute path: allow their folder, as a deployment
    # whose photos live beside, not under, the catalog file would.
    res["catalog_source"] = CatalogSource(location=str(home / "catalog.csv"),
                                          allowed_photo_locations=[str(sample_catalog_path().parent)])
    res["execution"] = ExecutionSettings(workers=workers)
    return res


LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# ---- setup (a subprocess per size) -----------------------------------------------------------------------
def setup(home: Path, n: int, platforms: list[str]) -> dict:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.demo import run_stage
    from assets.partitions import SKUS
    from skucore.catalog.sample import build_synthetic_catalog

    _quiet_warnings()
    home.mkdir(parents=True, exist_ok=True)
    path = build_synthetic_catalog(n, home)
    shutil.move(path, home / "catalog.csv")
    (home / "promotions").mkdir(exist_ok=True)
    text = (ROOT / "promotions" / f"{PROMOTION}.yaml").read_text()
    text, count = re.subn(r"(?m)^platforms:.*$", f"platforms: [{', '.join(platforms)}]", text)
    assert count == 1, "promotions/double11.yaml has no platforms line"
    (home / "promotions" / f"{PROMOTION}.yaml").write_text(text)

    defs = build_definitions(_resources(home))
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        for job, kw in (("catalog_sync", {}), ("promotion_prompts", {"partition_key": PROMOTION})):
            assert run_stage(defs, job, instance, **kw).success, job
        skus = list(instance.get_dynamic_partitions(SKUS))
        assert len(skus) == n, (len(skus), n)
        assert run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1]).success
    (home / "skus.json").write_text(json.dumps(skus))
    return {"setup_s": time.perf_counter() - started}


# ---- the two ways, each in a fresh subprocess ------------------------------------------------------------
def run_dagster(home: Path, stages: list[str], workers: int) -> dict:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from assets.partitions import PROMOTIONS, SKUS, promotion_range, range_tags

    _quiet_warnings()
    skus = json.loads((home / "skus.json").read_text())
    defs = build_definitions(_resources(home, workers))
    job = defs.resolve_job_def("promotion_images")
    with tempfile.TemporaryDirectory(prefix="bench_instance_") as tmp:
        with dg.instance_for_test(temp_dir=tmp) as instance:
            instance.add_dynamic_partitions(SKUS, skus)
            instance.add_dynamic_partitions(PROMOTIONS, [PROMOTION])
            start, end = promotion_range(instance, PROMOTION)
            rss_before = _rss_mb()
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=instance, tags=range_tags(start, end), raise_on_error=False, run_config=LOGGERS,
                asset_selection=[dg.AssetKey(s) for s in stages],
            )
            seconds = time.perf_counter() - started
            materializations = sum(1 for e in result.all_events if e.is_step_materialization)
    return {"seconds": seconds, "success": result.success, "materializations": materializations,
            "rss_before_mb": rss_before}


def run_plain(home: Path, stages: list[str], workers: int) -> dict:
    from assets.partition_loop import key_events
    from assets.promotion_run import PerSkuStep
    from assets.stages import PER_SKU_STAGES

    _quiet_warnings()
    skus = json.loads((home / "skus.json").read_text())
    res = _resources(home, workers)
    keys = [f"{PROMOTION}|{s}" for s in skus]
    rss_before = _rss_mb()
    started = time.perf_counter()
    # What the step does once per run: a promotion run per promotion, the review queue, the CDN target.
    step = PerSkuStep(
        store=res["store"], promotions=res["promotions"], grading=res["grading"], gpu_pool=res["gpu_pool"],
        scene_generator=res["scene_generator"], cdn=res["cdn"], platforms=None, keys=keys,
        publish="cdn_publish" in stages,
    )
    work = [s for s in PER_SKU_STAGES if s.name in stages]
    n_workers = res["execution"].cpu_workers(len(keys))
    if n_workers > 1:
        from assets.step_pool import StepPool
        from assets.step_worker import WorkerSpec, resource_spec

        names = ("store", "promotions", "grading", "gpu_pool", "scene_generator", "cdn")
        spec = WorkerSpec(resources={**{k: resource_spec(res[k]) for k in names}, "platforms": None}, keys=keys,
                          stages=[s.name for s in work], publish="cdn_publish" in stages)
        events = StepPool(spec=spec, keys=keys, step=step, settings=res["execution"], cpu_workers=n_workers).key_events()
    else:
        def bind(stage):
            return lambda key: stage.work(step, *key.split("|", 1))

        events = key_events(keys, [(s.name, bind(s)) for s in work])
    failures = 0
    for ev in events:  # the asset isolates failures per key; so does this loop
        if ev.kind == "failed":
            failures += 1
            print(f"  plain: {ev.key} failed: {ev.reason}", file=sys.stderr)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "success": failures == 0, "failures": failures, "rss_before_mb": rss_before,
            "workers": n_workers}


def worker(mode: str, home: Path, stages: list[str], use_tracemalloc: bool, workers: int) -> dict:
    from skucore import tables as T
    from resources.storage import StudioStore

    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    with TreePeak() as tree:
        out = (run_dagster if mode == "dagster" else run_plain)(home, stages, workers)
    out["tree_peak_rss_mb"] = tree.peak
    if use_tracemalloc:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    out["peak_rss_mb"] = _peak_rss_mb()
    store = StudioStore(root=str(home / "work" / "store"))
    skus = json.loads((home / "skus.json").read_text())
    images = 0
    for sku in skus:
        key = T.generated(PROMOTION, sku)
        if store.exists(key):
            images += store.read_table(key).num_rows
    out["images"] = images
    return out


# ---- driver ----------------------------------------------------------------------------------------------
def _sub(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"subprocess {' '.join(argv[:2])} failed with exit code {proc.returncode}")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):])


def _copy_home(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model or platform.processor()}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def measure_size(n: int, args, tmp: Path) -> dict:
    base = tmp / f"n{n}" / "base"
    t0 = time.perf_counter()
    info = _sub("--worker", "setup", "--home", str(base), "--n", str(n), "--platforms", args.platforms)
    print(f"[{n} SKUs] setup (sync, prompts, cutouts through Dagster) {info['setup_s']:.1f}s", flush=True)
    row = {"n": n, "setup_s": info["setup_s"]}
    for mode in args.order.split(","):
        home = tmp / f"n{n}" / mode
        _copy_home(base, home)
        r = _sub("--worker", mode, "--home", str(home), "--stages", args.stages, "--workers", str(args.workers))
        row[mode] = r
        print(f"[{n} SKUs] {mode:<7} {r['seconds']:8.1f}s  {r['images']} images  "
              f"{r['images'] / r['seconds']:.2f} images/s  peak RSS {r['tree_peak_rss_mb']:.0f} MB with workers, "
              f"{r['peak_rss_mb']:.0f} MB step process "
              f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB over the timed section)"
              + ("" if r["success"] else "  NOT ALL SUCCEEDED"), flush=True)
        if args.tracemalloc:
            _copy_home(base, home)
            tm = _sub("--worker", mode, "--home", str(home), "--stages", args.stages, "--tracemalloc",
                      "--workers", str(args.workers))
            row[mode]["tracemalloc_peak_mb"] = tm["tracemalloc_peak_mb"]
            print(f"[{n} SKUs] {mode:<7} tracemalloc peak {tm['tracemalloc_peak_mb']:.1f} MB", flush=True)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    row["wall_s"] = time.perf_counter() - t0
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100, help="SKUs of the first (smaller) catalog")
    parser.add_argument("--compare", type=int, default=300, help="SKUs of the second catalog (0: only one size)")
    parser.add_argument("--workers", type=int, default=0, help="CPU workers of the pool (0: usable cores; 1: no pool)")
    parser.add_argument("--tiny", action="store_true", help="3 SKUs, one size (CI)")
    parser.add_argument("--platforms", default="shopify", help="platforms of the bench promotion, comma-separated")
    parser.add_argument("--stages", default=",".join(ALL_STAGES), help="per-SKU stages to run, comma-separated")
    parser.add_argument("--order", default="plain,dagster", help="which ways to run, in order")
    parser.add_argument("--tracemalloc", action="store_true", help="an extra pass per way for the Python allocation peak")
    parser.add_argument("--keep", action="store_true", help="keep the working folders (printed)")
    parser.add_argument("--worker", choices=["setup", "dagster", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.skus, args.compare = 3, 0

    stages = [s for s in args.stages.split(",") if s]
    bad = [s for s in stages if s not in ALL_STAGES]
    if bad:
        parser.error(f"unknown stages {bad}; choose from {', '.join(ALL_STAGES)}")
    stages = [s for s in ALL_STAGES if s in stages]  # the asset's order
    if args.worker:
        if args.worker == "setup":
            result = setup(Path(args.home), args.n, args.platforms.split(","))
        else:
            result = worker(args.worker, Path(args.home), stages, args.tracemalloc, args.workers)
        print("RESULT " + json.dumps(result), flush=True)
        sys.stderr.flush()
        # A native library sometimes aborts in its static destructors at interpreter exit after a Dagster run
        # ("terminate called without an active exception"); the result is out, so leave without that teardown.
        os._exit(0)

    print(f"machine: {machine()}")
    print(f"config: sizes {args.skus}" + (f" and {args.compare}" if args.compare else "") +
          f" SKUs x 3 scenes, platforms {args.platforms}, stages {','.join(stages)}, studio backend on the CPU")
    tmp = Path(tempfile.mkdtemp(prefix="bench_orch_"))
    rows = []
    try:
        for n in [args.skus] + ([args.compare] if args.compare else []):
            rows.append(measure_size(n, args, tmp))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"working folders kept under {tmp}")

    print()
    print(f"{'SKUs':>6} {'images':>7} {'workers':>8} {'plain img/s':>12} {'dagster img/s':>14} {'overhead':>9} "
          f"{'plain peak RSS':>15} {'dagster peak RSS':>17}")
    for r in rows:
        p, d = r.get("plain"), r.get("dagster")
        ratio = d["seconds"] / p["seconds"] if p and d else float("nan")
        print(f"{r['n']:>6} {(d or p)['images']:>7} {(p or d).get('workers', '?')!s:>8} "
              f"{(p['images'] / p['seconds']) if p else float('nan'):>12.2f} "
              f"{(d['images'] / d['seconds']) if d else float('nan'):>14.2f} {ratio:>9.2f} "
              f"{p['tree_peak_rss_mb'] if p else float('nan'):>12.0f} MB "
              f"{d['tree_peak_rss_mb'] if d else float('nan'):>14.0f} MB")
    if len(rows) == 2:
        for mode in ("plain", "dagster"):
            if mode in rows[0] and mode in rows[1]:
                a, b = rows[0][mode], rows[1][mode]
                print(f"{mode}: peak RSS with workers {a['tree_peak_rss_mb']:.0f} -> {b['tree_peak_rss_mb']:.0f} MB, "
                      f"step process {a['peak_rss_mb']:.0f} -> {b['peak_rss_mb']:.0f} MB "
                      f"({(b['peak_rss_mb'] - a['peak_rss_mb']) / max(1, rows[1]['n'] - rows[0]['n']) * 1000:.1f} KB per "
                      f"added SKU) for {rows[0]['n']} -> {rows[1]['n']} SKUs")
    print("RESULT " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
