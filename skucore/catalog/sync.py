"""Change detection for the nightly sync: compare this catalog's content hashes with the last synced ones."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from skucore.tables import CHANGES_SCHEMA


@dataclass
class CatalogChanges:
    new: list[str]
    changed: list[str]
    delisted: list[str]
    unchanged: list[str]

    @property
    def table(self) -> pa.Table:
        rows = [(s, kind) for kind in ("new", "changed", "delisted", "unchanged") for s in getattr(self, kind)]
        return pa.table(
            {"sku": [r[0] for r in rows], "change": [r[1] for r in rows]}, schema=CHANGES_SCHEMA
        )

    @property
    def to_generate(self) -> list[str]:
        return sorted(self.new + self.changed)


def diff_catalog(previous: pa.Table | None, current: pa.Table) -> CatalogChanges:
    """`previous` and `current` need columns sku and content_hash (row fields and photo bytes)."""
    before = dict(zip(previous.column("sku").to_pylist(), previous.column("content_hash").to_pylist())) if previous is not None else {}
    now = dict(zip(current.column("sku").to_pylist(), current.column("content_hash").to_pylist()))
    new = sorted(s for s in now if s not in before)
    changed = sorted(s for s in now if s in before and before[s] != now[s])
    unchanged = sorted(s for s in now if s in before and before[s] == now[s])
    delisted = sorted(s for s in before if s not in now)
    return CatalogChanges(new=new, changed=changed, delisted=delisted, unchanged=unchanged)
