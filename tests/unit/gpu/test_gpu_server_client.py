"""ImageServerBackend against a local HTTP server of the test's own that speaks the OpenAI images protocol."""
from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from gpu_helpers import make_request

from gpu_ops.server_client import ImageServerBackend, ImageServerError


def _png_b64(color, size):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


class FakeImageServer:
    """Answers from a script: each entry is an int status, "timeout" (sleep past the client's timeout) or
    "ok"; after the script runs out, every request is "ok"."""

    def __init__(self, script=(), color=(10, 200, 30)):
        self.script = list(script)
        self.color = color
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                rec = {"path": self.path, "headers": dict(self.headers), "ctype": ctype}
                if ctype.startswith("application/json"):
                    rec["json"] = json.loads(raw)
                    fields = rec["json"]
                else:
                    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                        f"Content-Type: {ctype}\r\n\r\n".encode() + raw
                    )
                    rec["form"], rec["files"] = {}, {}
                    for part in msg.iter_parts():
                        name = part.get_param("name", header="content-disposition")
                        if part.get_filename():
                            rec["files"][name] = part.get_payload(decode=True)
                        else:
                            rec["form"][name] = part.get_payload(decode=True).decode()
                    fields = rec["form"]
                with server.lock:
                    server.requests.append(rec)
                    action = server.script.pop(0) if server.script else "ok"
                if action == "timeout":
                    time.sleep(1.0)
                    action = "ok"
                if action == "ok":
                    w, h = (int(v) for v in str(fields["size"]).split("x"))
                    body = {"data": [{"b64_json": _png_b64(server.color, (w, h))}], "inference_time_s": 0.01}
                    status = 200
                else:
                    status = int(action)
                    body = {"error": {"message": f"scripted failure {status}: prompt too long", "code": status}}
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _backend(url, **kw):
    kw.setdefault("timeout_s", 5)
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_s", 0.01)
    return ImageServerBackend([url], model="Tongyi-MAI/Z-Image-Turbo", **kw)


def test_text2img_request_fields_and_b64_decoding(monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_IMAGE_API_KEY", "sk-test-secret")
    with FakeImageServer() as srv:
        req = make_request(seed=123456789012, size=64, mode="text2img")
        (out,) = _backend(srv.url).generate([req])
    (rec,) = srv.requests
    assert rec["path"] == "/v1/images/generations"
    body = rec["json"]
    assert body["prompt"] == req.prompt and body["n"] == 1 and body["size"] == "64x64"
    assert body["response_format"] == "b64_json" and body["seed"] == 123456789012
    assert body["num_inference_steps"] == 9 and body["guidance_scale"] == 0.0
    assert body["model"] == "Tongyi-MAI/Z-Image-Turbo"
    assert rec["headers"]["Authorization"] == "Bearer sk-test-secret"
    m = np.asarray(req.mask)
    o = np.asarray(out)
    assert out.size == (64, 64)
    assert np.array_equal(o[m == 0], np.asarray(req.init_image)[m == 0])  # product composited exactly
    assert tuple(o[0, 0]) == (10, 200, 30)  # far background is the server's image


def test_inpaint_goes_multipart_to_edits_with_mask():
    with FakeImageServer() as srv:
        req = make_request(seed=5, size=64)
        (out,) = _backend(srv.url).generate([req])
    (rec,) = srv.requests
    assert rec["path"] == "/v1/images/edits" and rec["ctype"].startswith("multipart/form-data")
    form = rec["form"]
    assert form["prompt"] == req.prompt and form["size"] == "64x64" and form["response_format"] == "b64_json"
    assert form["seed"] == "5" and form["num_inference_steps"] == "9" and form["negative_prompt"] == "blurry"
    image = Image.open(io.BytesIO(rec["files"]["image"]))
    mask = Image.open(io.BytesIO(rec["files"]["mask"]))
    assert image.size == (64, 64) and np.array_equal(np.asarray(image.convert("RGB")), np.asarray(req.init_image))
    m = np.asarray(req.mask)
    mr = np.asarray(mask.convert("RGBA"))
    assert np.array_equal(mr[..., 0], m)  # luminance: white = regenerate
    assert np.array_equal(mr[..., 3], 255 - m)  # alpha: transparent = edit (OpenAI rule)
    assert np.array_equal(np.asarray(out)[m == 0], np.asarray(req.init_image)[m == 0])


def test_retries_5xx_then_succeeds():
    with FakeImageServer(script=[500, 503]) as srv:
        b = _backend(srv.url)
        (out,) = b.generate([make_request(mode="text2img")])
    assert len(srv.requests) == 3 and b.request_count == 3
    assert out.size == (64, 64)


def test_gives_up_after_max_retries_with_clear_error():
    with FakeImageServer(script=[502] * 10) as srv:
        b = _backend(srv.url, max_retries=2)
        with pytest.raises(ImageServerError) as err:
            b.generate([make_request(mode="text2img", key="promo|sku-9")])
    assert len(srv.requests) == 3
    assert "HTTP 502" in str(err.value) and "after 3 attempts" in str(err.value) and "promo|sku-9" in str(err.value)


def test_4xx_is_not_retried_and_names_status_and_message(monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_IMAGE_API_KEY", "sk-test-secret")
    with FakeImageServer(script=[400]) as srv:
        with pytest.raises(ImageServerError) as err:
            _backend(srv.url).generate([make_request(mode="text2img")])
    assert len(srv.requests) == 1
    assert err.value.status == 400
    assert "HTTP 400" in str(err.value) and "scripted failure 400: prompt too long" in str(err.value)
    assert "sk-test-secret" not in str(err.value)


def test_timeout_is_retried():
    with FakeImageServer(script=["timeout"]) as srv:
        b = _backend(srv.url, timeout_s=0.3)
        (out,) = b.generate([make_request(mode="text2img")])
    assert len(srv.requests) == 2 and out.size == (64, 64)


def test_connection_refused_fails_over_to_next_endpoint():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()  # nothing listens there now
    with FakeImageServer() as srv:
        b = ImageServerBackend([dead, srv.url], timeout_s=2, max_retries=2, backoff_s=0.01)
        out = b.generate([make_request(mode="text2img", key="k")])
    assert out[0].size == (64, 64) and len(srv.requests) == 1


def test_api_key_never_logged(monkeypatch, caplog):
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    with FakeImageServer(script=[500]) as srv:
        with caplog.at_level("DEBUG"):
            b = _backend(srv.url, api_key_env="MY_KEY")
            b.generate([make_request(mode="text2img")])
    assert srv.requests[0]["headers"]["Authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in caplog.text and "sk-very-secret" not in json.dumps(b.describe())


def test_no_key_no_auth_header(monkeypatch):
    monkeypatch.delenv("SKUSTUDIO_IMAGE_API_KEY", raising=False)
    with FakeImageServer() as srv:
        _backend(srv.url).generate([make_request(mode="text2img")])
    assert "Authorization" not in srv.requests[0]["headers"]


def test_bad_endpoint_config():
    with pytest.raises(ValueError, match="endpoint"):
        ImageServerBackend([])
    with pytest.raises(ValueError, match="http"):
        ImageServerBackend(["localhost:30000"])
