"""`skustudio status`: counts per stage and per grade for a promotion."""
from __future__ import annotations

import json

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_OK, UsageError


def add_parser(sub) -> None:
    status = sub.add_parser(
        "status",
        parents=[C.home_parent()],
        formatter_class=C.FORMATTER,
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
    status.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    from orchestration.status import UnknownPromotion, open_instance, promotion_status, format_status

    C.set_home(args.home)
    resources = C.resources()
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
