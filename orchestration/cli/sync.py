"""`skustudio sync`: the catalog sync in-process, with what came in, what was rejected and why, the gate's verdict,
and what was added, changed and delisted."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from orchestration.cli import common as C
from orchestration.cli.common import EXIT_FAILED, EXIT_OK

# flag -> environment variable: the flags set the variables the catalog resource reads, so a flag, the
# environment and a deployment's resource configuration are one setting.
SETTINGS = {
    "format": "SKUSTUDIO_CATALOG_FORMAT", "mapping": "SKUSTUDIO_CATALOG_MAPPING",
    "currency": "SKUSTUDIO_CATALOG_CURRENCY", "photo_root": "SKUSTUDIO_PHOTO_ROOT",
    "allow_photos_from": "SKUSTUDIO_ALLOW_PHOTOS_FROM", "max_reject_ratio": "SKUSTUDIO_MAX_REJECT_RATIO",
    "photo_cache": "SKUSTUDIO_PHOTO_CACHE",
}


def add_parser(sub) -> None:
    from skucore.catalog.formats import FORMATS

    sync = sub.add_parser(
        "sync",
        parents=[C.quiet_parent(), C.home_parent(), C.debug_parent()],
        formatter_class=C.FORMATTER,
        help="run the catalog sync in-process: rows in, rejects by reason, the gate, added / changed / delisted",
        description="Ingest the catalog (rejected rows go to catalog_rejects with a reason each), gate it, and "
        "sync the SKU and promotion partitions of the Dagster instance at DAGSTER_HOME (default "
        "<home>/dagster_home), as the nightly schedule does. Prints rows in, accepted, rejected by reason with "
        "example rows, rows whose category fell to default, photo downloads, the gate's verdict and why, and the "
        "SKUs added, changed and delisted since the last sync.\n\n"
        "Each option has an environment variable (in brackets); the option wins.\n\n"
        "exit codes: 0 synced; 1 the sync ran and failed (e.g. the catalog gate closed: too many rejected rows); "
        "2 configuration error (missing catalog or mapping file, unknown format, prices without a currency, bad "
        "SKUSTUDIO_ENV ...): a short message, --debug for the traceback.",
    )
    sync.add_argument("--catalog", default=None,
                      help="catalog file or s3:// URI [SKUSTUDIO_CATALOG] (default: the sample catalog)")
    sync.add_argument("--format", default=None, metavar="NAME",
                      help=f"export format, when detection is not enough: {', '.join(FORMATS)} "
                      "[SKUSTUDIO_CATALOG_FORMAT]")
    sync.add_argument("--mapping", default=None, metavar="FILE",
                      help="mapping file (YAML/JSON): column renames, constants, photo prefix and join, category "
                      "rules [SKUSTUDIO_CATALOG_MAPPING]")
    sync.add_argument("--currency", default=None, metavar="CODE",
                      help="the catalog currency for prices that name none, e.g. SEK [SKUSTUDIO_CATALOG_CURRENCY]")
    sync.add_argument("--photo-root", default=None, metavar="FOLDER_OR_URL",
                      help="where relative photo paths start: a folder, s3:// or http(s):// prefix "
                      "[SKUSTUDIO_PHOTO_ROOT]")
    sync.add_argument("--allow-photos-from", action="append", default=None, metavar="LOCATION",
                      help="also allow photos from this folder, s3:// prefix, http(s)://host or network (CIDR); "
                      "repeat for several [SKUSTUDIO_ALLOW_PHOTOS_FROM, comma separated]")
    sync.add_argument("--allow-private-photo-networks", action="store_true", default=None,
                      help="fetch photo URLs on private and loopback addresses (an in-house photo server) "
                      "[SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS=true]")
    sync.add_argument("--photo-cache", default=None, metavar="FOLDER_OR_S3",
                      help="where fetched photos are kept [SKUSTUDIO_PHOTO_CACHE] (default <home>/store/photo-cache)")
    sync.add_argument("--max-reject-ratio", default=None, type=float, metavar="RATIO",
                      help="the gate closes above this share of rejected rows, 0..1 [SKUSTUDIO_MAX_REJECT_RATIO] "
                      "(default 0.2)")
    sync.add_argument("--json", action="store_true", help="print the figures as JSON")
    sync.set_defaults(func=cmd_sync)


def _local(value: str) -> str:
    """A local path made absolute (the in-process job may not share the working folder); URIs as they are."""
    return value if "://" in value else str(Path(value).expanduser().resolve())


@contextlib.contextmanager
def settings_environment(args):
    """The options as the environment variables the catalog resource reads, for this command only (a test or a
    script calling `main` twice must not inherit the first call's options)."""
    C.set_catalog(args.catalog)
    values = {
        "format": args.format, "currency": args.currency,
        "mapping": _local(args.mapping) if args.mapping else None,
        "photo_root": _local(args.photo_root) if args.photo_root else None,
        "allow_photos_from": ",".join(e if "://" in e or _is_network(e) else _local(e)
                                      for e in args.allow_photos_from) if args.allow_photos_from else None,
        "max_reject_ratio": str(args.max_reject_ratio) if args.max_reject_ratio is not None else None,
        "photo_cache": _local(args.photo_cache) if args.photo_cache else None,
    }
    wanted = {SETTINGS[key]: value for key, value in values.items() if value is not None}
    if args.allow_private_photo_networks:
        wanted["SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS"] = "true"
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _is_network(entry: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def preflight(resources: dict) -> dict:
    """The configuration checks that need no photo and no Dagster run: a failure here is exit 2."""
    from skucore.catalog.formats import CatalogError

    C.check_catalog(resources)
    source = resources["catalog_source"]
    try:
        return source.preflight(resources["promotions"].templates().categories())
    except CatalogError as exc:
        raise C.UsageError(str(exc)) from exc


def sync_catalog(home=None) -> dict:
    """Run the catalog_sync job in-process on the instance under DAGSTER_HOME; return its figures."""
    import dagster as dg

    from skucore import tables as T
    from orchestration.definitions import build_definitions
    from orchestration.demo import prepare_home, run_stage
    from assets.partitions import PROMOTIONS, SKUS

    home = prepare_home(home)
    resources = C.resources()
    checked = preflight(resources)
    defs = build_definitions(resources)
    store = resources["store"]
    for key in (T.CATALOG_LOAD_SUMMARY, T.CATALOG_GATE):  # so what is printed is this run's, never a stale one
        if store.exists(key):
            store.delete(key)
    instance = dg.DagsterInstance.get()
    before = instance.get_latest_materialization_event(dg.AssetKey("catalog_partitions"))
    stage = run_stage(defs, "catalog_sync", instance)
    after = instance.get_latest_materialization_event(dg.AssetKey("catalog_partitions"))
    out = {
        "success": stage.success,
        "failed_steps": stage.failed,
        "home": str(home),
        "dagster_home": os.environ["DAGSTER_HOME"],
        "catalog": resources["catalog_source"].location,
        "format": checked.get("format"),
    }
    summary = json.loads(store.get_bytes(T.CATALOG_LOAD_SUMMARY)) if store.exists(T.CATALOG_LOAD_SUMMARY) else {}
    gate = json.loads(store.get_bytes(T.CATALOG_GATE)) if store.exists(T.CATALOG_GATE) else None
    out.update(
        currency=summary.get("currency"), currencies=summary.get("currencies"), rows_in=summary.get("rows_read"), rows=summary.get("rows_loaded"),
        rejects=summary.get("rows_rejected"), reject_reasons=summary.get("rejects_by_reason", {}),
        reject_examples=summary.get("reject_examples", {}), rows_defaulted=summary.get("rows_defaulted", 0),
        category_defaulted=summary.get("category_defaulted", {}),
        category_default_examples=summary.get("category_default_examples", {}),
        photo_fetch=summary.get("photo_fetch"), gate=gate,
    )
    fresh = after is not None and (before is None or after.run_id != before.run_id)
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


def report(result: dict) -> list[str]:
    """The sync as a person reads it."""
    currencies = ", ".join(sorted(result.get("currencies") or {})) or result.get("currency")
    lines = [f"catalog sync: {result['catalog']} ({result.get('format') or '?'}"
             + (f", prices in {currencies}" if currencies else "") + ")"]
    if result.get("rows_in") is None:
        return lines + ["  the catalog was not ingested (see the failure below)"]
    lines.append(f"  rows in {result['rows_in']}, accepted {result['rows']}, rejected {result['rejects']}")
    examples = result.get("reject_examples") or {}
    for reason, count in sorted(result["reject_reasons"].items(), key=lambda kv: (-kv[1], kv[0])):
        shown = "; ".join(_example(e) for e in examples.get(reason, [])[:2])
        lines.append(f"    {reason:<26} {count:>5}  e.g. {shown}")
    if result.get("rows_defaulted"):
        top = sorted(result["category_defaulted"].items(), key=lambda kv: -kv[1])[:3]
        shown = ", ".join(f"{path or '(no category)'!r} x{n} ({', '.join(result['category_default_examples'].get(path, [])[:2])})"
                          for path, n in top)
        lines.append(f"  {result['rows_defaulted']} rows fell to the default category: {shown}; map them under "
                     f"categories: in a mapping file (--mapping)")
    fetch = result.get("photo_fetch")
    if fetch and fetch.get("urls"):
        lines.append(f"  photo URLs {fetch['urls']}: downloaded {fetch['downloaded']}, unchanged since the last "
                     f"sync {fetch['revalidated']}, failed {fetch['failed']}; {fetch['bytes_downloaded']:,} bytes "
                     f"downloaded")
    gate = result.get("gate")
    if gate is not None:
        lines.append(f"  catalog gate: {'PASSED' if gate['passed'] else 'CLOSED'}: "
                     f"{gate['summary'].removeprefix('passed: ')}")
    if "added" in result:
        lines.append(f"  added {result['added']}, changed {result['changed']}, delisted {result['delisted']}, "
                     f"unchanged {result['unchanged']}")
        lines.append(f"  SKU partitions: {result['sku_partitions']}; promotions: "
                     f"{', '.join(result['promotions']) or 'none'}")
    lines.append(f"  Dagster instance: {result['dagster_home']}")
    return lines


def _example(example: dict) -> str:
    who = f"row {example.get('source_row')}" + (f" {example['sku']}" if example.get("sku") else "")
    value = f" {example['value']!r}" if example.get("value") is not None else ""
    message = example.get("message") or ""
    return f"{who}{value}" + (f" ({message[:90]})" if message and not value else "")


def cmd_sync(args) -> int:
    C.set_home(args.home)
    bar = C.progress(args, total=1, desc="catalog sync", unit="job")
    C.ran_in_process()
    try:
        with settings_environment(args):
            result = sync_catalog(args.home)
        bar.update(1)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print("\n".join(report(result)))
    if not result["success"]:
        gate = result.get("gate")
        if gate is not None and not gate["passed"]:
            C.err(f"catalog sync FAILED: the catalog gate closed ({gate['summary']}); nothing was synced, the "
                  f"rejected rows are in catalog_rejects")
        else:
            C.err(f"catalog sync FAILED (steps: {', '.join(result['failed_steps']) or 'unknown'}); the reasons "
                  f"are in the run's events: DAGSTER_HOME={result['dagster_home']} dagster dev -w workspace.yaml")
        return EXIT_FAILED
    return EXIT_OK
