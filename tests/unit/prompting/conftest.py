"""Fixtures for promotions / templates / prompt-table tests (plain functions, no Dagster)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOUBLE11 = REPO / "promotions" / "double11.yaml"

CATALOG_SCHEMA = pa.schema([
    ("sku", pa.string()), ("name", pa.string()), ("category", pa.string()), ("color", pa.string()),
    ("material", pa.string()), ("price", pa.float64()), ("currency", pa.string()), ("brand", pa.string()),
    ("selling_points", pa.list_(pa.string())), ("image", pa.string()), ("attributes", pa.string()),
    ("photo_sha256", pa.string()), ("content_hash", pa.string()),
])


def _make_catalog(rows: list[dict]) -> pa.Table:
    base = {f.name: None for f in CATALOG_SCHEMA}
    full = []
    for i, r in enumerate(rows):
        row = dict(base, image=f"/photos/{r['sku']}.jpg", photo_sha256="0" * 64, content_hash=f"{i:064d}")
        row.update(r)
        full.append(row)
    return pa.Table.from_pylist(full, schema=CATALOG_SCHEMA)


@pytest.fixture
def make_catalog():
    """Build a catalog table (the catalog module's columns) from partial rows; missing fields are null."""
    return _make_catalog


@pytest.fixture
def catalog() -> pa.Table:
    return _make_catalog([
        {"sku": "EL-001", "name": "蓝牙降噪耳机 Pro", "category": "electronics", "color": "black",
         "material": "aluminium", "price": 1299.0, "currency": "CNY", "brand": "Acme",
         "selling_points": ["主动降噪", "30h battery"], "attributes": json.dumps({"size": "M"})},
        {"sku": "FA-002", "name": "Silk Midi Dress", "category": "fashion", "color": "navy", "material": "silk",
         "price": 399.5, "currency": "CNY", "brand": None, "selling_points": ["100% mulberry silk"]},
        {"sku": "HD-003", "name": "陶瓷花瓶", "category": "home_decor", "color": "white", "material": "ceramic",
         "price": 89.0, "currency": "CNY", "brand": "Casa", "selling_points": []},
        {"sku": "BE-004", "name": "Hydrating Serum 30ml", "category": "beauty", "color": None, "material": None,
         "price": 249.0, "currency": "CNY", "brand": "Glow", "selling_points": ["hyaluronic acid"]},
        {"sku": "XX-005", "name": "Garden Hose 20m", "category": "garden", "color": "green", "material": "PVC",
         "price": 59.9, "currency": "CNY", "brand": None, "selling_points": None},
    ])


@pytest.fixture
def promo_data() -> dict:
    """double11.yaml as a dict, to mutate into malformed variants."""
    return yaml.safe_load(DOUBLE11.read_text(encoding="utf-8"))


@pytest.fixture
def write_promo(tmp_path):
    def _write(data, name: str = "promo.yaml", folder: Path | None = None) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path
    return _write


@pytest.fixture
def double11():
    from skucore.prompting.promotions import load_promotion
    return load_promotion(DOUBLE11)
