"""Fixtures for the catalog tests: real (tiny) photos made with Pillow, and catalog files written on the fly."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

FIELDS = ["sku", "name", "category", "color", "material", "price", "currency", "brand", "selling_points", "image"]


def jpeg_bytes(size=(480, 420), color=(200, 40, 40)) -> bytes:
    """A real JPEG with some structure (a white border), so truncating it cuts into entropy-coded data."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(Image.new("RGB", (size[0] // 2, size[1] // 2), color), (size[0] // 4, size[1] // 4))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def make_jpeg():
    """jpeg_bytes as a fixture: test modules never `import conftest` (another folder's conftest may win)."""
    return jpeg_bytes


@pytest.fixture
def make_photo(tmp_path):
    def make(name="photo.jpg", size=(480, 420), color=(200, 40, 40)) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(size, color))
        return path
    return make


def row(sku="SKU-1", **overrides) -> dict:
    base = {"sku": sku, "name": "测试T恤 / Test Tee", "category": "fashion", "color": "Black", "material": "Cotton",
            "price": "¥129.00", "currency": "CNY", "brand": "Solidus", "selling_points": "亲肤；透气", "image": "photo.jpg"}
    base.update(overrides)
    return base


@pytest.fixture
def write_csv(tmp_path, make_photo):
    """write_csv(rows, name=..., encoding=...) -> path; makes photo.jpg beside it so the default rows are valid."""
    make_photo("photo.jpg")

    def write(rows, name="catalog.csv", encoding="utf-8", fieldnames=None) -> Path:
        fieldnames = fieldnames or (list(rows[0]) if rows else FIELDS)
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
        path = tmp_path / name
        path.write_bytes(buffer.getvalue().encode(encoding))
        return path
    return write


@pytest.fixture
def catalog_row():
    return row
