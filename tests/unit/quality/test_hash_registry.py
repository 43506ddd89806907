"""PromotionHashes: the near-duplicate check against the other SKUs' registered images gives the same results as
comparing with everything, the SKU scored second sees the first, and a rescore replaces a SKU's hashes."""
import random

from skucore.quality.duplicates import near_duplicate_results
from skucore.quality.hash_registry import PromotionHashes


def _hashes(n_skus: int, seed: int = 0) -> dict:
    rnd = random.Random(seed)
    return {(f"SKU-{i // 5}", f"img-{i}"): "%016x" % rnd.getrandbits(64) for i in range(n_skus * 5)}


def _flip(h: str, bits: int) -> str:
    return "%016x" % (int(h, 16) ^ ((1 << bits) - 1))


def test_compare_matches_the_full_check_and_finds_partners_within_max_bits():
    stored = _hashes(200)
    target = stored[("SKU-7", "img-35")]
    own = {("NEW", "a"): _flip(target, 3), ("NEW", "b"): _flip(target, 9), ("NEW", "c"): ""}
    registry = PromotionHashes(4, stored)
    got = registry.compare("NEW", own)
    want = near_duplicate_results({**stored, **own}, max_bits=4)
    assert got == {k: want[k] for k in own}
    assert got[("NEW", "a")].status == "fail" and got[("NEW", "b")].status == "pass"
    assert got[("NEW", "c")].status == "error"


def test_the_sku_registered_second_is_flagged_and_a_rescore_replaces_hashes():
    registry = PromotionHashes(4)
    first = registry.replace("A", {("A", "1"): "00000000000000ff"})
    second = registry.replace("B", {("B", "1"): "00000000000000fe"})
    assert first[("A", "1")].status == "pass" and second[("B", "1")].status == "fail"
    registry.replace("A", {("A", "2"): "ffffffff00000000"})  # A rescored: its old image is gone
    assert registry.compare("B", {("B", "1"): "00000000000000fe"})[("B", "1")].status == "pass"
    registry.add("A", {("A", "3"): "00000000000000fc"})  # a regenerated attempt joins A's images
    assert registry.compare("B", {("B", "1"): "00000000000000fe"})[("B", "1")].status == "fail"
    assert len(registry) == 3


def test_hashes_of_other_lengths_fall_back_to_the_full_check():
    registry = PromotionHashes(4, {("A", "1"): "00ff"})
    assert registry.compare("B", {("B", "1"): "00fe"})[("B", "1")].status == "fail"
