"""Helpers for the cutout tests (a module name of its own, so it never clashes with another folder's conftest)."""
import os

import pytest

PACKSHOTS = "/work/shared/samples/packshots"


def packshot(name):
    from PIL import Image

    path = os.path.join(PACKSHOTS, name)
    if not os.path.exists(path):
        pytest.skip(f"shared packshot {path} not available")
    im = Image.open(path)
    im.load()
    return im
