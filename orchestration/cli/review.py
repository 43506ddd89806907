"""`skustudio review`: the review queue: the review desk (`serve`), and list, approve, reject or undo in a
terminal."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK, UsageError
from skucore.prompting.review_reasons import REVIEW_REASONS


def add_parser(sub) -> None:
    review = sub.add_parser(
        "review",
        formatter_class=C.FORMATTER,
        help="the review queue: the review desk web page; list, approve or reject images",
        description="B images wait in the review queue (--db, else the configured review_db: a SQLite file, by "
        "default <home>/review/queue.sqlite, or a database URL from SKUSTUDIO_REVIEW_DB_URL such as "
        "postgresql://user@host/review) until a person approves (published like an A) or rejects them (the "
        "next graded_sets regenerates a rejected image with the reason's prompt adjustment, or holds it for a new "
        "template). A decision applies to the image content the reviewer saw; a regenerated image needs a new one; "
        "a decided image cannot be decided again until the decision is undone. Decisions are read when "
        "publishing: after one, rerun graded_sets and cdn_publish for the SKU's partition and then cdn_manifest "
        "(or pass --publish). `review serve` starts the review desk, a web page for all of this.\n\n"
        "exit codes: 0 done; 1 --publish failed; 2 unknown id or image_key, already decided, or a configuration "
        "error.",
    )
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    qopts = argparse.ArgumentParser(add_help=False, parents=[C.home_parent()])
    qopts.add_argument("--db", default=None, help="review queue: a SQLite file or a database URL (default: the "
                       "configured review_db)")
    qopts.add_argument("--json", action="store_true", help="print JSON")

    rlist = rsub.add_parser("list", parents=[qopts], formatter_class=C.FORMATTER, help="images awaiting a decision",
                            description="Images awaiting a decision (oldest first; the newest attempt of each scene), "
                            "with their id, SKU, scene, platform and why they are there.\n\n"
                            "exit codes: 0 listed; 2 configuration error.")
    rlist.add_argument("--promotion", default=None, help="only this promotion")
    rlist.set_defaults(func=cmd_review_list)
    for action, func, what in (("approve", cmd_review_approve, "publish it like an A"),
                               ("reject", cmd_review_reject, "never publish it; regenerate it"),
                               ("undo", cmd_review_undo, "take its decision back: it is pending again")):
        p = rsub.add_parser(
            action, parents=[qopts, C.quiet_parent()], formatter_class=C.FORMATTER, help=f"{action} an image ({what})",
            description=f"{action.capitalize()} one queued image ({what}), by its id (from `review list`) or its "
            "image_key. Recorded in the audit table with your name.\n\nexit codes: 0 recorded (with --publish: and "
            "republished); 1 --publish failed; 2 unknown id or image_key, already decided (undo first), nothing to "
            "undo, or no reviewer name.",
        )
        p.add_argument("item", metavar="ID_OR_IMAGE_KEY", help="the item's id or image_key")
        p.add_argument("--reviewer", default=None, help="your name (default $SKUSTUDIO_REVIEWER or the login name)")
        p.add_argument("--note", default=None, help="a note kept with the decision")
        if action == "reject":
            p.add_argument("--reason", default=None, choices=sorted(REVIEW_REASONS), metavar="REASON",
                           help="why, which decides the next attempt: " + ", ".join(
                               f"{code} ({r['label']})" for code, r in REVIEW_REASONS.items()))
        p.add_argument("--publish", action="store_true",
                       help="then rerun graded_sets and cdn_publish for the SKU and cdn_manifest, in-process, on the "
                       "instance at DAGSTER_HOME")
        p.set_defaults(func=func)
    add_serve_parsers(rsub, qopts)


def _review_db(args) -> str:
    if args.db:
        return args.db if "://" in args.db else str(Path(args.db).resolve())
    C.set_home(args.home)
    return C.resources()["grading"].review_db


def cmd_review_list(args) -> int:
    from skucore.publish.review import ReviewQueue, queue_exists

    db = _review_db(args)
    where = db
    if not queue_exists(db):
        items = []
    else:
        queue = ReviewQueue(db)
        where = queue.where
        items = queue.pending(args.promotion)
    if args.json:
        print(json.dumps({"db": where, "pending": items}, indent=2, default=str))
        return EXIT_OK
    if not items:
        print(f"nothing awaits review{' for ' + args.promotion if args.promotion else ''} ({where})")
        return EXIT_OK
    print(f"{len(items)} image(s) await review ({where}):")
    print(f"{'id':>5}  {'promotion':<12} {'sku':<22} {'role':<10} {'platform':<12} {'att':>3}  reasons / image_key")
    for it in items:
        reasons = ("spot check; " if it["kind"] == "spot_check" else "") + ("; ".join(it["reasons"]) or "-")
        print(f"{it['id']:>5}  {it['promotion']:<12} {it['sku']:<22} {str(it['role'] or '-'):<10} "
              f"{str(it['platform'] or '-'):<12} {str(it['attempt'] if it['attempt'] is not None else '-'):>3}  {reasons}")
        print(f"{'':>5}  {it['image_key']}")
    print("approve or reject: skustudio review approve|reject ID_OR_IMAGE_KEY [--reviewer NAME] [--reason R] [--note "
          "TEXT]; or on a page: skustudio review serve")
    return EXIT_OK


def _decide(args, decision: str) -> int:
    from skucore.publish.review import AlreadyDecided, NotDecided, ReviewQueue, UnknownReviewItem, queue_exists

    db = _review_db(args)
    if not queue_exists(db):
        raise UsageError(f"no review item with id or image_key {args.item!r}: there is no review queue at {db}")
    reviewer = args.reviewer or os.environ.get("SKUSTUDIO_REVIEWER") or C.user_name()
    queue = ReviewQueue(db)
    try:
        if decision == "undo":
            row = queue.undo(args.item, reviewer=reviewer, note=args.note)
        else:
            row = queue.decide(args.item, decision, reviewer=reviewer, note=args.note,
                               reason=getattr(args, "reason", None))
    except (UnknownReviewItem, AlreadyDecided, NotDecided, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    partition = f"{row['promotion']}|{row['sku']}"
    verb = {"approve": "approved", "reject": "rejected", "undo": "undid the decision on"}[decision]
    if args.json:
        print(json.dumps({"item": row, "partition": partition}, indent=2, default=str))
    else:
        print(f"{verb} #{row['id']} {row['image_key']} (sku {row['sku']}, {row['role'] or '-'}/{row['platform'] or '-'}) as {reviewer}")
    if args.publish:
        return _republish(args, row["promotion"], row["sku"])
    if not args.json:
        what = {"approve": "publish it", "reject": "keep it off the CDN and regenerate it",
                "undo": "apply the change"}[decision]
        print(f"to {what}: rerun graded_sets and cdn_publish for partition {partition}, then "
              f"cdn_manifest[{row['promotion']}]")
        print(f"  (from the Dagster UI, the review desk's Publish now, or here: skustudio review {decision} "
              f"{row['id']} --publish)")
    return EXIT_OK


def _republish(args, promotion: str, sku: str) -> int:
    """Regrade and publish one SKU (graded_sets regenerates rejected images; cdn_publish reads review decisions when
    it runs), then rewrite the manifest, in-process."""
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
        asset_selection=[dg.AssetKey("graded_sets"), dg.AssetKey("cdn_publish")],
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    bar.update(1)
    manifest = run_stage(defs, "promotion_manifest", instance, partition_key=promotion)
    bar.update(1)
    bar.close()
    print(f"  graded_sets, cdn_publish [{promotion}|{sku}]: {'ok' if result.success else 'FAILED'}")
    print(f"  cdn_manifest [{promotion}]: {'ok' if manifest.success else 'FAILED'}")
    return EXIT_OK if result.success and manifest.success else EXIT_FAILED


def cmd_review_approve(args) -> int:
    return _decide(args, "approve")


def cmd_review_reject(args) -> int:
    return _decide(args, "reject")


def cmd_review_undo(args) -> int:
    return _decide(args, "undo")


# ---- the review desk -------------------------------------------------------------------------------------------
def add_serve_parsers(rsub, qopts) -> None:
    from orchestration.review_desk.config import DEFAULT_PORT

    serve = rsub.add_parser(
        "serve", parents=[qopts], formatter_class=C.FORMATTER, help="start the review desk (a web page)",
        description="The review desk: a web page where reviewers judge B images and spot-check A's, on the same "
        "review queue and store as the pipeline. Open the printed address in a browser.\n\n"
        "Access: it listens on 127.0.0.1 unless --host says otherwise; on any other address it refuses to start "
        "unless reviewer credentials are configured: SKUSTUDIO_REVIEWERS_FILE (lines name:scrypt$..., made with "
        "`skustudio review hash-password NAME`) or SKUSTUDIO_REVIEWERS, plus SKUSTUDIO_REVIEW_SECRET (or "
        "SKUSTUDIO_REVIEW_SECRET_FILE) to sign session cookies. \"Publish now\" launches runs on the Dagster "
        "webserver at --dagster-url (default $SKUSTUDIO_DAGSTER_URL).\n\n"
        "exit codes: 0 stopped (Ctrl-C); 2 refused to start (address without credentials, bad settings).",
    )
    serve.add_argument("--host", default=os.environ.get("SKUSTUDIO_REVIEW_HOST", "127.0.0.1"),
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("SKUSTUDIO_REVIEW_PORT", DEFAULT_PORT)),
                       help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--dagster-url", default=os.environ.get("SKUSTUDIO_DAGSTER_URL"),
                       help="Dagster webserver for \"publish now\" (default $SKUSTUDIO_DAGSTER_URL; none: the button "
                       "says so)")
    serve.add_argument("--reviewers-file", default=None, help="reviewer credentials file (default "
                       "$SKUSTUDIO_REVIEWERS_FILE)")
    serve.add_argument("--https-only", action="store_true", help="mark the session cookie Secure (behind HTTPS)")
    serve.add_argument("--page-size", type=int, default=48, help="thumbnails per queue page (default 48)")
    serve.set_defaults(func=cmd_review_serve)

    hp = rsub.add_parser(
        "hash-password", formatter_class=C.FORMATTER, help="make a reviewer credentials line",
        description="Print NAME:scrypt$... for SKUSTUDIO_REVIEWERS_FILE. The password is read from the terminal "
        "(or one line of stdin); only its scrypt hash is printed.\n\nexit codes: 0 printed; 2 empty password.")
    hp.add_argument("name", help="the reviewer's name (shown with every decision)")
    hp.set_defaults(func=cmd_review_hash_password)


def cmd_review_serve(args) -> int:
    import uvicorn

    from orchestration.review_desk.app import create_app
    from orchestration.review_desk.config import (DeskConfig, RefusedToStart, check_bind, load_reviewers,
                                                  load_secret)

    try:
        reviewers = load_reviewers(file=args.reviewers_file)
        check_bind(args.host, reviewers)
        secret, made_up = load_secret()
    except RefusedToStart as exc:
        raise UsageError(str(exc)) from exc
    C.set_home(args.home)
    resources = C.resources()
    config = DeskConfig.from_resources(resources, db=_review_db(args) if args.db else None, reviewers=reviewers,
                                       secret=secret, dagster_url=args.dagster_url, https_only=args.https_only,
                                       page_size=max(6, min(args.page_size, 500)))
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"review desk: http://{shown}:{args.port}/  (queue {config.queue.where}; store {resources['store'].kind}"
          f"{'' if resources['store'].kind != 'local' else ' ' + resources['store'].root})")
    print(f"  sign-in: {'reviewer credentials (' + str(len(reviewers)) + ' reviewers)' if reviewers else 'a name (loopback only)'}"
          f"; publish now: {config.dagster_url or 'no Dagster URL configured'}"
          + ("; sessions end when the desk stops (no SKUSTUDIO_REVIEW_SECRET)" if made_up else ""))
    sys.stdout.flush()
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    return EXIT_OK


def cmd_review_hash_password(args) -> int:
    import getpass

    from orchestration.review_desk.config import hash_password

    if not args.name.strip() or ":" in args.name or any(c.isspace() for c in args.name):
        raise UsageError("the name must be non-empty, without spaces or ':'")
    password = getpass.getpass(f"password for {args.name}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        raise UsageError("empty password")
    print(f"{args.name}:{hash_password(password)}")
    return EXIT_OK
