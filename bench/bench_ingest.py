"""Benchmark catalog ingestion: build a synthetic catalog and time `load_catalog`, photo validation included.

    python bench/bench_ingest.py [--rows 10000] [--repeat 3]

The synthetic catalog reuses the 30 sample packshots, so photos repeat (as they do across a real catalog's
variants) and each distinct photo is validated once per load. The per-photo figure printed last gives the cost of
a catalog whose photos are all distinct: rows x that figure on top of the parsing time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from skucore.catalog.loader import load_catalog
from skucore.catalog.photos import validate_photo
from skucore.catalog.sample import build_synthetic_catalog, sample_catalog_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        started = time.perf_counter()
        path = build_synthetic_catalog(args.rows, tmp)
        print(f"built {args.rows} rows in {time.perf_counter() - started:.2f} s ({path.stat().st_size / 1e6:.1f} MB)")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            load = load_catalog(path)
            times.append(time.perf_counter() - started)
        assert load.table.num_rows == args.rows and load.rejects.num_rows == 0, load.stats
        best, median = min(times), statistics.median(times)
        print(f"load_catalog: {args.rows} rows, best {best:.3f} s, median {median:.3f} s "
              f"-> {args.rows / median:,.0f} rows/s (median); "
              f"{load.stats['photos_validated']} photos validated, {load.stats['photo_cache_hits']} cache hits")

    photos = sorted((sample_catalog_path().parent / "packshots").glob("*.jpg"))
    started = time.perf_counter()
    for photo in photos:
        reason, _, _ = validate_photo(photo.read_bytes(), min_side=400, max_pixels=40_000_000)
        assert reason is None, (photo, reason)
    per_photo = (time.perf_counter() - started) / len(photos)
    print(f"validate_photo (read + full decode, 1200x1200 JPEG): {per_photo * 1000:.1f} ms per distinct photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
