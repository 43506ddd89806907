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


def prepare_promotion(defs, instance, promotion: str, skus: list[str] | None = None) -> tuple[str, str]:
    """Sync the catalog, render the promotion's prompts and cut out `skus` (default: every SKU), asserting
    each succeeded; returns the promotion x sku range to run the per-SKU stages over."""
    from orchestration.demo import run_stage
    from orchestration.partitions import SKUS, promotion_range

    assert run_stage(defs, "catalog_sync", instance).success
    skus = skus or instance.get_dynamic_partitions(SKUS)
    assert run_stage(defs, "promotion_prompts", instance, partition_key=promotion).success
    assert run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1]).success
    return promotion_range(instance, promotion, skus)
