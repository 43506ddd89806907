"""The GPU path as it will meet real weights: Turbo's 8 steps, a single-file ControlNet, out-of-memory that
fails only its SKU, a refine pass that starts at a set noise level, offload that covers every pipeline, prompt
buckets, and lineage that says how each scene was made. Tiny random weights, 64 x 64."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tests.helpers.gpu import device_under_test, make_request, on_cpu  # noqa: E402

from gpu_ops.base import SceneGenerationError  # noqa: E402
from gpu_ops.zimage import ZImageBackend  # noqa: E402

DEVICE = device_under_test()


def _backend(tiny_model_dir, **kw):
    return ZImageBackend(str(tiny_model_dir), device=DEVICE, **kw)


def test_default_diffusers_steps_are_8_and_the_scheduler_runs_8(tiny_model_dir):
    b = _backend(tiny_model_dir)
    assert b.num_inference_steps == 8
    (res,) = b.generate_scenes([make_request(seed=1)])
    assert res.generation["steps"] == 8
    assert len(b.pipelines["inpaint"].scheduler.timesteps) == 8


def test_lineage_records_method_device_dtype_and_attention(tiny_model_dir):
    b = _backend(tiny_model_dir)
    inpaint, t2i = b.generate_scenes([make_request(seed=1), make_request(seed=2, mode="text2img")])
    for res in (inpaint, t2i):
        g = res.generation
        assert g["backend"] == "diffusers" and g["fallback"] is None
        assert g["device_class"].startswith(DEVICE.split(":")[0])
        assert g["dtype"] in ("float32", "bfloat16") and g["attention_backend"] == "native"
        assert g["batch_size"] == 1 and g["model"] == str(tiny_model_dir)
    assert inpaint.generation["method"] == "inpaint"
    assert t2i.generation["method"] == "text2img+composite"


def test_single_file_controlnet_loads_and_runs(tiny_model_dir, tiny_controlnet_file):
    path, config = tiny_controlnet_file
    assert path.suffix == ".safetensors" and path.is_file()
    b = _backend(tiny_model_dir, controlnet=str(path), controlnet_config=str(config), controlnet_version="union-2.1-8steps")
    req = make_request(seed=41)
    (res,) = b.generate_scenes([req])
    assert res.ok, res.error
    m = np.asarray(req.mask)
    assert np.array_equal(np.asarray(res.image)[m == 0], np.asarray(req.init_image)[m == 0])
    g = res.generation
    assert g["method"] == "controlnet_inpaint" and g["steps"] == 8
    assert g["controlnet"]["loaded_with"].startswith("from_single_file") and g["controlnet"]["version"] == "union-2.1-8steps"
    assert g["controlnet"]["conditioning_scale"] == 0.75
    plain = _backend(tiny_model_dir).generate([req])[0]
    assert plain.tobytes() != res.image.tobytes()  # the control branch really ran


def test_controlnet_version_sets_documented_steps(tiny_model_dir, tiny_controlnet_file):
    path, config = tiny_controlnet_file
    b = _backend(tiny_model_dir, controlnet=str(path), controlnet_config=str(config), controlnet_version="union-2.0")
    (res,) = b.generate_scenes([make_request(seed=1)])
    assert res.generation["steps"] == 25 and res.generation["controlnet"]["version"] == "union-2.0"
    (t2i,) = b.generate_scenes([make_request(seed=1, mode="text2img")])
    assert t2i.generation["steps"] == 8  # scenes without the ControlNet keep Turbo's schedule


def test_single_file_without_a_config_names_what_to_set(tiny_model_dir, tiny_controlnet_file, monkeypatch, tmp_path):
    from gpu_ops.base import ModelNotFoundError

    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    path, _ = tiny_controlnet_file
    with pytest.raises(ModelNotFoundError, match="controlnet_config"):
        _backend(tiny_model_dir, controlnet=str(path), controlnet_version="union-2.1").load()


def test_injected_oom_retries_once_at_batch_1_then_fails_only_that_sku(tiny_model_dir):
    """A worker batching scenes of two SKUs: CUDA runs out of memory on the batch; the cache is freed, each scene
    is retried alone once; SKU B's scene runs out again and fails alone with the reason; SKU A's comes out."""
    import torch

    b = _backend(tiny_model_dir, max_batch=4)
    real = b.call_pipeline
    calls = []

    def flaky(pipe, **kw):
        prompts = kw["prompt"]
        calls.append(len(prompts))
        if len(prompts) > 1 or "sku B" in prompts[0]:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(pipe, **kw)

    b.call_pipeline = flaky
    reqs = [make_request(prompt="a sofa for sku A", seed=1, key="p|A|lifestyle|jd"),
            make_request(prompt="a sofa for sku B", seed=2, key="p|B|lifestyle|jd")]
    results = b.generate_scenes(reqs)
    assert calls == [2, 1, 1]  # the batch, then each scene once alone: no second retry
    a, bad = results
    assert a.ok and a.generation["retried_after_oom"] is True and a.generation["batch_size"] == 1
    assert a.generation["vae_tiling"] is True
    assert not bad.ok and bad.error.reason == "cuda_out_of_memory" and "injected" in bad.error.message
    assert b.oom_events == 1 and b.effective_max_batch == 1  # later batches are smaller
    calls.clear()
    with pytest.raises(SceneGenerationError) as err:
        b.generate(reqs)
    assert err.value.failed_keys == ["p|B|lifestyle|jd"] and err.value.reasons == {"cuda_out_of_memory"}
    assert err.value.results[0].ok  # the pool keeps SKU A's image


def test_other_errors_fail_their_batch_with_the_message(tiny_model_dir):
    b = _backend(tiny_model_dir)

    def broken(pipe, **kw):
        raise RuntimeError("shape mismatch (injected)")

    b.call_pipeline = broken
    (res,) = b.generate_scenes([make_request(seed=1, key="k")])
    assert res.error.reason == "generation_error" and "shape mismatch" in res.error.message


def test_refine_starts_at_the_configured_sigma_and_keeps_low_frequencies(tiny_model_dir):
    """The refine pass adds exactly `refine_sigma` of noise (the scheduler's first sigma) and the background's
    low frequencies (a 16 px blur, two latent cells) stay within 2 levels of its input. With random weights the
    model repaints noise, so what holds them here is the low-frequency restore the pass ends with."""
    import cv2

    b = _backend(tiny_model_dir, refine_sigma=0.12, refine_steps=2)
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:96, 0:96]
    base = np.stack([xx * 2, yy * 2, 255 - xx - yy // 2], axis=-1).astype(np.float32)
    img = Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8), "RGB")
    out = b.refine(img, prompt="a living room", seed=3)
    assert out.size == img.size
    assert abs(b.last_refine_sigmas[0] - 0.12) < 1e-4 and len(b.last_refine_sigmas) == 3  # 2 steps + the final 0
    low = lambda im: cv2.GaussianBlur(np.asarray(im, np.float32), (0, 0), 16)  # noqa: E731
    assert np.abs(low(out) - low(img))[16:-16, 16:-16].mean() < 2.0
    assert not np.array_equal(np.asarray(out), np.asarray(img))  # ...and the pass did change detail


def test_old_strength_setting_becomes_the_sigma_it_meant(tiny_model_dir):
    b = _backend(tiny_model_dir, upscale_strength=0.3, num_inference_steps=9)
    assert abs(b.refine_sigma - 0.6) < 1e-9  # strength 0.3 at 9 steps started at sigma 0.6: most of the picture


def test_offload_covers_controlnet_and_every_from_pipe_pipeline(tiny_model_dir, tiny_controlnet_file):
    import torch

    path, config = tiny_controlnet_file
    b = _backend(tiny_model_dir, enable_cpu_offload=True, controlnet=str(path), controlnet_config=str(config),
                 controlnet_version="union-2.1-8steps", upscale="img2img", native_max_side=64)
    res = b.generate_scenes([make_request(seed=1), make_request(seed=2, mode="text2img", size=96)])
    assert all(r.ok for r in res), [r.error for r in res]
    assert b.describe()["offload_covers"] == ["text_encoder", "transformer", "controlnet", "vae"]
    pipes = b.pipelines
    assert set(pipes) == {"inpaint", "controlnet_inpaint", "text2img", "img2img"}  # all ran, all share the hooks
    for pipe in pipes.values():
        assert pipe._execution_device == torch.device(DEVICE if ":" in DEVICE or DEVICE == "cpu" else f"{DEVICE}:0")
        for name in ("text_encoder", "transformer", "vae"):
            assert hasattr(getattr(pipe, name), "_hf_hook")
        # after a call every module is back on the CPU
        assert next(pipe.transformer.parameters()).device.type == "cpu"
    assert hasattr(pipes["controlnet_inpaint"].controlnet, "_hf_hook")
    assert next(pipes["controlnet_inpaint"].controlnet.parameters()).device.type == "cpu"


def test_prompts_are_batched_by_length_bucket(tiny_model_dir):
    b = _backend(tiny_model_dir, max_batch=4)
    seen = []
    real = b.call_pipeline
    b.call_pipeline = lambda pipe, **kw: (seen.append(list(kw["prompt"])), real(pipe, **kw))[1]
    short = ["a sofa", "a lamp"]
    long = ["a sofa in a bright living room with plants, a rug, wooden floor and warm afternoon sun " * 2]
    res = b.generate_scenes([make_request(prompt=short[0], seed=1), make_request(prompt=long[0], seed=2),
                             make_request(prompt=short[1], seed=3)])
    assert sorted(map(sorted, seen)) == sorted([sorted(short), long])
    assert res[0].generation["prompt_bucket_tokens"] < res[1].generation["prompt_bucket_tokens"]
    assert res[0].generation["batch_size"] == 2 and res[1].generation["batch_size"] == 1


def test_coarse_buckets_pad_the_caption(tiny_model_dir):
    b = _backend(tiny_model_dir, prompt_bucket_tokens=128)
    seen = []
    real = b.call_pipeline
    b.call_pipeline = lambda pipe, **kw: (seen.append(kw), real(pipe, **kw))[1]
    (res,) = b.generate_scenes([make_request(seed=1)])
    assert res.ok and "prompt_embeds" in seen[0] and seen[0]["prompt_embeds"][0].shape[0] == 128


def test_slot_view_shares_the_weights_and_renders_the_same_bytes(tiny_model_dir):
    from gpu_ops.zimage import total_loads

    b = _backend(tiny_model_dir)
    b.load()
    before = total_loads()
    view = b.slot_view()
    assert total_loads() == before and view.load_count == b.load_count
    assert view.pipelines["inpaint"].transformer is b.pipelines["inpaint"].transformer
    assert view.pipelines["inpaint"].scheduler is not b.pipelines["inpaint"].scheduler
    req = make_request(seed=9)
    assert view.generate([req])[0].tobytes() == b.generate([req])[0].tobytes()


def test_attention_backend_setting(tiny_model_dir):
    from gpu_ops.speed import resolve_attention_backend

    assert resolve_attention_backend("auto", "cpu") == "native"
    with pytest.raises(ValueError, match="offline"):
        resolve_attention_backend("flash_hub", "cuda")
    with pytest.raises(ValueError, match="attention backend"):
        resolve_attention_backend("warp-speed", "cuda")
    b = _backend(tiny_model_dir, attention_backend="native")
    b.load()
    assert b.describe()["attention_backend"] == "native"


@pytest.mark.skipif(not on_cpu(), reason="the eager compile backend is a CPU check; the device check times inductor")
def test_regional_compile_of_repeated_blocks_runs(tiny_model_dir):
    plain = _backend(tiny_model_dir).generate([make_request(seed=4)])[0]
    b = _backend(tiny_model_dir, compile_blocks=True, compile_backend="eager")
    (res,) = b.generate_scenes([make_request(seed=4)])
    assert res.generation["compiled_blocks"] is True
    assert np.abs(np.asarray(res.image, np.int16) - np.asarray(plain, np.int16)).max() <= 2
