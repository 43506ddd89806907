"""Longest files first. CI runs the suite on 2 xdist workers with `--dist loadfile` (a file's module fixtures, such
as a running Dagster instance, stay on one worker), handing files out in collection order; the few end-to-end
files take most of the time, and collected last (tests/e2e sorts after tests/dagster) they ran side by side at the
end while the other worker idled. Starting them first lets the short files fill in around them."""

# Seconds each took on the 2-core CI machine (pytest --durations), longest first; the order is what matters.
SLOW_FILES = (
    "tests/e2e/test_fleet.py",  # ~710 s: Redis, PostgreSQL, moto, webserver, daemon, two Celery workers
    "tests/bench/test_bench_celery_fleet.py",  # the same deployment again, two timed backfills (485 s at 4 SKUs)
    "tests/e2e/test_real_instance.py",  # ~330 s
    "tests/e2e/test_review_desk_browser.py",
    "tests/e2e/test_review_publish_now.py",
    "tests/e2e/test_ui_browser.py",
    "tests/bench/test_bench_fleet.py",
    "tests/bench/test_bench_demo.py",
    "tests/bench/test_bench_orchestration.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {path: n for n, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_FILES)))  # stable: files stay whole
