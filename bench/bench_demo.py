"""`skustudio demo` end to end with the per-SKU step's worker pool against one worker, in one benchmark run.

    python bench/bench_demo.py [--limit N] [--workers 0] [--tiny]

Runs the demo twice on fresh homes, each in its own process: SKUSTUDIO_WORKERS=1 (every SKU in the step's own
process) and SKUSTUDIO_WORKERS=--workers (0: the usable cores), and prints the wall time and CPU time (the demo
and its workers, sampled every 0.5 s) of each and the ratio pool / one worker (aim: 0.6 or less on 2 cores). The two runs alternate
order with --repeat > 1, so a change of load on a shared machine weighs on both. --tiny: 2 SKUs (CI).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    children.setdefault(int(fh.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_demo(home: Path, workers: int, limit: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKUSTUDIO_", "DAGSTER_HOME"))}
    env["SKUSTUDIO_WORKERS"] = str(workers)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    cmd = [sys.executable, "-m", "orchestration.cli", "demo", "--quiet", "--home", str(home)]
    if limit:
        cmd += ["--limit", str(limit)]
    t = time.perf_counter()
    cpu_by_pid: dict[int, float] = {}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) as proc:
        # CPU of the demo and its workers, sampled (workers are the forkserver's children, reaped by nobody we wait on)
        while proc.poll() is None:
            for pid in _descendants(proc.pid):
                cpu_by_pid[pid] = max(cpu_by_pid.get(pid, 0.0), _cpu_s(pid))
            time.sleep(0.5)
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    cpu = sum(cpu_by_pid.values())
    grades = next((line.strip() for line in stdout.splitlines() if "grades A=" in line), "")
    if proc.returncode != 0:
        sys.stderr.write(stdout[-3000:] + stderr[-3000:])
    return {"workers": workers, "wall_s": wall, "cpu_s": cpu, "rc": proc.returncode, "summary": grades}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N SKUs (default: the whole sample)")
    ap.add_argument("--workers", type=int, default=0, help="workers of the pool run (0: the usable cores)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="--limit 2 (CI)")
    args = ap.parse_args(argv)
    limit = 2 if args.tiny else args.limit
    print(f"machine: {os.cpu_count()} CPUs (usable {len(os.sched_getaffinity(0))}), load average "
          f"{os.getloadavg()[0]:.1f}; demo over {limit or 'all'} SKUs")
    tmp = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    results: dict[int, list[dict]] = {1: [], args.workers: []}
    try:
        for i in range(args.repeat):
            order = (1, args.workers) if i % 2 == 0 else (args.workers, 1)
            for workers in order:
                home = tmp / f"w{workers}-{i}"
                r = run_demo(home, workers, limit)
                results[workers].append(r)
                label = "one worker" if workers == 1 else f"pool ({workers or 'usable cores'})"
                print(f"{label:>22}: {r['wall_s']:7.1f}s wall, {r['cpu_s']:7.1f}s CPU, exit {r['rc']}  {r['summary']}",
                      flush=True)
                shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one = min(r["wall_s"] for r in results[1])
    pool = min(r["wall_s"] for r in results[args.workers])
    print(f"demo wall time, pool / one worker: {pool:.1f}s / {one:.1f}s = {pool / one:.2f}")
    print("RESULT " + json.dumps({"ratio": pool / one, "runs": results}))
    return 0 if all(r["rc"] == 0 for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
