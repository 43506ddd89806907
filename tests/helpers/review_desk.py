"""Helpers for the review desk tests: a real pipeline run whose grading leaves B images in the queue, the desk
served by uvicorn on loopback (in a thread, or as `skustudio review serve` in a subprocess), and a signed-in HTTP
session that reads CSRF tokens from the pages as a browser would."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers.cli import write_promotions, write_small_catalog
from tests.helpers.dagster_e2e import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMOTION = "double11"
# An A needs every metric to pass at this bar: images that fail one light metric (a near duplicate) become B's,
# and the rest stay A's: a queue to review and published A's to spot-check, from one real run. Which images are
# near duplicates must not depend on which SKU a worker happened to score first, so every SKU after the first
# shows the first one's photo (variant rows of a real catalog often share one): whichever SKU is scored first
# keeps its A's, each of the others gets a B per scene.
A_THRESHOLD = 0.95
DESK_PUBLIC_URL = "https://review.example.com"  # where the run's Dagster metadata links (SKUSTUDIO_REVIEW_URL)


@dataclass
class ReviewedRun:
    home: Path
    catalog: Path
    promotions: Path
    env: dict  # the environment the run used (SKUSTUDIO_HOME, DAGSTER_HOME, catalog, promotions)

    def resources(self) -> dict:
        from orchestration.resources import local_resources
        from resources.quality import GradingSettings

        res = local_resources(home=str(self.home), catalog=str(self.catalog))
        res["grading"] = GradingSettings(review_db=str(self.home / "review" / "queue.sqlite"), a_threshold=A_THRESHOLD)
        return res

    def defs(self):
        from orchestration.definitions import build_definitions

        return build_definitions(self.resources())


def run_pipeline_with_b_images(folder: Path, n_skus: int = 3, platforms=("shopify", "taobao")) -> ReviewedRun:
    """Every stage of the demo (catalog sync, prompts, cutouts, images, grading, publish, manifest) on the first
    `n_skus` sample SKUs, graded at A_THRESHOLD. The process environment is left as it was."""
    from orchestration.demo import run_demo

    catalog = write_small_catalog(folder / "catalog", n_skus)
    _share_first_photo(catalog)
    promotions = write_promotions(folder / "promotions", platforms=platforms)
    home = folder / "home"
    env = {"SKUSTUDIO_ENV": "local", "SKUSTUDIO_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
           "SKUSTUDIO_CATALOG": str(catalog), "SKUSTUDIO_PROMOTIONS": str(promotions),
           "SKUSTUDIO_REVIEW_URL": DESK_PUBLIC_URL}
    run = ReviewedRun(home, catalog, promotions, env)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        summary = run_demo(limit=n_skus, home=home, echo=lambda *_: None, defs=run.defs())
        assert all(s.success for s in summary["stages"]), summary["stages"]
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return run


def _share_first_photo(catalog: Path) -> None:
    import csv

    with open(catalog, encoding="utf-8", newline="") as fh:
        photos = [catalog.parent / row["image"] for row in csv.DictReader(fh)]
    for photo in photos[1:]:
        photo.write_bytes(photos[0].read_bytes())


def republish(run: ReviewedRun, skus: list[str], assets=("cdn_publish",)) -> None:
    """Run `assets` of the per-SKU step for `skus`, then the promotion's manifest (what cdn_publish's next run
    or "publish now" does), in-process on the run's instance."""
    import dagster as dg

    from orchestration.demo import run_stage

    saved = {k: os.environ.get(k) for k in run.env}
    os.environ.update(run.env)
    try:
        defs = run.defs()
        instance = dg.DagsterInstance.get()
        job = defs.resolve_job_def("promotion_images")
        for sku in skus:
            result = job.execute_in_process(instance=instance, partition_key=f"{PROMOTION}|{sku}",
                                            asset_selection=[dg.AssetKey(a) for a in assets], raise_on_error=False)
            assert result.success, f"{assets} failed for {sku}"
        assert run_stage(defs, "promotion_manifest", instance, partition_key=PROMOTION).success
        instance.dispose()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def manifest_entries(run: ReviewedRun) -> list[dict]:
    import json

    path = run.home / "cdn" / "promotions" / PROMOTION / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))["entries"]


@contextmanager
def desk_in_thread(config):
    """`create_app(config)` served by uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    import uvicorn

    from orchestration.review_desk.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def desk_process(run: ReviewedRun, *extra: str, env: dict | None = None):
    """`skustudio review serve` for the run's home in a subprocess; yields (base URL, process)."""
    port = free_port()
    full_env = {**os.environ, **run.env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    log = run.home / f"desk-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "review", "serve", "--home", str(run.home),
                                 "--port", str(port), *extra], env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(url: str, proc=None, log: Path | None = None, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the desk exited with {proc.returncode}: {log.read_text() if log else ''}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the desk at {url} did not answer within {timeout_s}s")


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class DeskClient:
    """A signed-in session against a running desk (cookies kept; CSRF tokens read from the pages)."""

    def __init__(self, url: str, name: str = "tester", password: str | None = None):
        self.url, self.http = url, requests.Session()
        page = self.http.get(f"{url}/login", timeout=30)
        form = {"csrf": csrf_of(page.text), "name": name, "next": "/queue"}
        if password is not None:
            form["password"] = password
        self.last = self.http.post(f"{url}/login", data=form, timeout=30)

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(f"{self.url}{path}", timeout=60, **kw)

    def post(self, path: str, data: dict, *, csrf_from: str = "/queue", **kw) -> requests.Response:
        """POST `data` with the CSRF token of the page at `csrf_from` (pass csrf_from=None to send none)."""
        if csrf_from is not None:
            data = {"csrf": csrf_of(self.get(csrf_from).text), **data}
        return self.http.post(f"{self.url}{path}", data=data, timeout=60, **kw)


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def cjk_fontconfig(folder: Path) -> Path:
    """A fontconfig file adding the Noto Sans CJK font the project installs as a wheel, so headless Chromium
    draws the catalog's Chinese text in screenshots (FONTCONFIG_FILE=<this> in Chromium's environment)."""
    import noto_cjk_sans_otc

    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{Path(noto_cjk_sans_otc.__file__).parent}</dir>\n"
        f"  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n", encoding="utf-8")
    return conf
