"""Helpers shared by the test folders."""
import csv
import shutil
from pathlib import Path

from skucore.sample_catalog import sample_catalog_path


def write_small_catalog(folder: Path, n: int) -> Path:
    """The first `n` rows of the sample catalog, with their photos, in `folder`."""
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
