"""Failure isolation for the per-SKU stages.

A run over a range of partitions succeeds or fails as a whole, so each per-SKU step loops over the run's
partition keys itself: each key goes through the step's stages in turn; a key whose stage fails is logged with
its reason and stops there; every stage a key finished is reported with its own
`AssetMaterialization(partition=key)`; and the step fails at the end naming the failed keys. Dagster then records
only the failed keys as failed (seen with dagster 1.13.27), so one bad SKU never marks another SKU failed, and a
rerun "from failure" picks up exactly the failed keys.
"""
import time
import traceback
from typing import Callable, Iterator, Sequence

import dagster as dg


class UpstreamMissing(Exception):
    """An upstream partition this key needs has not been materialized (it failed earlier or never ran)."""


def split_key(key: str) -> tuple[str, str]:
    """'promotion|sku' -> (promotion, sku)."""
    promotion, _, sku = key.partition("|")
    return promotion, sku


def materialize_stages(
    context: dg.AssetExecutionContext,
    keys: Sequence[str],
    stages: Sequence[tuple[str, Callable[[str], dict]]],
    failures: dict[str, str],
) -> Iterator[dg.AssetMaterialization]:
    """Run `stages` (asset name, work(key) -> metadata) for each key in order; record failures in `failures`."""
    started = time.perf_counter()
    for i, key in enumerate(keys, 1):
        for asset_name, work in stages:
            try:
                metadata = work(key)
            except Exception as exc:  # isolate: this key stops here, the others go on
                failures[key] = f"{asset_name}: {type(exc).__name__}: {exc}"
                context.log.error(f"{asset_name}[{key}] failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                break
            yield dg.AssetMaterialization(asset_key=asset_name, partition=key, metadata=metadata)
        if i % 10 == 0 or i == len(keys):
            context.log.info(f"{i}/{len(keys)} partitions done in {time.perf_counter() - started:.1f}s")


def raise_if_failed(failures: dict[str, str], total: int) -> None:
    if not failures:
        return
    lines = "\n".join(f"- `{k}`: {v}" for k, v in sorted(failures.items()))
    raise dg.Failure(
        description=f"{len(failures)} of {total} partitions failed:\n{lines}",
        metadata={
            "failed_partitions": dg.MetadataValue.json(sorted(failures)),
            "failed_count": len(failures),
            "succeeded_count": total - len(failures),
        },
    )
