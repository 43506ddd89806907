"""Benchmark catalog ingestion: a synthetic catalog whose photos are URLs on a loopback HTTP server, synced twice
(the second sync, as every night, downloads nothing: ETag revalidation), and the same catalog with local photos.

    python bench/bench_ingest.py [--rows 10000] [--distinct-urls N] [--workers 16] [--per-host-limit 4]
    python bench/bench_ingest.py --tiny     # 60 rows: what tests/bench/test_bench_ingest.py runs

The photos are the 30 sample packshots (1200x1200 JPEGs, about 60-200 KB), each row with its own URL by default,
so the first sync downloads one photo per row and validates each distinct photo once (by content hash). The server
is Python's ThreadingHTTPServer in this process: on a small machine it, not the fetcher, is the bottleneck. Prints
figures; asserts only what the numbers mean (every row accepted, zero bytes on the second sync).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from skucore.catalog.address_policy import AddressPolicy  # noqa: E402
from skucore.catalog.blob_cache import LocalFolderCache  # noqa: E402
from skucore.catalog.loader import load_catalog  # noqa: E402
from skucore.catalog.photo_fetch import FetchSettings, PhotoFetcher  # noqa: E402
from skucore.catalog.photos import validate_photo  # noqa: E402
from skucore.catalog.sample import build_synthetic_catalog, sample_catalog_path  # noqa: E402
from tests.helpers.photo_server import PhotoServer  # noqa: E402  (the loopback server the tests use)


def sync(path: Path, cache: LocalFolderCache, settings: FetchSettings, workers: int) -> tuple[float, dict, int]:
    fetcher = PhotoFetcher(cache, settings)
    started = time.perf_counter()
    load = load_catalog(path, fetcher=fetcher, photo_fetch_workers=workers)
    seconds = time.perf_counter() - started
    fetcher.close()
    assert load.rejects.num_rows == 0, load.rejects.to_pylist()[:3]
    return seconds, load.stats, load.table.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--distinct-urls", type=int, default=None, help="different photo URLs (default: one per row)")
    parser.add_argument("--workers", type=int, default=16, help="fetch threads")
    parser.add_argument("--per-host-limit", type=int, default=4, help="concurrent requests to one host")
    parser.add_argument("--repeat", type=int, default=1, help="repeats of the local-photo ingestion")
    parser.add_argument("--tiny", action="store_true", help="60 rows, for CI")
    args = parser.parse_args(argv)
    rows = 60 if args.tiny else args.rows
    packshots = sample_catalog_path().parent / "packshots"
    settings = FetchSettings(per_host_limit=args.per_host_limit,
                             policy=AddressPolicy(allowed_networks=("127.0.0.0/8",)))

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp, PhotoServer(folder=packshots) as server:
        tmp = Path(tmp)
        path = build_synthetic_catalog(rows, tmp / "urls", photo_base=server.base_url,
                                       distinct_urls=args.distinct_urls)
        cache = LocalFolderCache(tmp / "photo-cache")
        print(f"{rows} rows, photos by URL on {server.base_url} ({args.distinct_urls or rows} distinct URLs), "
              f"{args.workers} fetch threads, {args.per_host_limit} per host")
        first_s, first, accepted = sync(path, cache, settings, args.workers)
        fetch = first["photo_fetch"]
        print(f"first sync:  {first_s:7.2f} s  {rows / first_s:8,.0f} rows/s  {fetch['downloaded']} downloaded, "
              f"{fetch['bytes_downloaded'] / 1e6:,.1f} MB ({fetch['bytes_downloaded'] / 1e6 / first_s:,.1f} MB/s), "
              f"{first['photos_validated']} distinct photos decoded")
        sent = server.bytes_sent
        second_s, second, accepted_again = sync(path, cache, settings, args.workers)
        fetch = second["photo_fetch"]
        print(f"second sync: {second_s:7.2f} s  {rows / second_s:8,.0f} rows/s  {fetch['revalidated']} unchanged "
              f"(304), {fetch['downloaded']} downloaded, {fetch['bytes_downloaded']} bytes downloaded "
              f"({server.bytes_sent - sent} body bytes sent by the server)")
        assert accepted == accepted_again == rows
        assert fetch["bytes_downloaded"] == 0 and fetch["downloaded"] == 0 and server.bytes_sent == sent

        local = build_synthetic_catalog(rows, tmp / "local")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            load = load_catalog(local)
            times.append(time.perf_counter() - started)
        assert load.table.num_rows == rows and load.rejects.num_rows == 0
        median = statistics.median(times)
        print(f"local photos: {median:7.2f} s  {rows / median:8,.0f} rows/s (median of {args.repeat}); "
              f"{load.stats['photos_validated']} photos decoded, {load.stats['photo_cache_hits']} cache hits")

    photos = sorted(packshots.glob("*.jpg"))[: 5 if args.tiny else None]
    started = time.perf_counter()
    for photo in photos:
        check = validate_photo(photo.read_bytes(), min_side=400, max_pixels=40_000_000)
        assert check.reason is None, (photo, check)
    per_photo = (time.perf_counter() - started) / len(photos)
    print(f"validate_photo (decode as a person sees it, 1200x1200 JPEG): {per_photo * 1000:.1f} ms per distinct photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
