import pytest
from PIL import Image, ImageDraw

from tests.helpers.quality_images import canvas, encode, product
from skucore.quality.duplicates import near_duplicates, perceptual_hash


def _scene(seed, shift=0, bg=(255, 255, 255), colour=(40, 90, 160)):
    im, _ = canvas(size=(400, 400), bg=bg, prod=product(200, 200, seed=seed, colour=colour), at=(100 + shift, 100))
    return encode(im, "JPEG", quality=85)


def test_near_duplicates_across_skus_not_within_one():
    a = _scene(0)
    a_again = _scene(0, shift=2)  # the same scene re-encoded a little shifted
    other = Image.new("RGB", (400, 400), "white")
    ImageDraw.Draw(other).ellipse([50, 150, 350, 250], fill=(10, 10, 10))
    other_b = encode(other)
    hashes = {
        ("SKU-1", "main"): perceptual_hash(a),
        ("SKU-1", "banner"): perceptual_hash(a_again),  # same SKU: never a duplicate pair
        ("SKU-2", "main"): perceptual_hash(a_again),  # another SKU with the same picture: a duplicate
        ("SKU-3", "main"): perceptual_hash(other_b),
    }
    pairs = near_duplicates(hashes, max_bits=4)
    found = {frozenset((x, y)) for x, y, _ in pairs}
    assert frozenset({("SKU-1", "main"), ("SKU-2", "main")}) in found
    assert frozenset({("SKU-1", "banner"), ("SKU-2", "main")}) in found
    assert frozenset({("SKU-1", "main"), ("SKU-1", "banner")}) not in found
    assert not any(("SKU-3", "main") in p for p in found)
    assert all(d <= 4 for _, _, d in pairs)


def test_near_duplicates_distance_and_threshold():
    h = {("A", 1): "ffffffffffffffff", ("B", 1): "fffffffffffffff0", ("C", 1): "0000000000000000"}
    assert near_duplicates(h, max_bits=4) == [(("A", 1), ("B", 1), 4)]
    assert near_duplicates(h, max_bits=3) == []


def test_near_duplicates_with_sku_of_and_phash():
    a = _scene(0)
    h = {"SKU-1/main": perceptual_hash(a, "phash"), "SKU-2/main": perceptual_hash(a, "phash")}
    assert near_duplicates(h, sku_of=lambda k: k.split("/")[0]) == [("SKU-1/main", "SKU-2/main", 0)]
    with pytest.raises(ValueError, match="sku_of"):
        near_duplicates(h)
    with pytest.raises(ValueError, match="hash method"):
        perceptual_hash(a, "ahashx")


def test_near_duplicate_results_per_image():
    from skucore.quality.duplicates import near_duplicate_results

    h = {("A", 1): "ffffffffffffffff", ("A", 2): "ffffffffffffffff", ("B", 1): "fffffffffffffff0",
         ("C", 1): "0000000000000000", ("D", 1): None}
    res = near_duplicate_results(h, max_bits=4)
    assert (res[("A", 1)].status, res[("A", 1)].value) == ("fail", 4.0)
    assert res[("B", 1)].status == "fail" and "duplicates_of" in res[("B", 1)].detail
    assert (res[("C", 1)].status, res[("C", 1)].passed) == ("pass", True)
    assert (res[("D", 1)].status, res[("D", 1)].passed) == ("error", False)
