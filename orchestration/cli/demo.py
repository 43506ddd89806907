"""`skustudio demo`: the main job on the embedded defaults (sample catalog, CPU studio backend, local CDN)."""
from __future__ import annotations

import sys

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK, UsageError


def add_parser(sub) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[C.quiet_parent(), C.home_parent()],
        formatter_class=C.FORMATTER,
        help="run the main job on the embedded defaults (sample catalog, CPU studio backend, local CDN folder)",
        description="Sync the sample catalog, then run one promotion through every stage (prompts, cutouts, "
        "images -> scores -> grades -> publish, manifest) on a local Dagster instance under --home (default "
        "./var), and print where the outputs went. The runs stay in that instance: open them with "
        "`DAGSTER_HOME=<home>/dagster_home dagster dev -w workspace.yaml`.\n\n"
        "exit codes: 0 every stage succeeded; 1 a stage failed (the others' output stays); 2 unknown promotion "
        "or missing catalog.",
    )
    demo.add_argument("--promotion", default="double11", help="promotion id (a file in promotions/; default double11)")
    demo.add_argument("--limit", type=int, default=None, help="only the first N SKUs (a quick run)")
    demo.add_argument("--catalog", default=None, help="catalog file instead of the sample (default $SKUSTUDIO_CATALOG)")
    demo.set_defaults(func=cmd_demo)


DEMO_STAGES = ("catalog sync", "promotion_prompts", "sku_cutouts", "promotion_images", "promotion_manifest")


def cmd_demo(args) -> int:
    from tqdm import tqdm

    from orchestration.demo import prepare_home, run_demo

    C.set_home(args.home)
    C.set_catalog(args.catalog)
    resources = C.resources()
    C.check_promotion(resources, args.promotion)
    C.check_catalog(resources)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    prepare_home(args.home)
    C.ran_in_process()

    bar = C.progress(args, total=len(DEMO_STAGES), desc="demo", unit="stage")
    bar.set_postfix_str(DEMO_STAGES[0])

    def echo(line: str) -> None:
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()
        name = line.strip().split(":", 1)[0]
        if line.startswith("  ") and name in DEMO_STAGES:
            bar.update(1)
            nxt = DEMO_STAGES.index(name) + 1
            bar.set_postfix_str(DEMO_STAGES[nxt] if nxt < len(DEMO_STAGES) else "done")

    keys_bar = KeysBar(args)
    try:
        summary = run_demo(promotion=args.promotion, limit=args.limit, home=args.home, echo=echo,
                           on_progress=keys_bar.update)
    finally:
        keys_bar.close()
        bar.close()
    failed = [s for s in summary["stages"] if not s.success]
    print(f"\nOutputs under {summary['home']}")
    print(f"  store (tables, cutouts, images): {summary['home']}/store")
    print(f"  CDN folder: {summary['home']}/cdn")
    print(f"  Dagster instance: {summary['dagster_home']}  (open the UI: DAGSTER_HOME={summary['dagster_home']} dagster dev -w workspace.yaml)")
    for line in summary.get("report", []):
        print(line)
    if failed:
        C.err(f"{len(failed)} stage(s) failed: {', '.join(s.name for s in failed)}; "
             f"see the runs in the Dagster UI, or `skustudio status --promotion {args.promotion}`")
    return EXIT_FAILED if failed else EXIT_OK


class KeysBar:
    """A second bar under the stages' bar while a per-key step runs: keys done of total, images per second and
    time left (tqdm's estimate from keys per second). Where bars do not show (not a terminal) and not --quiet,
    the same as a line every PLAIN_EVERY_S seconds."""

    PLAIN_EVERY_S = 15.0

    def __init__(self, args):
        self.args, self.bar, self.current, self.last_line = args, None, None, 0.0

    def update(self, progress) -> None:
        import time

        if progress is not self.current:
            self.close()
            self.current = progress
            self.bar = C.progress(self.args, total=progress.total, desc=f"  {progress.unit}", unit=progress.unit[:-1]
                                  if progress.unit.endswith("s") else progress.unit, position=1, leave=False)
        self.bar.n = progress.done
        extra = [f"{progress.images_per_s:.1f} images/s"] if progress.images else []
        if progress.failed:
            extra.append(f"{progress.failed} failed")
        self.bar.set_postfix_str(", ".join(extra), refresh=False)
        self.bar.refresh()
        if self.bar.disable and not self.args.quiet and progress.done and (
                time.monotonic() - self.last_line >= self.PLAIN_EVERY_S or progress.done == progress.total):
            print(f"    {progress.line()}", flush=True)
            self.last_line = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None
