"""`skustudio`: what people do without the Dagster UI.

Exit codes: 0 success; 1 the work ran and something failed (details printed); 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import sys


def _cmd_demo(args) -> int:
    from orchestration.demo import run_demo

    summary = run_demo(promotion=args.promotion, limit=args.limit, home=args.home)
    failed = [s for s in summary["stages"] if not s.success]
    print(f"\nOutputs under {summary['home']}")
    print(f"  store (tables, cutouts, images): {summary['home']}/store")
    print(f"  CDN folder: {summary['home']}/cdn")
    print(f"  Dagster instance: {summary['dagster_home']}  (open the UI: DAGSTER_HOME={summary['dagster_home']} dagster dev -w workspace.yaml)")
    for line in summary.get("report", []):
        print(line)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skustudio",
        description="SKU Studio: catalog-scale marketplace product images, orchestrated by Dagster.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the main job on the embedded defaults (sample catalog, CPU studio backend, local CDN folder)",
        description="Sync the sample catalog, then run one promotion through every stage on a local Dagster "
        "instance under --home (default ./var), and print where the outputs went.",
    )
    demo.add_argument("--promotion", default="double11", help="promotion id (a file in promotions/)")
    demo.add_argument("--limit", type=int, default=None, help="only the first N SKUs (a quick run)")
    demo.add_argument("--home", default=None, help="working folder (default $SKUSTUDIO_HOME or ./var)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
