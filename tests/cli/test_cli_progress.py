"""Progress a person can watch: the step's progress line (keys done of total, images per second, time left), what
`skustudio backfill --wait` reads of it, and the demo's line where no bar can show."""
from types import SimpleNamespace

from assets.partition_loop import Progress
from orchestration.cli.backfill import parse_progress, per_sku_counts
from orchestration.cli.demo import KeysBar
from orchestration.graphql_client import BackfillStatus


def test_progress_line_says_done_of_total_rate_and_time_left():
    p = Progress(total=30, unit="SKUs")
    assert "0/30 SKUs done" in p.line() and "time left not known yet" in p.line()
    p.started -= 20.0
    p.done, p.failed, p.images = 10, 1, 150
    line = p.line()
    assert "10/30 SKUs done (1 failed)" in line and "150 images" in line
    assert parse_progress(line) == {"images/s": f"{150 / p.elapsed_s:.2f}", "left": "40s"}
    p.done = 30
    assert "left" not in p.line()


def test_backfill_bar_counts_skus_of_the_last_per_sku_stage():
    counts = lambda t, m, f: {"targeted": t, "in_progress": 0, "materialized": m, "failed": f}  # noqa: E731
    status = BackfillStatus(id="b", status="REQUESTED", error=None, assets={
        "product_cutouts": counts(30, 30, 0), "generated_images": counts(30, 20, 1), "cdn_publish": counts(30, 12, 1)})
    assert per_sku_counts(status) == (13, 30)


def test_demo_prints_the_progress_line_where_no_bar_shows(capsys):
    bar = KeysBar(SimpleNamespace(quiet=False))  # not a terminal under pytest: the bar is off
    p = Progress(total=2, unit="SKUs")
    bar.update(p)
    p.done, p.images = 2, 30
    bar.update(p)
    bar.close()
    out = capsys.readouterr().out
    assert "2/2 SKUs done" in out and "images/s" in out
