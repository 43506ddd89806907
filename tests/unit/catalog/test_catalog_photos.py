"""Photo checks through load_catalog and validate_photo, on real image bytes."""
import io
import struct
import zlib

import pytest
from PIL import Image

from skucore.catalog.loader import load_catalog
from skucore.catalog.photos import validate_photo


def _png_claiming(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose IHDR is patched to claim width x height (CRC recomputed, so it parses cleanly)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _forbid_decoding(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", refuse)


@pytest.mark.parametrize("width, height", [(7000, 7000), (100_000, 100_000)])
def test_decompression_bomb_refused_from_the_header(width, height, monkeypatch):
    # 7000x7000 is over our 40 Mpx limit but under Pillow's own; 100000^2 trips Pillow's DecompressionBombError.
    bomb = _png_claiming(width, height)
    _forbid_decoding(monkeypatch)
    check = validate_photo(bomb, min_side=400, max_pixels=40_000_000)
    assert check.reason == "photo_too_many_pixels"
    assert "before decoding" in check.message


def test_decoding_guard_really_guards(monkeypatch, make_jpeg):
    # Without this, the bomb test above would pass even if validate_photo decoded first.
    good = make_jpeg()
    _forbid_decoding(monkeypatch)
    with pytest.raises(AssertionError, match="decoded"):
        validate_photo(good, min_side=400, max_pixels=40_000_000)


def test_bomb_reports_its_claimed_size():
    check = validate_photo(_png_claiming(7000, 7000), min_side=400, max_pixels=40_000_000)
    assert (check.reason, check.size) == ("photo_too_many_pixels", (7000, 7000))


def test_validate_photo_outcomes(make_jpeg):
    good = make_jpeg((480, 420))

    def reason(data, **kwargs):
        return validate_photo(data, **{"min_side": 400, "max_pixels": 40_000_000, **kwargs}).reason

    assert reason(good) is None
    assert validate_photo(good, min_side=400, max_pixels=40_000_000).size == (480, 420)
    assert reason(good, min_side=421) == "photo_too_small"
    assert reason(good, max_pixels=480 * 420 - 1) == "photo_too_many_pixels"
    assert reason(good[: len(good) // 2]) == "photo_corrupt"
    assert "ends early" in validate_photo(good[: len(good) // 2]).message
    assert reason(b"<html>not found</html>") == "photo_not_an_image"
    assert reason(b"") == "photo_not_an_image"


def test_photo_rejects_through_load_catalog(tmp_path, write_csv, catalog_row, make_photo, make_jpeg):
    make_photo("small.jpg", size=(300, 600))
    (tmp_path / "text.jpg").write_text("this is not a photo")
    (tmp_path / "half.jpg").write_bytes(make_jpeg((600, 600))[:2000])
    (tmp_path / "bomb.png").write_bytes(_png_claiming(20_000, 20_000))
    (tmp_path / "folder.jpg").mkdir()
    path = write_csv([
        catalog_row("R-1", image=""), catalog_row("R-2", image="nope.jpg"), catalog_row("R-3", image="text.jpg"),
        catalog_row("R-4", image="half.jpg"), catalog_row("R-5", image="small.jpg"),
        catalog_row("R-6", image="bomb.png"), catalog_row("R-7", image="folder.jpg"),
        catalog_row("R-8", image="photo.jpg"),
    ])
    load = load_catalog(path)
    assert load.table.column("sku").to_pylist() == ["R-8"]
    assert [(r["sku"], r["reason"], r["field"], r["value"]) for r in load.rejects.to_pylist()] == [
        ("R-1", "photo_missing", "image", None), ("R-2", "photo_missing", "image", "nope.jpg"),
        ("R-3", "photo_not_an_image", "image", "text.jpg"), ("R-4", "photo_corrupt", "image", "half.jpg"),
        ("R-5", "photo_too_small", "image", "small.jpg"), ("R-6", "photo_too_many_pixels", "image", "bomb.png"),
        ("R-7", "photo_missing", "image", "folder.jpg"),
    ]


def test_photo_root_and_absolute_paths(tmp_path, write_csv, catalog_row, make_photo):
    other = make_photo("elsewhere/shot.jpg")
    path = write_csv([catalog_row("A-1", image="shot.jpg"), catalog_row("A-2", image=str(other))])
    load = load_catalog(path, photo_root=tmp_path / "elsewhere")
    assert load.rejects.num_rows == 0
    assert load.table.column("image").to_pylist() == [str(other), str(other)]


def test_injected_reader_for_s3_uris(write_csv, catalog_row, make_jpeg):
    objects = {"s3://bucket/a.jpg": make_jpeg(), "s3://bucket/tiny.jpg": make_jpeg((100, 100))}
    calls = []

    def read_photo(uri):
        calls.append(uri)
        if uri not in objects:
            raise FileNotFoundError(uri)
        return objects[uri]

    path = write_csv([catalog_row("S-1", image="s3://bucket/a.jpg"), catalog_row("S-2", image="s3://bucket/a.jpg"),
                      catalog_row("S-3", image="s3://bucket/gone.jpg"),
                      catalog_row("S-4", image="s3://bucket/tiny.jpg")])
    load = load_catalog(path, read_photo=read_photo)
    assert load.table.column("image").to_pylist() == ["s3://bucket/a.jpg"] * 2
    assert [(r["sku"], r["reason"]) for r in load.rejects.to_pylist()] == [
        ("S-3", "photo_missing"), ("S-4", "photo_too_small")]
    assert calls.count("s3://bucket/a.jpg") == 1  # read once per load, not once per variant

    without_reader = load_catalog(path)
    assert set(without_reader.rejects.column("reason").to_pylist()) == {"photo_unreadable"}
    assert "pass read_photo" in without_reader.rejects.column("message")[0].as_py()


def test_reader_errors_are_per_photo(write_csv, catalog_row):
    def read_photo(uri):
        raise PermissionError("AccessDenied")

    load = load_catalog(write_csv([catalog_row("E-1", image="s3://b/x.jpg")]), read_photo=read_photo)
    assert load.rejects.to_pylist()[0]["reason"] == "photo_unreadable"
    assert "AccessDenied" in load.rejects.to_pylist()[0]["message"]


def test_repeated_photo_validated_once(write_csv, catalog_row):
    load = load_catalog(write_csv([catalog_row(f"V-{i}") for i in range(5)]))
    assert load.stats["photos_validated"] == 1 and load.stats["photo_cache_hits"] == 4
    assert len(set(load.table.column("photo_sha256").to_pylist())) == 1
