"""Failure isolation for the per-SKU stages.

A run over a range of partitions succeeds or fails as a whole, so each per-SKU asset loops over the run's
partition keys itself: a key that fails is logged with its reason and skipped, every key that finished is
reported with its own `AssetMaterialization(partition=key)`, and the step fails at the end naming the failed
keys. Dagster then records only the failed keys as failed (seen with dagster 1.13.27), so one bad SKU never marks
another SKU failed, and a rerun "from failure" picks up exactly the failed keys.
"""
from __future__ import annotations

import time
import traceback
from typing import Callable, Iterator

import dagster as dg


class UpstreamMissing(Exception):
    """An upstream partition this key needs has not been materialized (it failed earlier or never ran)."""


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    if not context.has_partition_key and not context.has_partition_key_range:
        raise dg.Failure("this asset is partitioned: launch it for a partition or a range of partitions")
    return [str(k) for k in context.partition_keys]


def split_key(key: str) -> tuple[str, str]:
    """'promotion|sku' -> (promotion, sku)."""
    promotion, _, sku = key.partition("|")
    return promotion, sku


def materialize_each(
    context: dg.AssetExecutionContext,
    work: Callable[[str], dict],
    *,
    keys: list[str] | None = None,
) -> Iterator[dg.AssetMaterialization]:
    keys = partition_keys(context) if keys is None else keys
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for i, key in enumerate(keys, 1):
        try:
            metadata = work(key)
        except Exception as exc:  # isolate: one key's failure never sinks the others
            reason = f"{type(exc).__name__}: {exc}"
            failures[key] = reason
            context.log.error(f"{context.asset_key.to_user_string()}[{key}] failed: {reason}\n{traceback.format_exc()}")
            continue
        yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=metadata)
        if i % 25 == 0 or i == len(keys):
            context.log.info(f"{i}/{len(keys)} partitions done in {time.perf_counter() - started:.1f}s")
    if failures:
        lines = "\n".join(f"- `{k}`: {v}" for k, v in sorted(failures.items()))
        raise dg.Failure(
            description=f"{len(failures)} of {len(keys)} partitions failed:\n{lines}",
            metadata={
                "failed_partitions": dg.MetadataValue.json(sorted(failures)),
                "failed_count": len(failures),
                "succeeded_count": len(keys) - len(failures),
            },
        )
