"""`skustudio backfill`: launch a promotion's backfill on a running Dagster instance (GraphQL)."""
from __future__ import annotations

import json
import os
import re
import sys

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK, CommandFailed, UsageError


def add_parser(sub) -> None:
    backfill = sub.add_parser(
        "backfill",
        parents=[C.quiet_parent()],
        formatter_class=C.FORMATTER,
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
    backfill.set_defaults(func=cmd_backfill)


def cmd_backfill(args) -> int:
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

    bar = C.progress(args, total=None, desc=f"backfill {backfill_id}", unit="SKU")
    step = StepProgress(client, backfill_id)

    def on_update(status):
        done, total = per_sku_counts(status)
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        line = step.poll() if not bar.disable else None
        extra = [status.status.lower(), f"{status.totals()['failed']} failed"]
        if line:
            extra.extend(f"{k} {v}" for k, v in parse_progress(line).items())
        bar.set_postfix_str(", ".join(extra), refresh=False)
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
        C.err(f"backfill {backfill_id} {status.status.lower()}: rerun the failed partitions from {url} "
             f"(Re-execute > From failure)")
        return EXIT_FAILED
    return EXIT_OK


_PROGRESS = re.compile(r"(?P<rate>[\d.]+) images/s|about (?P<left>\S+) left")


def parse_progress(line: str) -> dict:
    """images/s and time left from the per-SKU step's progress line (`assets.partition_loop.Progress.line`)."""
    out = {}
    for m in _PROGRESS.finditer(line):
        if m.group("rate"):
            out["images/s"] = m.group("rate")
        if m.group("left"):
            out["left"] = m.group("left")
    return out


def per_sku_counts(status) -> tuple[int, int]:
    """(SKUs finished, SKUs targeted) of the long stage: the last per-SKU stage the backfill targets (a SKU is
    finished when that stage materialized or failed for it); the backfill's totals when it targets none."""
    from assets.stages import PER_SKU_STAGE_NAMES

    for name in reversed(PER_SKU_STAGE_NAMES):
        c = status.assets.get(name)
        if c and c["targeted"]:
            return c["materialized"] + c["failed"], c["targeted"]
    totals = status.totals()
    return totals["materialized"] + totals["failed"], totals["targeted"]


_RUNS_QUERY = """
query BackfillRuns($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { runs(limit: 20) { runId status } } }
}
"""

_LOGS_QUERY = """
query RunLogs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 500) {
    __typename
    ... on EventConnection { cursor hasMore events { __typename ... on MessageEvent { message } } }
  }
}
"""


class StepProgress:
    """The per-SKU step's latest progress line (keys done, images/s, time left), read from the run log of the
    backfill's running runs; best effort: any error leaves the last line known (None before any)."""

    def __init__(self, client, backfill_id: str):
        self.client, self.backfill_id = client, backfill_id
        self.cursors: dict[str, str | None] = {}
        self.latest: str | None = None

    def poll(self) -> str | None:
        try:
            data = self.client.execute(_RUNS_QUERY, {"id": self.backfill_id})
            runs = (data.get("partitionBackfillOrError") or {}).get("runs") or []
            for run in runs:
                if run.get("status") in ("STARTED", "STARTING") or run["runId"] in self.cursors:
                    self._read(run["runId"])
        except Exception:  # noqa: BLE001 - the bar goes on without the step's figures
            pass
        return self.latest

    def _read(self, run_id: str) -> None:
        for _ in range(20):  # pages of 500 events
            data = self.client.execute(_LOGS_QUERY, {"runId": run_id, "cursor": self.cursors.get(run_id)})
            conn = data.get("logsForRun") or {}
            if conn.get("__typename") != "EventConnection":
                return
            self.cursors[run_id] = conn.get("cursor")
            for event in conn.get("events") or []:
                message = event.get("message") or ""
                if message.startswith("progress:") and "SKUs" in message:
                    self.latest = message
            if not conn.get("hasMore"):
                return
