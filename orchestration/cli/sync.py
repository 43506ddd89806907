"""`skustudio sync`: the catalog sync in-process, with what was added, changed and delisted."""
from __future__ import annotations

import json
import os

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK


def add_parser(sub) -> None:
    sync = sub.add_parser(
        "sync",
        parents=[C.quiet_parent(), C.home_parent()],
        formatter_class=C.FORMATTER,
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
    sync.set_defaults(func=cmd_sync)


def sync_catalog(home=None) -> dict:
    """Run the catalog_sync job in-process on the instance under DAGSTER_HOME; return its figures."""
    import dagster as dg

    from skucore import tables as T
    from orchestration.definitions import build_definitions
    from orchestration.demo import prepare_home, run_stage
    from assets.partitions import PROMOTIONS, SKUS
    from orchestration.status import catalog_counts

    home = prepare_home(home)
    resources = C.resources()
    C.check_catalog(resources)
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


def cmd_sync(args) -> int:
    C.set_home(args.home)
    C.set_catalog(args.catalog)
    bar = C.progress(args, total=1, desc="catalog sync", unit="job")
    C.ran_in_process()
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
        C.err(f"catalog sync FAILED (steps: {', '.join(result['failed_steps']) or 'unknown'}); the reasons are in the "
             f"run's events: DAGSTER_HOME={result['dagster_home']} dagster dev -w workspace.yaml")
        return EXIT_FAILED
    return EXIT_OK
