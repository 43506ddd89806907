"""content_hash: changes when a field or the photo's bytes change, stable otherwise."""
import hashlib

from skucore.catalog.loader import load_catalog


def _hash(path, **kwargs):
    load = load_catalog(path, **kwargs)
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()
    return load.table.to_pylist()[0]


def test_hash_is_stable_and_tracks_fields_and_photo(tmp_path, write_csv, catalog_row, make_jpeg):
    base = _hash(write_csv([catalog_row("H-1")]))
    assert base["photo_sha256"] == hashlib.sha256((tmp_path / "photo.jpg").read_bytes()).hexdigest()
    assert _hash(write_csv([catalog_row("H-1")], name="again.csv"))["content_hash"] == base["content_hash"]
    # Reordering the file or moving photos does not make the product look changed.
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "photo.jpg").write_bytes((tmp_path / "photo.jpg").read_bytes())
    reordered = write_csv([catalog_row("H-0"), catalog_row("H-1")], name="reordered.csv")
    row = [r for r in load_catalog(reordered, photo_root=moved).table.to_pylist() if r["sku"] == "H-1"][0]
    assert (row["source_row"], row["content_hash"]) == (3, base["content_hash"])
    # Same price written differently is the same price.
    assert _hash(write_csv([catalog_row("H-1", price="129")], name="p.csv"))["content_hash"] == base["content_hash"]

    for field, value in [("name", "Other"), ("price", "130"), ("selling_points", "亲肤"), ("color", "Red"),
                         ("category", "beauty")]:
        changed = _hash(write_csv([catalog_row("H-1", **{field: value})], name=f"{field}.csv"))
        assert changed["content_hash"] != base["content_hash"], field

    (tmp_path / "photo.jpg").write_bytes(make_jpeg(color=(40, 40, 200)))
    recoloured = _hash(write_csv([catalog_row("H-1")], name="new_photo.csv"))
    assert recoloured["photo_sha256"] != base["photo_sha256"]
    assert recoloured["content_hash"] != base["content_hash"]


def test_leftover_columns_count(write_csv, catalog_row):
    first = _hash(write_csv([catalog_row("H-2", season="AW25")]))
    second = _hash(write_csv([catalog_row("H-2", season="SS26")], name="b.csv"))
    assert first["content_hash"] != second["content_hash"]
