"""Benchmark: the review desk's queue page, server time (the desk's own Server-Timing header: database queries and
template rendering, no network or browser), with 1,000 and 10,000 images awaiting a decision.

    python bench/bench_review_desk.py [--sizes 1000 10000] [--requests 20] [--db-url postgresql://...] [--tiny]

The queue holds B images of 3 promotions x 5 platforms x 3 scenes, each with two superseded earlier attempts and
one decided image per ten (what a real queue carries along). Pages are fetched over HTTP from uvicorn on loopback,
signed in, as a reviewer's browser would; each figure is over --requests fetches after one warm-up.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.review_desk.config import DeskConfig  # noqa: E402
from resources.storage import StudioStore  # noqa: E402
from skucore.publish.review import ReviewQueue  # noqa: E402
from skucore.publish.review_schema import ITEMS, scene_of  # noqa: E402
from tests.helpers.review_desk import DeskClient, desk_in_thread  # noqa: E402

PROMOTIONS = ("double11", "spring", "618")
PLATFORMS = ("amazon_main", "taobao", "jd", "pinduoduo", "shopify")
ROLES = ("studio", "lifestyle", "detail")


def fill(queue: ReviewQueue, pending: int) -> None:
    """`pending` open B images, plus two superseded attempts each and decided ones (1 in 10), in one transaction."""
    now = "2025-11-01T00:00:00+00:00"
    rows = []
    for i in range(pending):
        promotion, platform, role = PROMOTIONS[i % 3], PLATFORMS[(i // 3) % 5], ROLES[(i // 15) % 3]
        sku = f"SKU-{i:06d}"
        for attempt in range(3):
            rows.append({
                "image_key": f"images/{promotion}/{sku}/{role}-{platform}-a{attempt}-{i:016x}.jpg", "kind": "review",
                "promotion": promotion, "sku": sku, "role": role, "platform": platform, "attempt": attempt,
                "scene": scene_of(promotion, sku, role, platform), "grade": "B", "sha256": f"{i:064x}",
                "reasons": json.dumps(["sharpness: failed value 80 vs >= 100", "score 0.85 < A threshold 0.9"]),
                "failed_metrics": json.dumps(["sharpness"] if i % 2 else ["exposure", "near_duplicate"]),
                "enqueued_at": now, "updated_at": now, "superseded": attempt < 2, "awaiting": attempt == 2, "version": 0,
                "decision": None, "decided_sha256": None, "reviewer": None, "decided_at": None,
            })
        if i % 10 == 0:
            rows.append({**rows[-1], "image_key": rows[-1]["image_key"] + ".decided.jpg", "decision": "approve",
                         "awaiting": False,
                         "decided_sha256": rows[-1]["sha256"], "reviewer": "bench", "decided_at": now,
                         "scene": rows[-1]["scene"] + "|d"})
    with queue.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(ITEMS.insert(), rows[start:start + 5000])


def server_ms(response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def measure(db: str, store_root: str, pending: int, n_requests: int) -> dict:
    queue = ReviewQueue(db)
    started = time.perf_counter()
    fill(queue, pending)
    fill_s = time.perf_counter() - started
    assert queue.count_pending() == pending, queue.count_pending()
    config = DeskConfig(queue=queue, store=StudioStore(root=store_root))
    out = {"pending": pending, "fill_s": round(fill_s, 2)}
    with desk_in_thread(config) as url:
        client = DeskClient(url, "bench")
        for name, path in (("queue, all", "/queue"), ("queue, one promotion", "/queue?promotion=double11"),
                           ("queue, filtered", "/queue?promotion=double11&platform=taobao&reason=sharpness"),
                           ("queue, last page", f"/queue?promotion=spring&page={max(1, pending // 3 // 48)}")):
            first = client.get(path)
            assert first.status_code == 200 and "awaiting review" in first.text, first.status_code
            times = [server_ms(client.get(path)) for _ in range(n_requests)]
            out[name] = {"median_ms": round(statistics.median(times), 1),
                         "p95_ms": round(sorted(times)[max(0, int(len(times) * 0.95) - 1)], 1)}
        item = queue.pending(limit=1)[0]["id"]
        times = [server_ms(client.get(f"/item/{item}?promotion=double11")) for _ in range(max(3, n_requests // 4))]
        out["detail page (no store tables)"] = {"median_ms": round(statistics.median(times), 1)}
    queue.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="pending images per run")
    parser.add_argument("--requests", type=int, default=20, help="fetches per page and size (after one warm-up)")
    parser.add_argument("--db-url", default=None,
                        help="an empty PostgreSQL database URL to run on (default: a SQLite file in a temp folder)")
    parser.add_argument("--tiny", action="store_true", help="a small, quick run (CI): sizes 100 and 300, 3 requests")
    args = parser.parse_args(argv)
    sizes, n_requests = ([100, 300], 3) if args.tiny else (args.sizes, args.requests)
    print(f"review desk: queue page server time (Server-Timing), {n_requests} requests per figure, "
          f"{'PostgreSQL' if args.db_url else 'SQLite'}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            if args.db_url:
                from sqlalchemy import create_engine, text

                with create_engine(args.db_url.replace("postgresql://", "postgresql+psycopg2://")).begin() as conn:
                    conn.execute(text("DROP TABLE IF EXISTS review_items, review_audit"))
            db = args.db_url or str(Path(tmp) / f"queue-{size}.sqlite")
            result = measure(db, str(Path(tmp) / "store"), size, n_requests)
            print(f"{size:>7,} pending (+{2 * size:,} superseded attempts; queue filled in {result['fill_s']} s):")
            for name, figures in result.items():
                if isinstance(figures, dict):
                    extra = f", p95 {figures['p95_ms']:>6.1f} ms" if "p95_ms" in figures else ""
                    print(f"  {name:<32} median {figures['median_ms']:>6.1f} ms{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
