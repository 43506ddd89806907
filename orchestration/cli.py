"""`skustudio`: what people do without the Dagster UI.

Exit codes: 0 success; 1 the work ran (or tried to) and something failed (details printed); 2 bad usage or
configuration (unknown promotion, unknown review item, missing catalog, bad SKUSTUDIO_ENV ...).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import warnings
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = """\
commands:
  demo      run the main job on the embedded defaults (sample catalog, CPU studio backend)
  sync      run the catalog sync in-process: new, changed and delisted SKUs
  backfill  launch a promotion's backfill on a running Dagster instance (GraphQL)
  status    counts per stage and per grade for a promotion
  review    list the B images waiting for a person; approve or reject them

exit codes (scripts can rely on them):
  0  success
  1  the work ran (or tried to) and something failed: a failed stage or partition, a backfill that
     failed, an unreachable Dagster server, an unexpected error
  2  usage or configuration error: bad arguments, unknown promotion or SKU, unknown review item,
     missing catalog file, bad SKUSTUDIO_ENV; nothing was changed
  130 interrupted (Ctrl-C)

environment: SKUSTUDIO_HOME (working folder, default ./var), SKUSTUDIO_ENV (local | production),
SKUSTUDIO_CATALOG, SKUSTUDIO_PROMOTIONS, DAGSTER_HOME (default $SKUSTUDIO_HOME/dagster_home).
Progress bars go to stderr, only on a terminal; --quiet turns them off. `skustudio COMMAND --help` for more.
"""


class UsageError(Exception):
    """A usage or configuration error: exit 2."""


class CommandFailed(Exception):
    """The work ran and failed: exit 1."""


# ---- helpers ---------------------------------------------------------------------------------------------
def _err(message: str) -> None:
    print(f"skustudio: {message}", file=sys.stderr)


def _progress(args, **kwargs):
    from tqdm import tqdm

    disable = bool(getattr(args, "quiet", False)) or not sys.stderr.isatty()
    return tqdm(file=sys.stderr, disable=disable, dynamic_ncols=True, **kwargs)


def _set_home(home: str | None) -> None:
    if home:
        os.environ["SKUSTUDIO_HOME"] = str(Path(home).resolve())


def _set_catalog(catalog: str | None) -> None:
    if catalog:
        os.environ["SKUSTUDIO_CATALOG"] = catalog if catalog.startswith("s3://") else str(Path(catalog).resolve())


def _resources() -> dict:
    from orchestration.resources import resources_for_environment

    try:
        return resources_for_environment()
    except ValueError as exc:  # bad SKUSTUDIO_ENV, a missing production variable
        raise UsageError(str(exc)) from exc


def _check_catalog(resources: dict) -> None:
    location = resources["catalog_source"].location
    if not str(location).startswith("s3://") and not Path(location).is_file():
        raise UsageError(f"catalog file not found: {location} (set SKUSTUDIO_CATALOG or pass --catalog)")


def _check_promotion(resources: dict, promotion: str) -> None:
    found, errors = resources["promotions"].discover()
    if promotion not in found:
        detail = f"; files with errors: {'; '.join(str(e) for e in errors)}" if errors else ""
        raise UsageError(
            f"unknown promotion {promotion!r}: known promotions are {', '.join(sorted(found)) or 'none'} "
            f"(files in {resources['promotions'].folder}){detail}"
        )


def _quiet_dagster_warnings() -> None:
    warnings.filterwarnings("ignore", message="Found asset job named", category=UserWarning)
    try:
        import dagster as dg

        for name in ("PreviewWarning", "BetaWarning"):
            if hasattr(dg, name):
                warnings.filterwarnings("ignore", category=getattr(dg, name))
    except Exception:  # pragma: no cover - dagster always imports here
        pass


# ---- demo ------------------------------------------------------------------------------------------------
DEMO_STAGES = ("catalog sync", "promotion_prompts", "sku_cutouts", "promotion_images", "promotion_manifest")


def _cmd_demo(args) -> int:
    from tqdm import tqdm

    from orchestration.demo import prepare_home, run_demo

    _set_home(args.home)
    _set_catalog(args.catalog)
    resources = _resources()
    _check_promotion(resources, args.promotion)
    _check_catalog(resources)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    prepare_home(args.home)
    _ran_in_process()

    bar = _progress(args, total=len(DEMO_STAGES), desc="demo", unit="stage")
    bar.set_postfix_str(DEMO_STAGES[0])

    def echo(line: str) -> None:
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()
        name = line.strip().split(":", 1)[0]
        if line.startswith("  ") and name in DEMO_STAGES:
            bar.update(1)
            nxt = DEMO_STAGES.index(name) + 1
            bar.set_postfix_str(DEMO_STAGES[nxt] if nxt < len(DEMO_STAGES) else "done")

    try:
        summary = run_demo(promotion=args.promotion, limit=args.limit, home=args.home, echo=echo)
    finally:
        bar.close()
    failed = [s for s in summary["stages"] if not s.success]
    print(f"\nOutputs under {summary['home']}")
    print(f"  store (tables, cutouts, images): {summary['home']}/store")
    print(f"  CDN folder: {summary['home']}/cdn")
    print(f"  Dagster instance: {summary['dagster_home']}  (open the UI: DAGSTER_HOME={summary['dagster_home']} dagster dev -w workspace.yaml)")
    for line in summary.get("report", []):
        print(line)
    if failed:
        _err(f"{len(failed)} stage(s) failed: {', '.join(s.name for s in failed)}; "
             f"see the runs in the Dagster UI, or `skustudio status --promotion {args.promotion}`")
    return EXIT_FAILED if failed else EXIT_OK


# ---- sync ------------------------------------------------------------------------------------------------
def sync_catalog(home=None) -> dict:
    """Run the catalog_sync job in-process on the instance under DAGSTER_HOME; return its figures."""
    import dagster as dg

    from skucore import tables as T
    from orchestration.definitions import build_definitions
    from orchestration.demo import prepare_home, run_stage
    from assets.partitions import PROMOTIONS, SKUS
    from orchestration.status import catalog_counts

    home = prepare_home(home)
    resources = _resources()
    _check_catalog(resources)
    defs = build_definitions(resources)
    instance = dg.DagsterInstance.get()
    before = instance.get_latest_materialization_event(dg.AssetKey("catalog_partitions"))
    stage = run_stage(defs, "catalog_sync", instance)
    after = instance.get_latest_materialization_event(dg.AssetKey("catalog_partitions"))
    store = resources["store"]
    out = {
        "success": stage.success,
        "failed_steps": stage.failed,
        "home": str(home),
        "dagster_home": os.environ["DAGSTER_HOME"],
        "catalog": resources["catalog_source"].location,
    }
    fresh = after is not None and (before is None or after.run_id != before.run_id)
    counts = catalog_counts(store)
    out["rows"], out["rejects"], out["reject_reasons"] = counts["rows"], counts["rejects"], counts["reject_reasons"]
    if fresh:
        changes = store.read_table_or_none(T.CATALOG_CHANGES)
        kinds = changes.column("change").to_pylist() if changes is not None else []
        md = after.asset_materialization.metadata
        out.update(
            added=kinds.count("new"), changed=kinds.count("changed"), delisted=kinds.count("delisted"),
            unchanged=kinds.count("unchanged"),
            partitions_added=md["skus_added"].value if "skus_added" in md else None,
            partitions_removed=md["skus_removed"].value if "skus_removed" in md else None,
            promotions_added=list(md["promotions_added"].value) if "promotions_added" in md else [],
        )
    out["sku_partitions"] = len(instance.get_dynamic_partitions(SKUS))
    out["promotions"] = list(instance.get_dynamic_partitions(PROMOTIONS))
    return out


def _cmd_sync(args) -> int:
    _set_home(args.home)
    _set_catalog(args.catalog)
    bar = _progress(args, total=1, desc="catalog sync", unit="job")
    _ran_in_process()
    try:
        result = sync_catalog(args.home)
        bar.update(1)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif result["success"] and "added" in result:
        print(f"catalog sync: {result['rows']} rows, {result['rejects']} rejected"
              + (f" ({', '.join(f'{k}={v}' for k, v in sorted(result['reject_reasons'].items()))})" if result["reject_reasons"] else ""))
        print(f"  added {result['added']}, changed {result['changed']}, delisted {result['delisted']}, unchanged {result['unchanged']}")
        print(f"  SKU partitions: {result['sku_partitions']}; promotions: {', '.join(result['promotions']) or 'none'}")
        print(f"  Dagster instance: {result['dagster_home']}")
    if not result["success"]:
        _err(f"catalog sync FAILED (steps: {', '.join(result['failed_steps']) or 'unknown'}); the reasons are in the "
             f"run's events: DAGSTER_HOME={result['dagster_home']} dagster dev -w workspace.yaml")
        return EXIT_FAILED
    return EXIT_OK


# ---- backfill --------------------------------------------------------------------------------------------
def _cmd_backfill(args) -> int:
    from orchestration.graphql_client import DagsterGraphQL, PromotionNotFound

    skus = [s.strip() for s in args.skus.split(",") if s.strip()] if args.skus else None
    if args.skus is not None and not skus:
        raise UsageError("--skus needs at least one SKU (comma-separated)")
    client = DagsterGraphQL(args.url, timeout_s=args.request_timeout)
    client.check_repository()
    try:
        params = client.promotion_backfill_params(args.promotion, skus)
        backfill_id = client.launch_backfill(params)
    except PromotionNotFound as exc:
        raise UsageError(str(exc)) from exc
    url = client.ui_backfill_url(backfill_id)
    n_skus = len(skus) if skus else "all"
    if not args.json:
        print(f"backfill {backfill_id} launched: promotion {args.promotion}, {n_skus} SKUs")
        print(f"  UI: {url}")
        sys.stdout.flush()
    if not args.wait:
        if args.json:
            print(json.dumps({"backfill_id": backfill_id, "url": url, "promotion": args.promotion, "skus": skus}))
        return EXIT_OK

    bar = _progress(args, total=None, desc=f"backfill {backfill_id}", unit="partition")

    def on_update(status):
        totals = status.totals()
        if bar.total != totals["targeted"] and totals["targeted"]:
            bar.total = totals["targeted"]
        bar.n = totals["materialized"] + totals["failed"]
        bar.set_postfix_str(f"{status.status.lower()}, {totals['failed']} failed", refresh=False)
        bar.refresh()

    try:
        status = client.wait_for_backfill(backfill_id, poll_s=args.poll, timeout_s=args.timeout, on_update=on_update)
    except TimeoutError as exc:
        bar.close()
        raise CommandFailed(f"{exc}; it keeps running on the server: {url}") from exc
    finally:
        bar.close()
    if args.json:
        print(json.dumps({**status.to_dict(), "url": url, "promotion": args.promotion, "skus": skus}, indent=2))
    else:
        print(f"backfill {backfill_id}: {status.status}")
        for asset, c in status.assets.items():
            print(f"  {asset:<17} {c['materialized']:>5}/{c['targeted']:<5} materialized, {c['failed']} failed")
        if status.error:
            print(f"  error: {status.error.strip()[:500]}")
    if status.failed:
        _err(f"backfill {backfill_id} {status.status.lower()}: rerun the failed partitions from {url} "
             f"(Re-execute > From failure)")
        return EXIT_FAILED
    return EXIT_OK


# ---- status ----------------------------------------------------------------------------------------------
def _cmd_status(args) -> int:
    from orchestration.status import UnknownPromotion, open_instance, promotion_status, format_status

    _set_home(args.home)
    resources = _resources()
    instance = None if args.no_dagster else open_instance(args.dagster_home)
    try:
        status = promotion_status(resources, args.promotion, instance=instance)
    except UnknownPromotion as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        print("\n".join(format_status(status)))
    return EXIT_OK


# ---- review ----------------------------------------------------------------------------------------------
def _review_db(args) -> str:
    if args.db:
        return str(Path(args.db).resolve())
    _set_home(args.home)
    return _resources()["grading"].review_db


def _cmd_review_list(args) -> int:
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
    reviewer = args.reviewer or os.environ.get("SKUSTUDIO_REVIEWER") or _user()
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
    defs = build_definitions(_resources())
    job = defs.resolve_job_def("promotion_images")
    _ran_in_process()
    bar = _progress(args, total=2, desc="republish", unit="job")
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


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _cmd_review_approve(args) -> int:
    return _decide(args, "approve")


def _cmd_review_reject(args) -> int:
    return _decide(args, "reject")


# ---- parser ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars (they only show on a terminal anyway)")

    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", default=None, help="working folder (default $SKUSTUDIO_HOME or ./var)")

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="skustudio",
        description="SKU Studio: catalog-scale marketplace product images, orchestrated by Dagster.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--traceback", action="store_true", help="print the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common, home],
        formatter_class=fmt,
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
    demo.set_defaults(func=_cmd_demo)

    sync = sub.add_parser(
        "sync",
        parents=[common, home],
        formatter_class=fmt,
        help="run the catalog sync in-process and print added / changed / delisted SKUs",
        description="Ingest the catalog (rejected rows go to catalog_rejects with a reason each), gate it, and "
        "sync the SKU and promotion partitions of the Dagster instance at DAGSTER_HOME (default "
        "<home>/dagster_home), as the nightly schedule does. Prints rows, rejects and the SKUs added, changed "
        "and delisted since the last sync.\n\n"
        "exit codes: 0 synced; 1 the sync job failed (e.g. the catalog gate closed); 2 configuration error "
        "(missing catalog file, bad SKUSTUDIO_ENV).",
    )
    sync.add_argument("--catalog", default=None, help="catalog file or s3:// URI (default $SKUSTUDIO_CATALOG or the sample)")
    sync.add_argument("--json", action="store_true", help="print the figures as JSON")
    sync.set_defaults(func=_cmd_sync)

    backfill = sub.add_parser(
        "backfill",
        parents=[common],
        formatter_class=fmt,
        help="launch a promotion's backfill on a running Dagster instance (GraphQL)",
        description="Launch an asset backfill on a running Dagster webserver (`dagster dev`; the daemon runs "
        "it) over prompt_table[PROMOTION], product_cutouts[SKUs], generated_images / quality_scores / "
        "graded_sets / cdn_publish [PROMOTION|SKU] and cdn_manifest[PROMOTION], as the UI's "
        "'Materialize' > backfill does. Prints the backfill id and its page in the UI. With --wait, follows it "
        "with a progress bar until it finishes.\n\n"
        "exit codes: 0 launched (with --wait: completed without failures); 1 the server is unreachable or "
        "answered an error, or (with --wait) partitions failed or --timeout passed; 2 unknown promotion or SKU "
        "(run the catalog_sync job first).",
    )
    backfill.add_argument("--promotion", required=True, help="promotion id (a partition of `promotions`)")
    backfill.add_argument("--url", default=os.environ.get("SKUSTUDIO_DAGSTER_URL", "http://127.0.0.1:3000"),
                          help="Dagster webserver URL (default $SKUSTUDIO_DAGSTER_URL or http://127.0.0.1:3000)")
    backfill.add_argument("--skus", default=None, help="only these SKUs, comma-separated (default: every SKU partition)")
    backfill.add_argument("--wait", action="store_true", help="poll until the backfill finishes; exit 1 if it failed")
    backfill.add_argument("--poll", type=float, default=2.0, help="seconds between polls with --wait (default 2)")
    backfill.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds (exit 1)")
    backfill.add_argument("--request-timeout", type=float, default=30.0, help="seconds per GraphQL request (default 30)")
    backfill.add_argument("--json", action="store_true", help="print the result as JSON")
    backfill.set_defaults(func=_cmd_backfill)

    status = sub.add_parser(
        "status",
        parents=[home],
        formatter_class=fmt,
        help="counts per stage and per grade for a promotion",
        description="Counts for one promotion, read from the working store under --home: catalog rows and "
        "rejects, SKUs with cutouts, generated / scored / graded / published SKUs and images, manifest entries, "
        "grades A/B/C and B's pending review; and, where a Dagster instance exists (DAGSTER_HOME, else "
        "<home>/dagster_home), materialized and failed partitions per asset. Reads only.\n\n"
        "exit codes: 0 printed; 2 unknown promotion or configuration error.",
    )
    status.add_argument("--promotion", required=True, help="promotion id")
    status.add_argument("--dagster-home", default=None, help="Dagster instance folder (default $DAGSTER_HOME, else <home>/dagster_home)")
    status.add_argument("--no-dagster", action="store_true", help="skip the Dagster instance (store counts only)")
    status.add_argument("--json", action="store_true", help="print the figures as JSON")
    status.set_defaults(func=_cmd_status)

    review = sub.add_parser(
        "review",
        formatter_class=fmt,
        help="the review queue: list B images, approve or reject them",
        description="B images wait in the review queue (a SQLite file: --db, else the configured review_db, "
        "by default <home>/review/queue.sqlite) until a person approves (published like an A) or rejects "
        "(never published) them. A decision applies to the image content the reviewer saw; a regenerated image "
        "needs a new one. Decisions are read when publishing: after one, rerun cdn_publish for the SKU's "
        "partition and then cdn_manifest (or pass --publish).\n\n"
        "exit codes: 0 done; 1 --publish failed; 2 unknown id or image_key, or a configuration error.",
    )
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    qopts = argparse.ArgumentParser(add_help=False, parents=[home])
    qopts.add_argument("--db", default=None, help="review queue SQLite file (default: the configured review_db)")
    qopts.add_argument("--json", action="store_true", help="print JSON")

    rlist = rsub.add_parser("list", parents=[qopts], formatter_class=fmt, help="images awaiting a decision",
                            description="Images awaiting a decision (oldest first), with their id, SKU, scene, "
                            "platform and why they were graded B.\n\nexit codes: 0 listed; 2 configuration error.")
    rlist.add_argument("--promotion", default=None, help="only this promotion")
    rlist.set_defaults(func=_cmd_review_list)
    for action, func, what in (("approve", _cmd_review_approve, "publish it like an A"),
                               ("reject", _cmd_review_reject, "never publish it")):
        p = rsub.add_parser(
            action, parents=[qopts, common], formatter_class=fmt, help=f"{action} an image ({what})",
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
    return parser


_RAN_IN_PROCESS = False  # set by the commands that run Dagster jobs in this process


def _ran_in_process() -> None:
    global _RAN_IN_PROCESS
    _RAN_IN_PROCESS = True


def _exit_now(code: int) -> None:
    """Leave without the interpreter's native teardown. After the pipeline has run in this process, a native
    library's static destructors sometimes abort at exit ("terminate called without an active exception",
    SIGABRT, exit status 134) after all the work is done and committed, which would turn a success into a
    failure for the calling script. Everything is flushed first; only the console entry point does this."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and _RAN_IN_PROCESS:  # the console script, after in-process pipeline work
        _exit_now(code)
    return code


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    _quiet_dagster_warnings()
    from orchestration.graphql_client import DagsterGraphQLError

    try:
        return args.func(args)
    except UsageError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except CommandFailed as exc:
        _err(f"failed: {exc}")
        return EXIT_FAILED
    except DagsterGraphQLError as exc:
        _err(f"failed: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # unexpected: say what, and how to see more
        if args.traceback:
            import traceback

            traceback.print_exc()
        _err(f"failed: {type(exc).__name__}: {exc}" + ("" if args.traceback else " (--traceback for details)"))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
