"""Partitions: SKUs and promotions are dynamic (the catalog sync adds and removes them); the per-SKU stages of a
promotion use promotion x sku. Dimension names sort "promotion" before "sku", so the multi-partition keys of one
promotion are contiguous and a whole promotion is one partition range ("double11|A".."double11|Z")."""
from __future__ import annotations

import warnings

import dagster as dg

PROMOTIONS = "promotions"
SKUS = "skus"

promotions_partitions = dg.DynamicPartitionsDefinition(name=PROMOTIONS)
skus_partitions = dg.DynamicPartitionsDefinition(name=SKUS)
promotion_sku_partitions = dg.MultiPartitionsDefinition({"promotion": promotions_partitions, "sku": skus_partitions})

# Upstream mappings for the per-SKU stages.
with warnings.catch_warnings():  # beta API, relied on deliberately; keep the load quiet
    warnings.simplefilter("ignore", dg.BetaWarning)
    from_promotion = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="promotion")
    from_sku = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="sku")


def promotion_range(instance: dg.DagsterInstance, promotion: str, skus: list[str] | None = None) -> tuple[str, str]:
    """First and last multi-partition key of `promotion` (optionally restricted to the span of `skus`)."""
    keys = [
        k
        for k in promotion_sku_partitions.get_partition_keys(dynamic_partitions_store=instance)
        if k.keys_by_dimension["promotion"] == promotion and (skus is None or k.keys_by_dimension["sku"] in skus)
    ]
    if not keys:
        raise ValueError(f"promotion {promotion!r} has no registered SKU partitions; run the catalog sync first")
    return str(keys[0]), str(keys[-1])


def range_tags(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
