"""Near duplicates: whole-image hashes across SKUs, and fingerprints of the product region and the scene."""
import json

import pytest
from PIL import Image, ImageDraw

from skucore.imaging.render import render_sku_images
from skucore.quality.duplicates import (generated_image_fingerprint, image_fingerprint, near_duplicates,
                                        parse_fingerprint, perceptual_hash)
from tests.helpers.imaging import TEMPLATES, FakePromotion, prompt_row
from tests.helpers.quality_images import canvas, encode, product
from tests.helpers.scene_inputs import crude_cutout


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


# ---------------------------------------------------------------------------------------------------------------
# Product region + scene fingerprints: a shared card layout is not a duplicate, the same product on it is.


def _card(photo: str, sku: str, template: str = "t_detail") -> tuple[bytes, dict]:
    """The image and generated-table row of one SKU's detail card (price, badge and selling points bands around
    the product, mostly white) on Taobao."""
    row = {"sku": sku, "category": "bags", "price": 199.0, "currency": "CNY", "selling_points": ["Canvas", "Roomy"]}
    (img,) = render_sku_images(crude_cutout(photo), row, [prompt_row("detail", template, 3)], FakePromotion(),
                               platforms=["taobao"], templates_by_id=TEMPLATES, source_sha256="1" * 64)
    gen = {"product_box": list(img.product_box),
           "text_regions": json.dumps([{"kind": r.kind, "text": r.text, "box": list(r.box)} for r in img.text_regions])}
    return img.data, gen


def test_two_products_on_one_card_layout_are_not_near_duplicates_the_same_product_twice_is():
    cards = {
        ("SKU-A", "detail"): _card("tote_bag_ruby.jpg", "SKU-A"),
        ("SKU-B", "detail"): _card("tote_bag_solidus.jpg", "SKU-B"),  # the same bag, another print
        ("SKU-C", "detail"): _card("tote_bag_ruby.jpg", "SKU-C"),  # the same product as SKU-A
        ("SKU-D", "detail"): _card("solidus_tshirt_black.jpg", "SKU-D"),
        ("SKU-E", "detail"): _card("solidus_tshirt_blue.jpg", "SKU-E"),  # a colour variant of SKU-D
        ("SKU-F", "lifestyle"): _card("tote_bag_ruby.jpg", "SKU-F", "t_life"),  # SKU-A's product, another scene
    }
    # what the whole-image hash did: the shared layout made the two totes look alike
    whole = {k: perceptual_hash(v[0]) for k, v in cards.items()}
    assert frozenset({("SKU-A", "detail"), ("SKU-B", "detail")}) in {frozenset(p[:2]) for p in near_duplicates(whole)}
    prints = {k: generated_image_fingerprint(*v) for k, v in cards.items()}
    assert all(parse_fingerprint(p) is not None for p in prints.values())
    found = {frozenset(p[:2]) for p in near_duplicates(prints, max_bits=4)}
    assert found == {frozenset({("SKU-A", "detail"), ("SKU-C", "detail")})}


def test_fingerprints_and_plain_hashes_mix_without_comparing():
    data, gen = _card("tote_bag_ruby.jpg", "SKU-A")
    fp = generated_image_fingerprint(data, gen)
    hashes = {("A", 1): fp, ("B", 1): fp, ("C", 1): perceptual_hash(data), ("D", 1): perceptual_hash(data)}
    pairs = near_duplicates(hashes)  # hashes stored before fingerprints: each kind meets only its own kind
    assert {frozenset(p[:2]) for p in pairs} == {frozenset({("A", 1), ("B", 1)}), frozenset({("C", 1), ("D", 1)})}
    assert generated_image_fingerprint(data, {"product_box": None}) == perceptual_hash(data)
    with pytest.raises(ValueError, match="outside"):
        image_fingerprint(data, (900, 900, 950, 950))
    with pytest.raises(ValueError, match="broken"):
        parse_fingerprint("fp1:zz")
