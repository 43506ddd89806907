"""A look at the Dagster UI of the e2e instance in headless Chromium (Debian's `chromium` package, driven by
Playwright): the asset graph shows our assets, and the partitions pages show the promotion. Screenshots are kept
under artifacts/ui/ (git-ignored) as the test's artifacts."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers.dagster_e2e import PROMOTION, REPO_ROOT, log

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("SKUSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "artifacts" / "ui"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def synced_instance(dagster_instance):
    """The shared instance with the SKUs and the promotion registered (runs the sync if no step did yet)."""
    inst = dagster_instance
    if PROMOTION not in inst.partition_keys("prompt_table"):
        run_id = inst.launch_job("catalog_sync")
        assert inst.wait_for_run(run_id, timeout=600) == "SUCCESS", inst.run_messages(run_id)[-20:]
    assert PROMOTION in inst.partition_keys("prompt_table")
    # The UI greets a new loopback instance with a "Join the Dagster community" dialog a second after a page
    # loads; its Skip button calls this mutation, so the screenshots show the pages, not the dialog.
    assert inst.gql("mutation { setNuxSeen }")["setNuxSeen"] is True
    return inst


@pytest.fixture(scope="session")
def page():
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the browser test needs Debian's chromium package "
            "(apt-get install -y chromium), or SKUSTUDIO_CHROMIUM pointing at a Chromium binary",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            yield pg
            if errors:
                log(f"page errors seen (not failing the test): {errors[:5]}")
        finally:
            browser.close()


def _dismiss_onboarding(pg) -> None:
    """Should the community dialog show anyway (see synced_instance), skip it."""
    skip = pg.get_by_role("button", name="Skip")
    if skip.count() and skip.first.is_visible():
        skip.first.click()
        skip.first.wait_for(state="hidden", timeout=10_000)


def _shot(pg, name: str) -> Path:
    pg.wait_for_timeout(1500)  # let the graph finish its layout (and any dialog its 1 s timer) first
    _dismiss_onboarding(pg)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=False)
    log(f"screenshot {path}")
    return path


def _open(pg, url: str) -> None:
    log(f"open {url}")
    pg.goto(url, wait_until="domcontentloaded")


def _visible(pg, text) -> None:
    pg.get_by_text(text, exact=True).first.wait_for(state="visible") if isinstance(text, str) else (
        pg.get_by_text(text).first.wait_for(state="visible")
    )


ASSETS = ("catalog_table", "product_cutouts", "prompt_table", "generated_images", "quality_scores", "graded_sets",
          "cdn_publish", "cdn_manifest")


def test_asset_graph_shows_our_assets(page, synced_instance):  # page first: a missing browser fails fast
    # The lineage of the promotion's manifest, all the way up: every asset of the pipeline is a node.
    _open(page, f"{synced_instance.url}/assets/cdn_manifest?view=lineage&lineageScope=upstream&lineageDepth=10")
    for name in ASSETS:
        _visible(page, name)
    for group in ("catalog", "imaging", "prompts", "promotion", "publish"):
        _visible(page, group)
    assert _shot(page, "asset_graph").stat().st_size > 10_000

    # The promotion group's own graph: the per-SKU stages with their partition fill.
    _open(page, f"{synced_instance.url}/locations/sku_studio/asset-groups/promotion")
    for name in ("generated_images", "quality_scores", "graded_sets", "cdn_publish"):
        _visible(page, name)
    _visible(page, re.compile(r"\d+ partitions"))
    assert _shot(page, "promotion_group").stat().st_size > 10_000


def test_promotion_partitions_are_visible(page, synced_instance):
    _open(page, f"{synced_instance.url}/assets/prompt_table?view=partitions")
    _visible(page, PROMOTION)
    assert _shot(page, "prompt_table_partitions").stat().st_size > 10_000

    _open(page, f"{synced_instance.url}/assets/generated_images?view=partitions")
    # promotion x sku: the promotion dimension lists double11, the sku dimension the catalog's SKUs.
    _visible(page, PROMOTION)
    for sku in sorted(synced_instance.partition_keys("product_cutouts")):
        _visible(page, sku)
    assert _shot(page, "generated_images_partitions").stat().st_size > 10_000
