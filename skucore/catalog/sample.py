"""The shipped sample catalog (30 real packshots, BSD-3 licensed, see data/samples/packshots/LICENSE.md) and a
synthetic catalog of any size built from it, for benchmarks and scale tests."""
from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from skucore.base.storage import atomic_write_text

_REPO_ROOT = Path(__file__).resolve().parents[2]


def sample_catalog_path() -> Path:
    """data/samples/catalog.csv of this checkout (the package is installed editable, so it sits beside skucore/)."""
    path = _REPO_ROOT / "data" / "samples" / "catalog.csv"
    if not path.is_file():
        raise FileNotFoundError(f"sample catalog not found at {path}; run from a checkout of SKU Studio")
    return path


def _sample_rows() -> list[dict[str, str]]:
    with sample_catalog_path().open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def build_synthetic_catalog(n_rows: int, out_dir: str | Path, *, seed: int = 0, photo_base: str | None = None,
                            distinct_urls: int | None = None) -> Path:
    """Write `out_dir`/catalog_<n_rows>.csv: n rows cycling over the sample products with unique SKUs, varied
    prices in mixed formats, and absolute paths to the sample packshots (photos repeat, as variants' do).
    With `photo_base` (a photo server's base URL) the photos are URLs `<photo_base>/p/<k>/<packshot name>`, with
    `distinct_urls` different k (default: one URL per row). The same arguments give the same bytes."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    samples = _sample_rows()
    photo_dir = sample_catalog_path().parent
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, str]] = []
    for i in range(n_rows):
        base = samples[i % len(samples)]
        price = rng.randint(19, 1999) + rng.choice((0, 0.5, 0.99))
        price_text = rng.choice((f"¥{price:,.2f}", f"{price:g}", f"RMB {price:.2f}"))
        lines.append({
            **base,
            "sku": f"{base['sku']}-{i:06d}",
            "price": price_text,
            "image": str((photo_dir / base["image"]).resolve()) if photo_base is None else
            f"{photo_base.rstrip('/')}/p/{i % (distinct_urls or n_rows)}/{Path(base['image']).name}",
        })
    return atomic_write_text(out_dir / f"catalog_{n_rows}.csv", _to_csv(lines))


def _to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
