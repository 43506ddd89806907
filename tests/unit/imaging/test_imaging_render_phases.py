"""render_sku_images in its three phases (prepare / generate / finish): the same bytes as the one call, and the
scenes of two SKUs generated in one shared batch give each SKU what its own batch gives it."""
from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from tests.helpers.imaging import TEMPLATES, prompt_row
from skucore.imaging.render import apply_generated, finish_sku_render, prepare_sku_render, render_sku_images


class SeededScenes:
    """A deterministic generator: each request's scene depends only on its own seed and size."""

    backend_name, model_id = "diffusers", "fake/seeded"

    def __init__(self):
        self.batches: list[list] = []

    def generate(self, requests):
        self.batches.append(list(requests))
        out = []
        for r in requests:
            d = hashlib.sha256(str(r.seed).encode()).digest()
            out.append(Image.new("RGB", (r.width, r.height), (d[0], d[1], d[2])))
        return out


def _rows(seed):
    return [prompt_row("hero", "t_gen", seed), prompt_row("detail", "t_gen", seed + 1)]


KW = dict(platforms=["taobao", "jd"], templates_by_id=TEMPLATES, source_sha256="f" * 64)


def test_phases_give_the_bytes_of_the_one_call(bottle, promotion, sku_row):
    whole = render_sku_images(bottle, sku_row, _rows(5), promotion, scene_generator=SeededScenes(), **KW)
    render = prepare_sku_render(bottle, sku_row, _rows(5), promotion, **KW)
    gen = SeededScenes()
    apply_generated(render, gen.generate(render.requests), backend_name=gen.backend_name, model_id=gen.model_id)
    assert [r.data for r in finish_sku_render(render)] == [r.data for r in whole]


def test_two_skus_sharing_a_batch_get_what_their_own_batches_give(bottle, promotion, sku_row):
    other = dict(sku_row, sku="SKU-2")
    a = prepare_sku_render(bottle, sku_row, _rows(5), promotion, **KW)
    b = prepare_sku_render(bottle, other, _rows(50), promotion, **KW)
    gen = SeededScenes()
    shared = gen.generate(a.requests + b.requests)  # one device batch across SKUs
    apply_generated(a, shared[: len(a.requests)], backend_name="diffusers", model_id="fake/seeded")
    apply_generated(b, shared[len(a.requests):], backend_name="diffusers", model_id="fake/seeded")
    alone_a = render_sku_images(bottle, sku_row, _rows(5), promotion, scene_generator=SeededScenes(), **KW)
    alone_b = render_sku_images(bottle, other, _rows(50), promotion, scene_generator=SeededScenes(), **KW)
    assert [r.data for r in finish_sku_render(a)] == [r.data for r in alone_a]
    assert [r.data for r in finish_sku_render(b)] == [r.data for r in alone_b]
    assert {r.key.split("|")[1] for r in gen.batches[0]} == {"SKU-1", "SKU-2"}


def test_a_device_error_falls_back_or_raises(bottle, promotion, sku_row):
    render = prepare_sku_render(bottle, sku_row, _rows(5), promotion, **KW)
    apply_generated(render, error="DeviceWorkerDied: gone")
    out = finish_sku_render(render)
    assert {r.lineage["fallback_reason"] for r in out if r.lineage["requested_backend"] != "studio"} == {"DeviceWorkerDied: gone"}
    strict = prepare_sku_render(bottle, sku_row, _rows(5), promotion, allow_studio_fallback=False, **KW)
    with pytest.raises(RuntimeError, match="fallback is off"):
        apply_generated(strict, error="DeviceWorkerDied: gone")
    with pytest.raises(RuntimeError, match="fallback is off"):
        prepare_sku_render(bottle, sku_row, _rows(5), promotion, allow_studio_fallback=False, generator_available=False, **KW)


class PerSceneResults(SeededScenes):
    """A generator that reports per scene (as gpu_ops backends do): the first scene runs out of memory after its
    retry, the others come out with how they were made."""

    def generate_scenes(self, requests):
        from gpu_ops.base import SceneFailure, SceneResult

        images = self.generate(requests)
        out = [SceneResult(key=r.key, image=im, generation={"backend": "server", "method": "inpaint",
                                                           "requested_method": "inpaint", "steps": 8})
               for r, im in zip(requests, images)]
        out[0] = SceneResult(key=requests[0].key, error=SceneFailure(requests[0].key, "CUDA_OUT_OF_MEMORY",
                                                                     "out of memory after one retry at batch 1"))
        return out


def test_per_scene_results_fall_back_only_the_failed_scene_and_record_how_each_was_made(bottle, promotion, sku_row):
    out = render_sku_images(bottle, sku_row, _rows(5), promotion, scene_generator=PerSceneResults(), **KW)
    generated = [r for r in out if r.lineage["requested_backend"] != "studio"]
    failed = [r for r in generated if r.lineage["fallback"]]
    made = [r for r in generated if not r.lineage["fallback"]]
    assert failed and made
    # the failed scene is named with its reason; the others keep their generated backgrounds and their lineage
    assert {r.lineage["scene"] for r in failed} == {"hero"} and {r.lineage["platform"] for r in failed} == {"taobao"}
    assert all("CUDA_OUT_OF_MEMORY" in r.lineage["fallback_reason"] and r.lineage["backend"] == "studio"
               for r in failed)
    assert all(r.lineage["generation"]["steps"] == 8 and r.lineage["backend"] == "server" for r in made)
    strict = prepare_sku_render(bottle, sku_row, _rows(5), promotion, allow_studio_fallback=False, **KW)
    with pytest.raises(RuntimeError, match="CUDA_OUT_OF_MEMORY"):
        apply_generated(strict, PerSceneResults().generate_scenes(strict.requests))
