"""Every kind of photo a shop's library holds (EXIF-rotated, 16-bit, CMYK, palette, grey, grey+alpha, Adobe RGB,
Display P3, animated ...), through ingestion and cutout as the pipeline runs them: served by URL from a loopback
server or read from a folder, ingested by CatalogSource, read back for the cutout with `catalog_photo` (what the
product_cutouts asset calls) and cut out. Each is compared with its reference conversion (what a person sees), and
the unusable kinds are refused with their reason code."""
import csv

import numpy as np
import pytest

from assets.cutouts import catalog_photo
from resources.catalog import CatalogSource
from skucore.imaging.cutout import cut_out
from tests.helpers.colour_difference import compare
from tests.helpers.photo_kinds import make_photo_kinds
from tests.helpers.photo_server import Photo, PhotoServer

KINDS = make_photo_kinds()
GOOD = [k for k in KINDS.values() if k.expected is not None]
BAD = [k for k in KINDS.values() if k.expected is None]
CATEGORIES = ["fashion", "home_decor", "default"]


def _catalog(folder, refs: dict[str, str]):
    path = folder / "catalog.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "name", "category", "price", "currency", "image"])
        for name, ref in refs.items():
            writer.writerow([name.replace("_", "-").upper(), name, "Hoodies", "54.00", "USD", ref])
    return path


@pytest.fixture(scope="module", params=["url", "folder"])
def ingested(request, tmp_path_factory):
    """(source, load) with every kind ingested once, by URL or from a folder."""
    tmp = tmp_path_factory.mktemp(f"kinds_{request.param}")
    settings = dict(min_side=100, photo_cache=str(tmp / "photo-cache"), allowed_photo_locations=["127.0.0.1/32"],
                    photo_retries=0)
    if request.param == "folder":
        (tmp / "photos").mkdir()
        for kind in KINDS.values():
            (tmp / "photos" / f"{kind.name}{kind.suffix}").write_bytes(kind.data)
        source = CatalogSource(location=str(_catalog(tmp, {k: f"photos/{k}{KINDS[k].suffix}" for k in KINDS})),
                               **settings)
        yield source, source.load(CATEGORIES)
        return
    with PhotoServer() as server:
        # Served as application/octet-stream from .bin paths: only the bytes say what they are.
        refs = {k: server.route(f"/img/{k}.bin", Photo(KINDS[k].data, "application/octet-stream")) for k in KINDS}
        source = CatalogSource(location=str(_catalog(tmp, refs)), **settings)
        yield source, source.load(CATEGORIES)


def _row(load, kind):
    sku = kind.name.replace("_", "-").upper()
    return next((r for r in load.table.to_pylist() if r["sku"] == sku), None)


@pytest.mark.parametrize("kind", GOOD, ids=lambda k: k.name)
def test_each_kind_reaches_the_cutout_as_a_person_sees_it(ingested, kind):
    source, load = ingested
    row = _row(load, kind)
    assert row is not None, [r for r in load.rejects.to_pylist() if r["sku"] == kind.name.replace("_", "-").upper()]
    photo = np.asarray(catalog_photo(source, row))
    difference = compare(photo, kind.expected)
    assert difference.within(kind.max_mean_abs), (kind.description, difference)

    cutout = cut_out(catalog_photo(source, row))
    assert cutout.rgba.shape[:2] == kind.expected.shape[:2]  # upright: a sideways photo is 240x300, not 300x240
    solid = cutout.rgba[:, :, 3] == 255
    if kind.expected.shape[2] == 4:
        solid &= kind.expected[:, :, 3] == 255
        # A cut-out photo's own transparency is the mask.
        assert np.abs(cutout.rgba[:, :, 3].astype(int) - kind.expected[:, :, 3]).mean() < 2.0
    assert solid.mean() > 0.3
    colour_error = np.abs(cutout.rgba[:, :, :3][solid].astype(int) - kind.expected[:, :, :3][solid]).mean()
    assert colour_error <= kind.max_mean_abs + 1.0, (kind.description, colour_error)


def test_cutout_mask_is_the_same_product_whatever_the_encoding(ingested):
    # Against the plain sRGB JPEG's cutout: a sideways, binarised or colour-shifted photo would cut a different
    # shape out (16-bit PNGs turned 96% white before).
    source, load = ingested
    control = cut_out(catalog_photo(source, _row(load, KINDS["jpeg_srgb"]))).rgba[:, :, 3] > 0
    for kind in GOOD:
        if kind.expected.shape[2] == 4 or kind.name == "bilevel_png":
            continue  # their own alpha, or two tones only: another mask by design
        mask = cut_out(catalog_photo(source, _row(load, kind))).rgba[:, :, 3] > 0
        overlap = (mask & control).sum() / (mask | control).sum()
        assert overlap > 0.9, (kind.name, overlap)


@pytest.mark.parametrize("kind", BAD, ids=lambda k: k.name)
def test_unusable_kinds_are_rejected_with_their_reason(ingested, kind):
    _, load = ingested
    sku = kind.name.replace("_", "-").upper()
    reasons = [r["reason"] for r in load.rejects.to_pylist() if r["sku"] == sku]
    assert reasons == [kind.reason], (kind.description, reasons)


def test_photo_facts_say_why_a_photo_looks_as_it_does(ingested):
    _, load = ingested
    import json

    facts = {r["sku"]: json.loads(r["photo_facts"]) for r in load.table.to_pylist()}
    assert facts["JPEG-EXIF-ORIENTATION-6"]["exif_orientation"] == 6
    assert facts["PNG16-GREY"]["bit_depth"] == 16
    assert facts["ADOBE-RGB-JPEG"]["icc"].startswith("Adobe RGB") and facts["ADOBE-RGB-JPEG"]["icc_applied"]
    assert facts["CMYK-JPEG-ICC"]["mode"] == "CMYK"
    assert facts["ANIMATED-GIF"]["frames"] == 2


def test_animated_photos_can_be_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    animated = [k for k in KINDS.values() if k.animated] + [KINDS["tiff_two_pages"]]
    for kind in animated:
        (tmp_path / "photos" / f"{kind.name}{kind.suffix}").write_bytes(kind.data)
    source = CatalogSource(location=str(_catalog(tmp_path, {k.name: f"photos/{k.name}{k.suffix}" for k in animated})),
                           min_side=100, animated_photos="reject")
    load = source.load(CATEGORIES)
    reasons = {r["sku"]: r["reason"] for r in load.rejects.to_pylist()}
    assert reasons == {k.name.replace("_", "-").upper(): "photo_animated" for k in animated if k.animated}
    assert load.table.column("sku").to_pylist() == ["TIFF-TWO-PAGES"]  # pages are not an animation
