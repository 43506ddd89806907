"""`skustudio`: what people do without the Dagster UI. One module per command; `common` holds what they share.

Exit codes: 0 success; 1 the work ran (or tried to) and something failed (details printed); 2 bad usage or
configuration (unknown promotion, unknown review item, missing catalog, bad SKUSTUDIO_ENV ...).
"""
from __future__ import annotations

import argparse

from orchestration.cli import backfill, demo, review, status, sync, templates, worker
from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, UsageError

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

COMMANDS = (demo, sync, backfill, status, review, templates, worker)

EPILOG = """\
commands:
  demo      run the main job on the embedded defaults (sample catalog, CPU studio backend)
  sync      run the catalog sync in-process: new, changed and delisted SKUs
  backfill  launch a promotion's backfill on a running Dagster instance (GraphQL)
  status    counts per stage and per grade for a promotion
  review    the review desk (serve); list the B images waiting for a person; approve or reject them
  templates report how each scene template performs: grades, failing metrics, reviewers' reasons
  worker    start one Celery worker of the production fleet (gpu / cpu queues)

exit codes (scripts can rely on them):
  0  success
  1  the work ran (or tried to) and something failed: a failed stage or partition, a backfill that
     failed, an unreachable Dagster server, an unexpected error
  2  usage or configuration error: bad arguments, unknown promotion or SKU, unknown review item,
     missing catalog or mapping file, unknown catalog format, prices without a currency, bad
     SKUSTUDIO_ENV; a short message (--debug for the traceback), nothing was changed
  130 interrupted (Ctrl-C)

environment: SKUSTUDIO_HOME (working folder, default ./var), SKUSTUDIO_ENV (local | production),
SKUSTUDIO_CATALOG, SKUSTUDIO_PROMOTIONS, DAGSTER_HOME (default $SKUSTUDIO_HOME/dagster_home); the catalog's
format, mapping, currency and photo settings: see `skustudio sync --help`.
Progress bars go to stderr, only on a terminal; --quiet turns them off. `skustudio COMMAND --help` for more.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skustudio",
        description="SKU Studio: catalog-scale marketplace product images, orchestrated by Dagster.",
        epilog=EPILOG,
        formatter_class=C.FORMATTER,
    )
    parser.add_argument("--debug", "--traceback", dest="debug", action="store_true",
                        help="print the full traceback of any error, configuration errors included")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and C.ran_in_process_done():  # the console script, after in-process pipeline work
        C.exit_now(code)
    return code


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    C.quiet_dagster_warnings()
    from orchestration.graphql_client import DagsterGraphQLError

    debug = bool(getattr(args, "debug", False))
    try:
        return args.func(args)
    except UsageError as exc:  # a configuration error: the message says what to change; --debug shows where
        if debug:
            import traceback

            traceback.print_exc()
        C.err(f"error: {exc}")
        return EXIT_USAGE
    except CommandFailed as exc:
        C.err(f"failed: {exc}")
        return EXIT_FAILED
    except DagsterGraphQLError as exc:
        C.err(f"failed: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        C.err("interrupted")
        return 130
    except Exception as exc:  # unexpected: say what, and how to see more
        if debug:
            import traceback

            traceback.print_exc()
        C.err(f"failed: {type(exc).__name__}: {exc}" + ("" if debug else " (--debug for details)"))
        return EXIT_FAILED


