"""`skustudio templates report`: the templates scorecard in a terminal (the review desk shows the same page)."""
from __future__ import annotations

import argparse
import json

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_OK, UsageError


def add_parser(sub) -> None:
    templates = sub.add_parser(
        "templates", formatter_class=C.FORMATTER, help="how each scene template performs (grades, failures, rejections)",
        description="Feedback for the people who write scene templates: which templates to fix.",
    )
    tsub = templates.add_subparsers(dest="templates_command", required=True, metavar="ACTION")
    report = tsub.add_parser(
        "report", parents=[C.home_parent()], formatter_class=C.FORMATTER,
        help="per template and platform: share of A/B/C, metrics that fail most, reviewers' reject reasons",
        description="Per template and per platform, over every graded attempt of a promotion: the share graded A, "
        "B and C, regenerations, the metrics that fail most, and (from the review queue) how many images reviewers "
        "approved and rejected and why. Worst first (lowest share of A).\n\n"
        "exit codes: 0 printed; 2 unknown promotion or nothing graded.",
    )
    report.add_argument("--promotion", default=None, help="only this promotion (default: every graded promotion)")
    report.add_argument("--db", default=None, help="review queue: a SQLite file or a database URL (default: the "
                        "configured review_db)")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.set_defaults(func=cmd_templates_report)


def cmd_templates_report(args: argparse.Namespace) -> int:
    from orchestration.review_desk.data import promotion_scorecard, promotions_in_store
    from skucore.publish.review import ReviewQueue

    C.set_home(args.home)
    resources = C.resources()
    store = resources["store"]
    graded = promotions_in_store(store)
    if args.promotion is not None and args.promotion not in graded:
        raise UsageError(f"nothing graded for promotion {args.promotion!r} (graded: {', '.join(graded) or 'none'})")
    promotions = [args.promotion] if args.promotion else graded
    if not promotions:
        raise UsageError("nothing graded yet: run a promotion first (skustudio demo, or a backfill)")
    queue = ReviewQueue(args.db or resources["grading"].review_db)
    report = {p: promotion_scorecard(store, queue, p) for p in promotions}
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    for promotion, rows in report.items():
        print(f"Templates scorecard: {promotion} ({sum(r['attempts'] for r in rows)} graded attempts; worst first)")
        print(f"  {'template':<26} {'platform':<12} {'n':>4} {'A':>5} {'B':>5} {'C':>5} {'regen':>5} {'ok':>3} "
              f"{'rej':>3}  fails most / reject reasons")
        for r in rows:
            fails = ", ".join(f"{m} {n}" for m, n in r["top_failed"]) or "-"
            reasons = "; ".join(f"{m} {n}" for m, n in r["reject_reasons"])
            print(f"  {r['template_id']:<26} {r['platform']:<12} {r['attempts']:>4} {r['a_share']:>5.0%} "
                  f"{r['b_share']:>5.0%} {r['c_share']:>5.0%} {r['regenerations']:>5} {r['approved']:>3} "
                  f"{r['rejected']:>3}  {fails}" + (f" / {reasons}" if reasons else ""))
    return EXIT_OK
