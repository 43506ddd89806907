""""Publish now": the backfill that applies a SKU's review decisions at once on the Dagster instance.

graded_sets[promotion|sku] (a rejected image regenerates, with the reason's prompt adjustment), cdn_publish of the
same partition (approved images publish; rejected ones are held back) and cdn_manifest[promotion] (the manifest
follows). Launched through the webserver's GraphQL API as `skustudio backfill` does; the daemon runs it.
"""
from __future__ import annotations

__all__ = ["partition_refresh_params", "REFRESHED_ASSETS"]

REFRESHED_ASSETS = ("graded_sets", "cdn_publish")


def partition_refresh_params(promotion: str, sku: str) -> dict:
    """LaunchBackfillParams over graded_sets and cdn_publish [promotion|sku] and cdn_manifest[promotion]."""
    if not promotion or not sku or "|" in promotion or "|" in sku:
        raise ValueError(f"not a promotion and SKU: {promotion!r}, {sku!r}")
    key = f"{promotion}|{sku}"
    one = {"ranges": [{"start": key, "end": key}]}
    by_assets = [{"assetKey": {"path": [asset]}, "partitions": one} for asset in REFRESHED_ASSETS]
    by_assets.append({"assetKey": {"path": ["cdn_manifest"]},
                      "partitions": {"ranges": [{"start": promotion, "end": promotion}]}})
    return {
        "partitionsByAssets": by_assets,
        "tags": [{"key": "skustudio/promotion", "value": promotion}, {"key": "skustudio/trigger", "value": "review_desk"}],
        "title": f"review desk: publish {key}",
    }
