"""`skustudio review`: the review queue: list B images, approve or reject them."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK, UsageError


def add_parser(sub) -> None:
    review = sub.add_parser(
        "review",
        formatter_class=C.FORMATTER,
        help="the review queue: list B images, approve or reject them",
        description="B images wait in the review queue (a SQLite file: --db, else the configured review_db, "
        "by default <home>/review/queue.sqlite) until a person approves (published like an A) or rejects "
        "(never published) them. A decision applies to the image content the reviewer saw; a regenerated image "
        "needs a new one. Decisions are read when publishing: after one, rerun cdn_publish for the SKU's "
        "partition and then cdn_manifest (or pass --publish).\n\n"
        "exit codes: 0 done; 1 --publish failed; 2 unknown id or image_key, or a configuration error.",
    )
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    qopts = argparse.ArgumentParser(add_help=False, parents=[C.home_parent()])
    qopts.add_argument("--db", default=None, help="review queue SQLite file (default: the configured review_db)")
    qopts.add_argument("--json", action="store_true", help="print JSON")

    rlist = rsub.add_parser("list", parents=[qopts], formatter_class=C.FORMATTER, help="images awaiting a decision",
                            description="Images awaiting a decision (oldest first), with their id, SKU, scene, "
                            "platform and why they were graded B.\n\nexit codes: 0 listed; 2 configuration error.")
    rlist.add_argument("--promotion", default=None, help="only this promotion")
    rlist.set_defaults(func=cmd_review_list)
    for action, func, what in (("approve", cmd_review_approve, "publish it like an A"),
                               ("reject", cmd_review_reject, "never publish it")):
        p = rsub.add_parser(
            action, parents=[qopts, C.quiet_parent()], formatter_class=C.FORMATTER, help=f"{action} an image ({what})",
            description=f"Record a decision to {action} one queued image ({what}), by its id (from `review list`) "
            "or its image_key.\n\nexit codes: 0 recorded (with --publish: and republished); 1 --publish failed; "
            "2 unknown id or image_key, or no reviewer name.",
        )
        p.add_argument("item", metavar="ID_OR_IMAGE_KEY", help="the item's id or image_key")
        p.add_argument("--reviewer", default=None, help="your name (default $SKUSTUDIO_REVIEWER or the login name)")
        p.add_argument("--note", default=None, help="a note kept with the decision")
        p.add_argument("--publish", action="store_true",
                       help="then rerun cdn_publish for the SKU and cdn_manifest, in-process, on the "
                       "instance at DAGSTER_HOME")
        p.set_defaults(func=func)


def _review_db(args) -> str:
    if args.db:
        return str(Path(args.db).resolve())
    C.set_home(args.home)
    return C.resources()["grading"].review_db


def cmd_review_list(args) -> int:
    from skucore.publish.review import ReviewQueue

    db = _review_db(args)
    if not Path(db).exists():
        items = []
    else:
        queue = ReviewQueue(db)
        items = queue.pending(args.promotion)
    if args.json:
        print(json.dumps({"db": db, "pending": items}, indent=2, default=str))
        return EXIT_OK
    if not items:
        print(f"nothing awaits review{' for ' + args.promotion if args.promotion else ''} ({db})")
        return EXIT_OK
    print(f"{len(items)} image(s) await review ({db}):")
    print(f"{'id':>5}  {'promotion':<12} {'sku':<22} {'role':<10} {'platform':<12} {'att':>3}  reasons / image_key")
    for it in items:
        reasons = "; ".join(it["reasons"]) or "-"
        print(f"{it['id']:>5}  {it['promotion']:<12} {it['sku']:<22} {str(it['role'] or '-'):<10} "
              f"{str(it['platform'] or '-'):<12} {str(it['attempt'] if it['attempt'] is not None else '-'):>3}  {reasons}")
        print(f"{'':>5}  {it['image_key']}")
    print("approve or reject: skustudio review approve|reject ID_OR_IMAGE_KEY [--reviewer NAME] [--note TEXT]")
    return EXIT_OK


def _decide(args, decision: str) -> int:
    from skucore.publish.review import ReviewQueue, UnknownReviewItem

    db = _review_db(args)
    if not Path(db).exists():
        raise UsageError(f"no review item with id or image_key {args.item!r}: there is no review queue at {db}")
    reviewer = args.reviewer or os.environ.get("SKUSTUDIO_REVIEWER") or C.user_name()
    try:
        row = ReviewQueue(db).decide(args.item, decision, reviewer=reviewer, note=args.note)
    except UnknownReviewItem as exc:
        raise UsageError(str(exc)) from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    partition = f"{row['promotion']}|{row['sku']}"
    verb = "approved" if decision == "approve" else "rejected"
    if args.json:
        print(json.dumps({"item": row, "partition": partition}, indent=2, default=str))
    else:
        print(f"{verb} #{row['id']} {row['image_key']} (sku {row['sku']}, {row['role'] or '-'}/{row['platform'] or '-'}) as {reviewer}")
    if args.publish:
        return _republish(args, row["promotion"], row["sku"])
    if not args.json:
        what = "publish it" if decision == "approve" else "keep it off the CDN and the manifest"
        print(f"to {what}: rerun cdn_publish for partition {partition}, then cdn_manifest[{row['promotion']}]")
        print(f"  (from the Dagster UI, or here: skustudio review {decision} {row['id']} --publish)")
    return EXIT_OK


def _republish(args, promotion: str, sku: str) -> int:
    """Publish one SKU (cdn_publish reads review decisions when it runs), then rewrite the manifest, in-process."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.demo import prepare_home, run_stage
    from assets.partitions import SKUS

    prepare_home(args.home)
    instance = dg.DagsterInstance.get()
    if sku not in instance.get_dynamic_partitions(SKUS):
        raise UsageError(f"SKU {sku!r} is not a partition of the instance at {os.environ['DAGSTER_HOME']}")
    defs = build_definitions(C.resources())
    job = defs.resolve_job_def("promotion_images")
    C.ran_in_process()
    bar = C.progress(args, total=2, desc="republish", unit="job")
    result = job.execute_in_process(
        instance=instance,
        partition_key=f"{promotion}|{sku}",
        asset_selection=[dg.AssetKey("cdn_publish")],
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    bar.update(1)
    manifest = run_stage(defs, "promotion_manifest", instance, partition_key=promotion)
    bar.update(1)
    bar.close()
    print(f"  cdn_publish [{promotion}|{sku}]: {'ok' if result.success else 'FAILED'}")
    print(f"  cdn_manifest [{promotion}]: {'ok' if manifest.success else 'FAILED'}")
    return EXIT_OK if result.success and manifest.success else EXIT_FAILED


def cmd_review_approve(args) -> int:
    return _decide(args, "approve")


def cmd_review_reject(args) -> int:
    return _decide(args, "reject")
