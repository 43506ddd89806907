"""Helpers shared by the GPU-path tests."""
from __future__ import annotations

import numpy as np
from PIL import Image


def product_scene(size: int = 64, seed: int = 0):
    """A canvas with a 'product' placed in it (noise texture + a flat block) and its mask (white = background,
    black = product, a ring of anti-aliased edge values around it)."""
    rng = np.random.RandomState(seed)
    canvas = np.full((size, size, 3), 235, np.uint8)
    y0, y1, x0, x1 = size // 4, size - size // 5, size // 3, size - size // 3
    canvas[y0:y1, x0:x1] = (rng.rand(y1 - y0, x1 - x0, 3) * 255).astype(np.uint8)
    canvas[y0 + 2 : y0 + 6, x0 + 2 : x1 - 2] = (200, 30, 40)
    mask = np.full((size, size), 255, np.uint8)
    mask[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = 128  # soft edge
    mask[y0:y1, x0:x1] = 0
    return Image.fromarray(canvas, "RGB"), Image.fromarray(mask, "L")


def make_request(prompt="a sofa in a living room", seed=1, size=64, mode="inpaint", key="", scene_seed=0):
    from gpu_ops.base import SceneRequest

    init, mask = product_scene(size, scene_seed)
    if mode == "text2img":
        return SceneRequest(prompt=prompt, negative_prompt="", seed=seed, width=size, height=size, init_image=init, mask=mask, mode="text2img", key=key)
    return SceneRequest(prompt=prompt, negative_prompt="blurry", seed=seed, width=size, height=size, init_image=init, mask=mask, mode="inpaint", key=key)


def device_under_test() -> str:
    """Where the GPU-path tests run: the CPU unless SKUSTUDIO_TEST_DEVICE says otherwise (the device check)."""
    import os

    return os.environ.get("SKUSTUDIO_TEST_DEVICE", "cpu")


def on_cpu() -> bool:
    return device_under_test() == "cpu"
