"""Fixtures for the imaging tests (helpers live in imaging_helpers.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.helpers.imaging import PACKSHOTS, SKU_ROW, TEMPLATES, FakePromotion, cutout_from_rgba, drawn_product
from skucore.base.types import Cutout


@pytest.fixture(scope="session")
def bottle() -> Cutout:
    return cutout_from_rgba(drawn_product())


@pytest.fixture(scope="session")
def wide_product() -> Cutout:
    rgba = np.zeros((120, 360, 4), np.uint8)
    rgba[10:110, 10:350, :3] = (30, 90, 160)
    rgba[10:110, 10:350, 3] = 255
    return cutout_from_rgba(rgba)


@pytest.fixture(scope="session")
def packshot() -> Cutout:
    """A real product photo with a crude alpha (any channel < 245), at half size to keep tests fast."""
    im = Image.open(PACKSHOTS / "ruby_mug.jpg").convert("RGB")
    im = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    a = np.asarray(im)
    alpha = np.where((a < 245).any(axis=2), 255, 0).astype(np.uint8)
    alpha = np.asarray(Image.fromarray(alpha).filter(ImageFilter.MedianFilter(5)))
    return cutout_from_rgba(np.dstack([a, alpha]))


@pytest.fixture
def promotion() -> FakePromotion:
    return FakePromotion()


@pytest.fixture
def templates() -> dict:
    return TEMPLATES


@pytest.fixture
def sku_row() -> dict:
    return dict(SKU_ROW)
