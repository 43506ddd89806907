"""Shared fixtures for the GPU-path tests: a tiny random-weight Z-Image folder built once per session, and the
device the tests run on (the CPU here; `SKUSTUDIO_TEST_DEVICE=cuda` runs the same tests on a GPU, as the
device check `bench/device_check.py` does)."""
from __future__ import annotations

import pytest

from tests.helpers.gpu import product_scene


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from tests.helpers.tiny_zimage import build_tiny_zimage

    return build_tiny_zimage(tmp_path_factory.mktemp("tiny-zimage") / "pipe", seed=0, with_controlnet=True)


@pytest.fixture(scope="session")
def tiny_controlnet_file(tmp_path_factory):
    """(file, config folder): the tiny ControlNet as one .safetensors file, as Union 2.x ships."""
    from tests.helpers.tiny_zimage import save_tiny_controlnet_file

    return save_tiny_controlnet_file(tmp_path_factory.mktemp("tiny-controlnet"))


@pytest.fixture
def scene():
    return product_scene()
