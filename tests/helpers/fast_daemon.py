"""`dagster-daemon`, with a shorter pause between the backfill daemon's iterations (test instance only).

dagster's backfill daemon sleeps DEFAULT_DAEMON_INTERVAL_SECONDS (30 s) between iterations and dagster.yaml has
no setting for it. An asset backfill of SKU Studio's graph takes about four iterations (launch the roots, the
per-SKU stages, the manifest, then mark it complete), so at dagster's pace each backfill of the e2e test would wait
about two minutes on the clock. The loop reads the constant at call time, so setting it before the daemon starts
is enough. Everything else (sensor intervals, the run queue, the launcher) is dagster's own.
"""
import os
import sys

import dagster._daemon.controller as controller

controller.DEFAULT_DAEMON_INTERVAL_SECONDS = int(os.environ.get("SKUSTUDIO_E2E_DAEMON_INTERVAL", "2"))

from dagster._daemon.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "dagster-daemon"
    sys.exit(main())
