"""ImageServerBackend against stand-in servers (real HTTP on 127.0.0.1) that behave like SGLang (edits ignore the
mask, text-to-image only), like a server without an edits endpoint (404), and like one that really inpaints."""
from __future__ import annotations

import io
import json
import socket

import numpy as np
import pytest
from PIL import Image

from tests.helpers.gpu import make_request

from gpu_ops.base import SceneGenerationError
from gpu_ops.server_client import ImageServerBackend
from tests.helpers.image_servers import StandInImageServer

MODEL = "Tongyi-MAI/Z-Image-Turbo"


def _backend(url, **kw):
    kw.setdefault("timeout_s", 5)
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_s", 0.01)
    return ImageServerBackend([url] if isinstance(url, str) else url, model=MODEL, **kw)


def _product_exact(req, img):
    m = np.asarray(req.mask)
    return np.array_equal(np.asarray(img)[m == 0], np.asarray(req.init_image)[m == 0])


# ---------------------------------------------------------------- capabilities and per-scene choice
def test_sglang_like_server_gets_text2img_plus_composite_recorded():
    """Edits that ignore the mask are found by the probe; with inpaint_unsupported="composite" the inpaint scene
    becomes a text-to-image background with the product composited, and the lineage says so."""
    with StandInImageServer(kind="sglang") as srv:
        b = _backend(srv.url, inpaint_unsupported="composite")
        req = make_request(seed=5, size=64, key="double11|sku-1|lifestyle|jd")
        (res,) = b.generate_scenes([req])
    caps = b.capabilities[srv.url]
    assert caps.edits_endpoint is True and caps.honours_mask is False and caps.model_served is True
    assert "ignore the mask" in caps.why_not_inpaint()
    assert res.ok and _product_exact(req, res.image)
    gen = res.generation
    assert gen["backend"] == "server" and gen["method"] == "text2img+composite"
    assert gen["requested_method"] == "inpaint" and "ignore the mask" in gen["substituted_because"]
    assert "light_match" in gen and gen["fallback"] is None
    # the scene itself went to the text-to-image endpoint: nothing was recorded as an inpaint
    assert [r["path"] for r in srv.posts()] == ["/v1/images/edits", "/v1/images/generations"]  # probe, then scene
    body = srv.posts("/v1/images/generations")[0]["json"]
    assert body["output_format"] == "png" and body["size"] == "64x64" and "num_inference_steps" not in body


def test_server_without_edits_fails_the_inpaint_scene_with_reason_in_production_settings():
    """Production settings: inpaint_unsupported="fail" (the default). A 404 on edits never turns into a studio
    render or a silent composite: the scene fails, the reason names the server and what to change."""
    with StandInImageServer(kind="no_edits") as srv:
        b = _backend(srv.url)
        reqs = [make_request(seed=1, key="double11|sku-1|lifestyle|jd"),
                make_request(seed=2, mode="text2img", key="double11|sku-1|banner|jd")]
        results = b.generate_scenes(reqs)
        with pytest.raises(SceneGenerationError) as err:
            b.generate(reqs)
    inpaint, t2i = results
    assert not inpaint.ok and inpaint.error.reason == "server_cannot_inpaint"
    assert "HTTP 404" in inpaint.error.message and srv.url in inpaint.error.message
    assert "inpaint_unsupported" in inpaint.error.message
    assert t2i.ok and t2i.generation["method"] == "text2img+composite"  # the other scene is not sunk
    assert err.value.failed_keys == ["double11|sku-1|lifestyle|jd"]
    assert "server_cannot_inpaint" in str(err.value)
    assert len(srv.posts("/v1/images/edits")) == 1  # only the probe: a scene never went to the missing endpoint


def test_server_that_honours_masks_inpaints():
    with StandInImageServer(kind="honours_mask") as srv:
        b = _backend(srv.url)
        req = make_request(seed=5, size=64)
        (res,) = b.generate_scenes([req])
    assert b.capabilities[srv.url].can_inpaint
    assert res.ok and res.generation["method"] == "inpaint" and _product_exact(req, res.image)
    rec = srv.posts("/v1/images/edits")[-1]
    assert rec["ctype"].startswith("multipart/form-data")
    form = rec["form"]
    assert form["prompt"] == req.prompt and form["size"] == "64x64" and form["output_format"] == "png"
    assert form["seed"] == "5" and form["negative_prompt"] == "blurry" and "num_inference_steps" not in form
    image = Image.open(io.BytesIO(rec["files"]["image"]))
    assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(req.init_image))
    m = np.asarray(req.mask)
    for field in ("mask", "mask_image"):  # SGLang's and vLLM-Omni's names for it
        mr = np.asarray(Image.open(io.BytesIO(rec["files"][field])).convert("RGBA"))
        assert np.array_equal(mr[..., 0], m)  # luminance: white = regenerate
        assert np.array_equal(mr[..., 3], 255 - m)  # alpha: transparent = edit (OpenAI rule)


def test_in_process_inpaint_when_no_server_can():
    class LocalInpaint:
        backend_name = "diffusers"
        model_id = "local"

        def __init__(self):
            self.seen = []

        def generate(self, requests):
            self.seen += [r.key for r in requests]
            return [r.init_image.copy() for r in requests]

    local = LocalInpaint()
    with StandInImageServer(kind="sglang") as srv:
        b = _backend(srv.url, inpaint_unsupported="in_process", in_process=local)
        res = b.generate_scenes([make_request(seed=1, key="a"), make_request(seed=2, mode="text2img", key="b")])
    assert local.seen == ["a"]
    assert res[0].generation["backend"] == "diffusers" and res[0].generation["served_in_process"] is True
    assert res[1].generation["backend"] == "server" and res[1].generation["method"] == "text2img+composite"


def test_model_not_served_fails_with_reason():
    with StandInImageServer(kind="honours_mask", models=["Qwen/Qwen-Image"]) as srv:
        b = _backend(srv.url)
        (res,) = b.generate_scenes([make_request(mode="text2img", key="k")])
    assert not res.ok and res.error.reason == "server_failed" and "Qwen/Qwen-Image" in res.error.message


def test_sizes_are_rounded_to_16_and_cropped_back_not_stretched():
    from gpu_ops.base import SceneRequest

    base = make_request(seed=3, size=64)
    init, mask = base.init_image.crop((0, 0, 61, 50)), base.mask.crop((0, 0, 61, 50))
    req = SceneRequest(prompt="x", negative_prompt="", seed=3, width=61, height=50, init_image=init, mask=mask)
    with StandInImageServer(kind="honours_mask") as srv:
        (res,) = _backend(srv.url).generate_scenes([req])
    rec = srv.posts("/v1/images/edits")[-1]
    assert rec["form"]["size"] == "64x64"
    assert Image.open(io.BytesIO(rec["files"]["image"])).size == (64, 64)
    assert res.image.size == (61, 50) and _product_exact(req, res.image)


def test_steps_sent_only_when_set():
    with StandInImageServer() as srv:
        _backend(srv.url, probe=False, num_inference_steps=8).generate([make_request(mode="text2img")])
    assert srv.posts()[0]["json"]["num_inference_steps"] == 8


def test_png_is_asked_for_and_a_jpeg_answer_is_noted():
    with StandInImageServer(kind="sglang") as srv:
        b = _backend(srv.url, output_format="jpeg", inpaint_unsupported="composite")
        (res,) = b.generate_scenes([make_request(mode="text2img")])
    assert res.generation["format_received"] == "jpeg"
    assert b.capabilities[srv.url].returns_png is False


# ---------------------------------------------------------------- HTTP behaviour (probe off: the script is the scene's)
def test_text2img_request_fields_and_b64_decoding(monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_IMAGE_API_KEY", "sk-test-secret")
    with StandInImageServer() as srv:
        req = make_request(seed=123456789012, size=64, mode="text2img")
        (out,) = _backend(srv.url, probe=False).generate([req])
    (rec,) = srv.posts()
    assert rec["path"] == "/v1/images/generations"
    body = rec["json"]
    assert body["prompt"] == req.prompt and body["n"] == 1 and body["size"] == "64x64"
    assert body["response_format"] == "b64_json" and body["seed"] == 123456789012 and body["guidance_scale"] == 0.0
    assert body["model"] == MODEL and body["output_format"] == "png"
    assert rec["headers"]["Authorization"] == "Bearer sk-test-secret"
    assert out.size == (64, 64) and _product_exact(req, out)
    assert tuple(np.asarray(out)[0, 0]) != (0, 0, 0)  # the far background is the server's picture


def test_retries_5xx_then_succeeds():
    with StandInImageServer(script=[500, 503]) as srv:
        b = _backend(srv.url, probe=False)
        (out,) = b.generate([make_request(mode="text2img")])
    assert len(srv.posts()) == 3 and b.request_count == 3
    assert out.size == (64, 64)


def test_gives_up_after_max_retries_with_clear_reason():
    with StandInImageServer(script=[502] * 10) as srv:
        b = _backend(srv.url, probe=False, max_retries=2)
        with pytest.raises(SceneGenerationError) as err:
            b.generate([make_request(mode="text2img", key="promo|sku-9")])
    assert len(srv.posts()) == 3
    (failure,) = err.value.failures
    assert failure.reason == "server_failed" and failure.key == "promo|sku-9"
    assert "HTTP 502" in failure.message and "after 3 attempts" in failure.message


def test_4xx_is_not_retried_and_names_status_and_message(monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_IMAGE_API_KEY", "sk-test-secret")
    with StandInImageServer(script=[400]) as srv:
        with pytest.raises(SceneGenerationError) as err:
            _backend(srv.url, probe=False).generate([make_request(mode="text2img")])
    assert len(srv.posts()) == 1
    msg = str(err.value)
    assert "HTTP 400" in msg and "scripted failure 400: prompt too long" in msg
    assert "sk-test-secret" not in msg


def test_one_failing_scene_does_not_sink_the_others():
    with StandInImageServer(script=[400]) as srv:
        res = _backend(srv.url, probe=False).generate_scenes(
            [make_request(mode="text2img", key="a"), make_request(mode="text2img", key="b")])
    assert [r.ok for r in res] == [False, True]


def test_timeout_is_retried():
    with StandInImageServer(script=["timeout"]) as srv:
        b = _backend(srv.url, probe=False, timeout_s=0.3)
        (out,) = b.generate([make_request(mode="text2img")])
    assert len(srv.posts()) == 2 and out.size == (64, 64)


def test_connection_refused_fails_over_to_next_endpoint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()  # nothing listens there now
    with StandInImageServer() as srv:
        b = ImageServerBackend([dead, srv.url], timeout_s=2, max_retries=2, backoff_s=0.01, probe=False)
        out = b.generate([make_request(mode="text2img", key="k")])
    assert out[0].size == (64, 64) and len(srv.posts()) == 1


def test_api_key_never_logged(monkeypatch, caplog):
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    with StandInImageServer(script=[500]) as srv:
        with caplog.at_level("DEBUG"):
            b = _backend(srv.url, api_key_env="MY_KEY", inpaint_unsupported="composite")
            b.generate([make_request(mode="text2img")])
    assert all(r["headers"]["Authorization"] == "Bearer sk-very-secret" for r in srv.requests)
    assert "sk-very-secret" not in caplog.text and "sk-very-secret" not in json.dumps(b.describe())


def test_no_key_no_auth_header(monkeypatch):
    monkeypatch.delenv("SKUSTUDIO_IMAGE_API_KEY", raising=False)
    with StandInImageServer() as srv:
        _backend(srv.url, probe=False).generate([make_request(mode="text2img")])
    assert "Authorization" not in srv.posts()[0]["headers"]


def test_bad_config():
    with pytest.raises(ValueError, match="endpoint"):
        ImageServerBackend([])
    with pytest.raises(ValueError, match="http"):
        ImageServerBackend(["localhost:30000"])
    with pytest.raises(ValueError, match="inpaint_unsupported"):
        ImageServerBackend(["http://a:1"], inpaint_unsupported="studio")
    with pytest.raises(ValueError, match="in-process"):
        ImageServerBackend(["http://a:1"], inpaint_unsupported="in_process")
    with pytest.raises(ValueError, match="latent cell"):
        ImageServerBackend(["http://a:1"], feather_px=2)
