"""Spot checks: a sample of a promotion's published A images for people to confirm ("AI pre-screens, people
spot-check"), stratified by template and platform so every template x platform combination is looked at.

The draw is deterministic for a given salt (the same candidates and salt give the same sample), uniform within a
stratum (images ordered by a hash of salt and image key), and skips images already queued.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

__all__ = ["draw_spot_checks", "strata"]


def strata(candidates: Iterable[Mapping]) -> dict[tuple[str, str], list[Mapping]]:
    """(template_id, platform) -> the candidates of that stratum."""
    out: dict[tuple[str, str], list[Mapping]] = {}
    for c in candidates:
        out.setdefault((str(c.get("template_id") or "?"), str(c.get("platform") or "?")), []).append(c)
    return out


def draw_spot_checks(candidates: Iterable[Mapping], *, share: float, min_per_stratum: int, salt: str,
                     already: set[str] = frozenset()) -> list[Mapping]:
    """Up to max(min_per_stratum, ceil(share x stratum size)) images of each stratum, not counting images whose
    key is in `already` (queued before: they were drawn or are B's). Each candidate needs image_key, template_id
    and platform."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within [0, 1], got {share}")
    if min_per_stratum < 0:
        raise ValueError(f"min_per_stratum must be >= 0, got {min_per_stratum}")
    picked: list[Mapping] = []
    for _stratum, rows in sorted(strata(candidates).items()):
        want = min(len(rows), max(min_per_stratum, math.ceil(share * len(rows))))
        have = sum(1 for r in rows if r["image_key"] in already)
        fresh = sorted((r for r in rows if r["image_key"] not in already),
                       key=lambda r: hashlib.sha256(f"{salt}\0{r['image_key']}".encode()).hexdigest())
        picked.extend(fresh[:max(0, want - have)])
    return picked
