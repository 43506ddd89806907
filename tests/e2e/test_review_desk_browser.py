"""The review desk in headless Chromium, over a real pipeline run whose grading left B images in the queue:
a reviewer signs in, opens the queue, approves one image with the keyboard, rejects one with a reason, approves two
at once, undoes one; cdn_publish then publishes exactly the A's and the approved B's. A spot check draws published
A's; one rejected there leaves the manifest at the next refresh, and the next graded_sets regenerates it with the
reason's prompt adjustment. Screenshots of the queue and the detail page are kept under artifacts/review/."""
from __future__ import annotations

import json
import re

import pytest

from skucore import tables as T
from skucore.prompting.prompts import adjust_prompt
from skucore.prompting.review_reasons import REVIEW_ADJUSTMENTS, adjustment_key
from skucore.publish.review import ReviewQueue
from tests.helpers.browser import chromium_page, images_loaded
from tests.helpers.dagster_e2e import REPO_ROOT, log
from tests.helpers.review_desk import (DESK_PUBLIC_URL, PROMOTION, cjk_fontconfig, desk_process, manifest_entries,
                                       republish, run_pipeline_with_b_images)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTIFACTS = REPO_ROOT / "artifacts" / "review"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Every stage of the demo on 3 sample SKUs (one platform): some images grade B, the rest A."""
    run = run_pipeline_with_b_images(tmp_path_factory.mktemp("review_desk"), n_skus=3, platforms=("shopify",))
    queue = ReviewQueue(run.home / "review" / "queue.sqlite")
    pending = queue.pending(PROMOTION)
    log(f"pipeline run: {len(pending)} B images queued")
    assert len(pending) >= 4, "the run must leave at least four B images to review"
    return run


@pytest.fixture(scope="module")
def desk(run):
    with desk_process(run) as (url, _proc):
        yield url


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    fonts = cjk_fontconfig(tmp_path_factory.mktemp("fonts"))
    with chromium_page(env={"FONTCONFIG_FILE": str(fonts)}) as (page, errors):
        yield page
        assert not errors, f"page errors: {errors[:5]}"


def _queue(run) -> ReviewQueue:
    return ReviewQueue(run.home / "review" / "queue.sqlite")


def _item_id(page) -> int:
    m = re.search(r"/item/(\d+)", page.url)
    assert m, page.url
    return int(m.group(1))


def _flash(page, text: str) -> None:
    page.locator(".flash", has_text=text).first.wait_for(state="visible")


def _shot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 20_000
    log(f"screenshot {path}")


def _skus(run) -> list[str]:
    prefix = f"tables/graded/{PROMOTION}/"
    keys = run.defs().resources["store"].list_keys(prefix)
    return sorted(k[len(prefix):-len(".parquet")] for k in keys if not k.endswith(".attempts.parquet"))


def _published_slots(run, skus) -> dict[tuple, str]:
    """(sku, role, platform) -> sha256 of what the graded tables say may publish (A's, approved B's)."""
    out = {}
    for sku in skus:
        for r in run.defs().resources["store"].read_table(T.graded(PROMOTION, sku)).to_pylist():
            if r["publishable"]:
                out[(sku, r["role"], r["platform"])] = r["sha256"]
    return out


def test_reviewer_decides_with_keyboard_reason_bulk_and_undo_then_publish(run, desk, browser_page):
    page, queue = browser_page, _queue(run)
    b_images = {p["id"]: p for p in queue.pending(PROMOTION)}

    page.goto(f"{desk}/queue?promotion={PROMOTION}")
    page.fill("#name", "Mei Lin")  # loopback desk: the reviewer gives a name, recorded with every decision
    page.click("text=Start reviewing")
    page.wait_for_selector(".grid")
    assert page.locator("#reviewer-name").inner_text() == "Mei Lin"
    assert page.locator(".grid .card").count() == len(b_images)
    assert page.locator(f"[data-count='{PROMOTION}']").inner_text() == str(len(b_images))
    assert images_loaded(page, ".grid img"), "every thumbnail loads"
    _shot(page, "queue")

    # One image, fully explained.
    page.locator("[data-open]").first.click()
    page.wait_for_selector("#metrics")
    first = _item_id(page)
    assert images_loaded(page, "#full-image, #source-image, #cutout-image"), "image, source photo and cutout load"
    statuses = page.locator("#metrics tbody tr td:nth-child(2)").all_inner_texts()
    assert statuses[0] in ("fail", "error") and "pass" in statuses, statuses  # failed metrics first
    assert page.locator("#lineage").inner_text().count("template_id") == 1
    assert page.locator("#text-check").is_visible()
    _shot(page, "detail", full_page=True)

    # a: approve; the desk moves on to the next image of the queue.
    page.keyboard.press("a")
    _flash(page, f"#{first} approved")
    second = _item_id(page)
    assert second != first

    # r: reject, with a reason from the list and a note; Enter in the note sends it.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reject-reason"
    page.select_option("#reject-reason", "lighting")
    page.fill("#reject-note", "too dark for the campaign")
    page.press("#reject-note", "Enter")
    _flash(page, f"#{second} rejected")

    # Bulk: tick the two images left and approve them at once.
    page.goto(f"{desk}/queue?promotion={PROMOTION}")
    boxes = page.locator("input[name=pick]")
    assert boxes.count() == len(b_images) - 2
    picked = [int(v.split(":")[0]) for v in boxes.evaluate_all("els => els.slice(0, 2).map(e => e.value)")]
    for i in range(2):
        boxes.nth(i).check()
    assert page.locator("#picked").inner_text() == "2"
    page.click("#bulk-approve")
    _flash(page, "approved 2 image(s)")

    # u: undo my last decision (the second of the bulk approval): it is pending again.
    page.keyboard.press("u")
    _flash(page, "your decision was undone")
    assert _item_id(page) == picked[1]

    decided = {d["image_key"]: d for d in queue.export_decisions(PROMOTION)}
    key = {i: b_images[i]["image_key"] for i in b_images}
    assert decided[key[first]]["decision"] == "approve" and decided[key[first]]["reviewer"] == "Mei Lin"
    assert decided[key[second]]["decision"] == "reject" and decided[key[second]]["reason"] == "lighting"
    assert decided[key[picked[0]]]["decision"] == "approve"
    assert key[picked[1]] not in decided
    page.goto(f"{desk}/audit?promotion={PROMOTION}")
    actions = page.locator("#audit tbody tr td:nth-child(4)").all_inner_texts()
    assert [a.split(" ")[0] for a in actions] == ["undo", "approve", "approve", "reject", "approve"]

    # cdn_publish (its next run) and the manifest: exactly the A's and the approved B's.
    skus = _skus(run)
    republish(run, skus)
    approved = {(b_images[i]["sku"], b_images[i]["role"], b_images[i]["platform"]) for i in (first, picked[0])}
    expected = _published_slots(run, skus)
    held = {(b["sku"], b["role"], b["platform"]) for b in b_images.values()} - approved
    assert approved <= set(expected) and not held & set(expected)
    entries = manifest_entries(run)
    got = {(e["sku"], e["role"], e["platform"]): e["sha256"] for e in entries if e["sku"] in skus}
    assert got == expected
    assert {e["grade"] for e in entries if (e["sku"], e["role"], e["platform"]) in approved} == {"B"}


def test_spot_check_rejection_takes_an_a_out_of_the_manifest_and_regenerates_it(run, desk, browser_page):
    page, queue = browser_page, _queue(run)
    page.goto(f"{desk}/spot-checks")
    if page.url.endswith("/login?next=/spot-checks"):  # run alone: sign in first
        page.fill("#name", "Mei Lin")
        page.click("text=Start reviewing")
    page.click(f"[data-draw='{PROMOTION}']")
    _flash(page, "for a spot check")
    spot = queue.pending(PROMOTION, kind="spot_check")
    assert spot and {s["grade"] for s in spot} == {"A"}
    strata = {(s["template_id"], s["platform"]) for s in spot}
    assert len(strata) == len(spot)  # the default share draws one per template x platform of this small run
    page.locator("[data-open]").first.click()
    page.wait_for_selector("#reject-reason")
    target = queue.get(_item_id(page))
    assert target["kind"] == "spot_check"
    assert (target["sku"], target["role"], target["platform"], target["sha256"]) in {
        (e["sku"], e["role"], e["platform"], e["sha256"]) for e in manifest_entries(run)}
    page.select_option("#reject-reason", "background")
    page.click("#reject")
    _flash(page, f"#{target['id']} rejected")

    # The next refresh (cdn_publish, then the manifest): the rejected A is no longer in the manifest.
    republish(run, [target["sku"]])
    assert target["sha256"] not in {e["sha256"] for e in manifest_entries(run)}
    slot = (target["role"], target["platform"])

    # The next graded_sets regenerates it with the reason's adjustment; the new image waits for a person.
    republish(run, [target["sku"]], assets=("graded_sets", "cdn_publish"))
    store = run.defs().resources["store"]
    final = next(r for r in store.read_table(T.graded(PROMOTION, target["sku"])).to_pylist()
                 if (r["role"], r["platform"]) == slot)
    assert final["attempt"] == target["attempt"] + 1 and final["grade"] == "B" and not final["publishable"]
    if final["raw_grade"] == "A":  # an A made to replace a rejected image still goes to a person
        assert any("reviewer's rejection (review:background)" in r for r in final["reasons"]), final["reasons"]
    assert final["image_key"] in {p["image_key"] for p in queue.pending(PROMOTION)}
    # It was made from the first prompt plus the reason's adjustment ("simple clean background, few props").
    base = next(p for p in store.read_table(T.prompts(PROMOTION)).to_pylist()
                if p["sku"] == target["sku"] and p["role"] == target["role"])
    adjusted = adjust_prompt({**base, "attempt": target["attempt"]}, [adjustment_key("background")],
                             target["attempt"] + 1, adjustments=REVIEW_ADJUSTMENTS)
    assert "simple clean background" in adjusted["prompt"]
    new = next(g for g in store.read_table(T.generated(PROMOTION, target["sku"])).to_pylist()
               if g["image_key"] == final["image_key"])
    assert json.loads(new["lineage"])["prompt_hash"] == adjusted["prompt_hash"]
    assert slot not in {(e["role"], e["platform"]) for e in manifest_entries(run) if e["sku"] == target["sku"]}


def test_graded_sets_metadata_links_each_sku_to_its_desk_page(run, desk):
    import dagster as dg
    import requests

    instance = dg.DagsterInstance.from_config(str(run.home / "dagster_home"))
    records = instance.fetch_materializations(dg.AssetKey("graded_sets"), limit=100).records
    links = {str(r.partition_key): r.asset_materialization.metadata["review_desk"].value for r in records}
    instance.dispose()
    assert links and all(link == f"{DESK_PUBLIC_URL}/sku/{PROMOTION}/{key.split('|')[1]}" for key, link in links.items())
    # The same path on this desk is the SKU's page (sign-in first, as for every page).
    sku = next(iter(links)).split("|")[1]
    page = requests.get(f"{desk}/sku/{PROMOTION}/{sku}", timeout=60)
    assert page.url.startswith(f"{desk}/login?next=/sku/{PROMOTION}/{sku}")
