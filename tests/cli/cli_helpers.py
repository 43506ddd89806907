"""Helpers for the `skustudio` command-line tests (a uniquely named module: `conftest` is ambiguous)."""
import csv
import re
import shutil
from pathlib import Path

from skucore.sample_catalog import sample_catalog_path

ROOT = Path(__file__).resolve().parents[2]


def write_small_catalog(folder: Path, n: int) -> Path:
    """The first `n` rows of the sample catalog, with their photos, in `folder` (as tests/dagster/conftest.py)."""
    src = sample_catalog_path()
    folder.mkdir(parents=True, exist_ok=True)
    with open(src, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for _, r in zip(range(n), reader)]
        fields = reader.fieldnames
    for r in rows:
        photo = Path(r["image"])
        photo_src = photo if photo.is_absolute() else src.parent / photo
        dst = folder / "photos" / photo_src.name
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(photo_src, dst)
        r["image"] = f"photos/{photo_src.name}"
    out = folder / "catalog.csv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def write_promotions(folder: Path, platforms=("shopify",)) -> Path:
    """promotions/double11.yaml with fewer platforms: the same stages, fewer images, a faster test."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "promotions" / "double11.yaml").read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^platforms:.*$", f"platforms: [{', '.join(platforms)}]", text)
    assert count == 1
    (folder / "double11.yaml").write_text(text, encoding="utf-8")
    return folder
