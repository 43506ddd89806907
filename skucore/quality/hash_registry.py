"""The near-duplicate check of one promotion, kept in one place: every SKU's perceptual hashes, and each new
image compared with the other SKUs' images registered before it.

Whoever registers second sees the first: of two SKUs whose images nearly match, the one scored later is flagged
(`near_duplicate` fails), whatever process scored it. A worker pool keeps one `PromotionHashes` per promotion in
its parent process and its workers ask it (`replace`, `compare`, `add`), so two SKUs scored at the same moment in
two workers are still compared with each other, as in one loop.

Comparing a SKU's few images with a promotion's thousands is a vectorised XOR + popcount against the stored
hashes; only the images within `max_bits` go on to `skucore.quality.duplicates.near_duplicate_results`, which
writes the results (same values and details as comparing with everything).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from skucore.quality.duplicates import near_duplicate_results
from skucore.quality.metrics import MetricResult

ImageId = tuple[str, str]  # (sku, image_key)


class PromotionHashes:
    """Perceptual hashes (hex) of a promotion's images, by SKU, in the order they were registered."""

    def __init__(self, max_bits: int = 4, hashes: Mapping[ImageId, str] | None = None):
        self.max_bits = int(max_bits)
        self.by_sku: dict[str, dict[ImageId, str]] = {}
        self._ids: list[ImageId] | None = None  # flattened view, rebuilt after a change
        self._words: np.ndarray | None = None
        self._skus: np.ndarray | None = None
        for image_id, h in (hashes or {}).items():
            self.by_sku.setdefault(image_id[0], {})[image_id] = h

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_sku.values())

    def items(self) -> list[tuple[ImageId, str]]:
        return [kv for hashes in self.by_sku.values() for kv in hashes.items()]

    # ---- what the quality stage calls -----------------------------------------------------------------
    def compare(self, sku: str, own: Mapping[ImageId, str]) -> dict[ImageId, MetricResult]:
        """A `near_duplicate` result for each of `own` (images of `sku`) against every other SKU's images."""
        close = self._close_to(sku, [h for h in own.values() if h])
        return {k: v for k, v in near_duplicate_results({**close, **own}, max_bits=self.max_bits).items() if k in own}

    def replace(self, sku: str, own: Mapping[ImageId, str]) -> dict[ImageId, MetricResult]:
        """`compare`, then `own` becomes the SKU's hashes (a rescore replaces the earlier ones)."""
        results = self.compare(sku, own)
        self.by_sku[sku] = dict(own)
        self._changed()
        return results

    def add(self, sku: str, hashes: Mapping[ImageId, str]) -> None:
        """Register more images of `sku` (regenerated attempts) beside the ones it has."""
        self.by_sku.setdefault(sku, {}).update(hashes)
        self._changed()

    # ---- the vectorised prefilter ---------------------------------------------------------------------
    def _changed(self) -> None:
        self._ids = self._words = self._skus = None

    def _index(self) -> None:
        if self._ids is not None:
            return
        pairs = [(k, h) for k, h in self.items() if h and len(h) == 16]
        self._ids = [k for k, _ in pairs]
        self._words = np.array([int(h, 16) for _, h in pairs], dtype=np.uint64)
        self._skus = np.array([k[0] for k in self._ids], dtype=object)

    def _close_to(self, sku: str, own_hashes: list[str]) -> dict[ImageId, str]:
        """The other SKUs' images within `max_bits` of any of `own_hashes`; every other image when a hash is not
        64 bits (then the exact check does all the work, as it would without this prefilter)."""
        others = {k: h for k, h in self.items() if k[0] != sku}
        if not own_hashes or not others:
            return others if own_hashes else {}
        if any(len(h) != 16 for h in own_hashes) or any(h and len(h) != 16 for h in others.values()):
            return others
        self._index()
        near = np.zeros(len(self._ids), dtype=bool)
        for h in own_hashes:
            near |= np.bitwise_count(self._words ^ np.uint64(int(h, 16))) <= self.max_bits
        near &= self._skus != sku
        return {self._ids[i]: others[self._ids[i]] for i in np.nonzero(near)[0]}
