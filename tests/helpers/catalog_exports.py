"""The catalog export fixtures (tests/fixtures/catalogs) ready to ingest: their photo URLs pointed at a loopback
PhotoServer, the settings each needs (the currency its format does not name, Magento's media prefix), and what
each row should become (`<name>.expected.json`)."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from tests.helpers.fixture_photos import MAGENTO_MEDIA_BASE, PHOTO_BASE, serve_fixture_photos
from tests.helpers.photo_server import PhotoServer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "catalogs"
PACKSHOTS = ROOT / "data" / "samples" / "packshots"
SLOW_S = 2.5          # the slow endpoint answers after this ...
READ_TIMEOUT_S = 1.0  # ... which is past the fetch read timeout the tests use (long enough for a loaded machine)
MAX_BYTES = 4_000_000
OVERSIZED = 6_000_000
# Environment for `skustudio sync` and CatalogSource: loopback allowed (refused by default), short timeouts.
FAST_FETCH_ENV = {
    "SKUSTUDIO_ALLOW_PHOTOS_FROM": "127.0.0.0/8",
    "SKUSTUDIO_PHOTO_CONNECT_TIMEOUT_S": "0.5", "SKUSTUDIO_PHOTO_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
    "SKUSTUDIO_PHOTO_TOTAL_TIMEOUT_S": "6", "SKUSTUDIO_PHOTO_RETRIES": "1",
    "SKUSTUDIO_PHOTO_MAX_BYTES": str(MAX_BYTES), "SKUSTUDIO_PHOTO_FETCH_WORKERS": "8",
}


@dataclass(frozen=True)
class Export:
    name: str
    file: str
    currency: str | None  # the catalog currency to configure (None: the file names its own)
    media_prefix: bool = False

    @property
    def expected(self) -> dict:
        return json.loads((FIXTURES / f"{self.name}.expected.json").read_text(encoding="utf-8"))

    def write(self, folder: Path, base_url: str) -> Path:
        """The export with its photos on `base_url`, written to `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.file
        path.write_bytes((FIXTURES / self.file).read_bytes().replace(PHOTO_BASE.encode(), base_url.encode()))
        return path

    def photo_root(self, base_url: str) -> str | None:
        return MAGENTO_MEDIA_BASE.replace(PHOTO_BASE, base_url) if self.media_prefix else None


EXPORTS = {e.name: e for e in [
    Export("shopify_current", "shopify_current.csv", "USD"),
    Export("shopify_classic", "shopify_classic.csv", "GBP"),
    Export("woocommerce", "woocommerce.csv", "SEK"),
    Export("magento2", "magento2.csv", "EUR", media_prefix=True),
    Export("merchant_center_rss", "merchant_center_rss.xml", None),
    Export("merchant_center_atom", "merchant_center_atom.xml", None),
    Export("merchant_center", "merchant_center.tsv", None),
    Export("google_retail", "google_retail.ndjson", None),
]}


@contextlib.contextmanager
def export_photo_server():
    """A loopback PhotoServer answering every fixture photo URL, hostile endpoints included."""
    with PhotoServer(folder=PACKSHOTS) as server:
        serve_fixture_photos(server, PACKSHOTS, slow_s=SLOW_S, oversized_bytes=OVERSIZED)
        yield server


def photo_name(uri: str) -> str:
    return unquote(uri.split("?", 1)[0].rsplit("/", 1)[-1])


def mismatches(export: Export, table_rows: list[dict], reject_rows: list[dict]) -> list[str]:
    """Where an ingestion differs from the fixture's expectations ([] when it matches, every row checked)."""
    expected = export.expected
    rows = {r["source_row"]: r for r in table_rows}
    rejects: dict[int, list[str]] = {}
    for r in reject_rows:
        rejects.setdefault(r["source_row"], []).append(r["reason"])
    problems = []
    for want in expected["records"]:
        got = rows.get(want["row"])
        if want["outcome"] != "accepted":
            reasons = rejects.get(want["row"], [])
            if not reasons or reasons[0] != want["outcome"]:
                problems.append(f"row {want['row']}: expected {want['outcome']}, got {reasons or 'accepted'}")
            continue
        if got is None:
            problems.append(f"row {want['row']} {want.get('sku')}: rejected {rejects.get(want['row'])}")
            continue
        checks = {"sku": got["sku"], "price": got["price"], "currency": got["currency"], "name": got["name"],
                  "category": got["source_category"], "color": got["color"], "image": photo_name(got["image"])}
        for key, value in checks.items():
            if key in want and want[key] != value:
                problems.append(f"row {want['row']}: {key} expected {want[key]!r}, got {value!r}")
        if want.get("list_price") != got["list_price"]:
            problems.append(f"row {want['row']}: list_price expected {want.get('list_price')!r}, "
                            f"got {got['list_price']!r}")
    unexpected = set(rows) - {w["row"] for w in expected["records"]}
    if unexpected:
        problems.append(f"rows accepted that the fixture does not expect: {sorted(unexpected)}")
    return problems
