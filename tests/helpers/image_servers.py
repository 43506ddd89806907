"""Stand-in image servers for tests: real HTTP servers on 127.0.0.1 (http.server in a thread) that speak the
OpenAI images protocol the way SGLang Diffusion and vLLM-Omni do.

Kinds (`StandInImageServer(kind=...)`):
- "honours_mask": edits keep the pixels the mask keeps (what a real inpainting server does) and paint the rest;
- "sglang": `/v1/images/edits` accepts a `mask` upload and ignores it (the whole picture is repainted), as SGLang
  serving Z-Image (text-to-image only) does; images come back as JPEG unless `output_format: "png"` is sent;
- "no_edits": `/v1/images/edits` answers 404 (older vLLM-Omni releases; any server without the endpoint).
`script`: answers for the generation/edit POSTs in order: an int status, "timeout" (sleep past the client's
timeout) or "ok"; after the script runs out every request is "ok". Every request is recorded.
"""
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
from PIL import Image

KINDS = ("honours_mask", "sglang", "no_edits")


def encode_b64(img: Image.Image, fmt: str) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG" if fmt == "png" else "JPEG", quality=90)
    return base64.b64encode(buf.getvalue()).decode()


def parse_multipart(ctype: str, raw: bytes) -> tuple[dict, dict]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
    form, files = {}, {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            files[name] = part.get_payload(decode=True)
        else:
            form[name] = part.get_payload(decode=True).decode()
    return form, files


class StandInImageServer:
    def __init__(self, kind: str = "honours_mask", script=(), color=(10, 200, 30), models=("Tongyi-MAI/Z-Image-Turbo",),
                 models_status: int = 200):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self.script = list(script)
        self.color = tuple(color)
        self.models = list(models)
        self.models_status = models_status
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                with server.lock:
                    server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if self.path == "/v1/models" and server.models_status == 200:
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
                else:
                    self._send(server.models_status if self.path == "/v1/models" else 404, {"detail": "Not Found"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ctype = self.headers.get("Content-Type", "")
                rec = {"method": "POST", "path": self.path, "headers": dict(self.headers), "ctype": ctype}
                if ctype.startswith("application/json"):
                    rec["json"] = fields = json.loads(raw)
                else:
                    rec["form"], rec["files"] = parse_multipart(ctype, raw)
                    fields = rec["form"]
                edits = self.path == "/v1/images/edits"
                with server.lock:
                    server.requests.append(rec)
                    if edits and server.kind == "no_edits":
                        action = 404
                    else:
                        action = server.script.pop(0) if server.script else "ok"
                if action == "timeout":
                    time.sleep(1.0)
                    action = "ok"
                if action != "ok":
                    status = int(action)
                    self._send(status, {"error": {"message": f"scripted failure {status}: prompt too long", "code": status}}
                               if status != 404 else {"detail": "Not Found"})
                    return
                w, h = (int(v) for v in str(fields["size"]).split("x"))
                out = Image.new("RGB", (w, h), server.color)
                if edits and server.kind == "honours_mask":
                    init = Image.open(io.BytesIO(rec["files"]["image"])).convert("RGB").resize((w, h))
                    alpha = np.asarray(Image.open(io.BytesIO(rec["files"]["mask"])).convert("RGBA").resize((w, h)))[..., 3]
                    keep = alpha > 127  # OpenAI rule: transparent = edit, opaque = keep
                    arr = np.asarray(out).copy()
                    arr[keep] = np.asarray(init)[keep]
                    out = Image.fromarray(arr, "RGB")
                fmt = str(fields.get("output_format", "jpeg")).lower()
                self._send(200, {"data": [{"b64_json": encode_b64(out, fmt)}], "inference_time_s": 0.01})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def posts(self, path: str | None = None) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST" and (path is None or r["path"] == path)]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
