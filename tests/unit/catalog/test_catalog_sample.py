import csv
from pathlib import Path

from skucore.catalog.loader import load_catalog
from skucore.catalog.sample import build_synthetic_catalog, sample_catalog_path


def test_shipped_sample_loads_clean():
    path = sample_catalog_path()
    load = load_catalog(path)
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()
    assert load.table.num_rows == 30
    rows = load.table.to_pylist()
    assert {r["category"] for r in rows} == {"fashion", "home_decor", "default"}
    assert all(r["currency"] == "CNY" and r["price"] > 0 for r in rows)
    assert all(" / " in r["name"] and any("\u4e00" <= ch <= "\u9fff" for ch in r["name"]) for r in rows)
    assert all(2 <= len(r["selling_points"]) <= 3 for r in rows)
    assert len({r["photo_sha256"] for r in rows}) == 30  # every packshot used once
    # The licence travels with the photos (BSD-3 asks for it).
    assert (path.parent / "packshots" / "LICENSE.md").is_file()
    assert len(list((path.parent / "packshots").glob("*.jpg"))) == 30


def test_synthetic_catalog_is_deterministic_and_loads(tmp_path):
    first = build_synthetic_catalog(75, tmp_path / "a", seed=3)
    second = build_synthetic_catalog(75, tmp_path / "b", seed=3)
    assert first.read_bytes() == second.read_bytes()
    assert build_synthetic_catalog(75, tmp_path / "c", seed=4).read_bytes() != first.read_bytes()
    with first.open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 75
    load = load_catalog(first)
    assert load.rejects.num_rows == 0 and load.table.num_rows == 75
    assert load.stats["photos_validated"] == 30
    assert all(Path(p).is_absolute() for p in load.table.column("image").to_pylist())
