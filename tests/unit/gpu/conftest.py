"""Shared fixtures for the GPU-path tests: a tiny random-weight Z-Image folder built once per session."""
from __future__ import annotations

import pytest

from gpu_helpers import product_scene



@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from gpu_ops.tiny import build_tiny_zimage

    return build_tiny_zimage(tmp_path_factory.mktemp("tiny-zimage") / "pipe", seed=0, with_controlnet=True)


@pytest.fixture
def scene():
    return product_scene()
