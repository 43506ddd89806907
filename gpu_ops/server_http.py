"""HTTP to OpenAI-compatible image servers: retries, failover over endpoints, decoding, the API key.

Retries with exponential backoff on timeouts, connection errors and 5xx (and 429); any other 4xx raises
`ImageServerError` naming the status and the server's message at once. A request's tries rotate over the
endpoints it may use (a failed try moves to the next). The API key comes from the environment variable named
by `api_key_env` only and is never logged or put into an error.
"""
from __future__ import annotations

import base64
import io
import logging
import os
import time
from typing import Callable

from PIL import Image

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class ImageServerError(RuntimeError):
    """The image server refused a request (4xx) or kept failing after all retries."""

    def __init__(self, message: str, status: int | None = None, endpoint: str | None = None):
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mask_png(mask: Image.Image) -> bytes:
    """Our "L" mask (white = regenerate) as an RGBA PNG whose alpha is 0 where the server may paint (the
    OpenAI "transparent = edit" rule); its RGB is our mask, as diffusers reads it."""
    m = mask.convert("L")
    rgba = Image.merge("RGBA", (m, m, m, m.point(lambda v: 255 - v)))
    return png_bytes(rgba)


def server_message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:500]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message", body)))
        if isinstance(err, dict):
            err = err.get("message", err)
        return str(err)[:500]
    return str(body)[:500]


def decode_image(resp, endpoint: str) -> tuple[Image.Image, str]:
    """(RGB image, the format the server sent) from a 200 response's data[0].b64_json."""
    try:
        body = resp.json()
        b64 = body["data"][0]["b64_json"]
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        img.load()
    except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:
        raise ImageServerError(
            f"image server {endpoint} answered 200 without a decodable data[0].b64_json ({type(exc).__name__})",
            status=resp.status_code, endpoint=endpoint,
        ) from exc
    return img.convert("RGB"), (img.format or "unknown").lower()


class ImageServerHttp:
    """Sessions, headers and the retry loop shared by the probe and the generation calls."""

    def __init__(self, timeout_s: float = 120.0, max_retries: int = 3, backoff_s: float = 1.0,
                 max_backoff_s: float = 30.0, api_key_env: str = "SKUSTUDIO_IMAGE_API_KEY", session=None):
        if max_retries < 0:
            raise ValueError(f"ImageServerBackend: max_retries must be >= 0, got {max_retries}")
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.api_key_env = api_key_env
        self._session = session
        self.request_count = 0  # HTTP attempts made, for tests and run metadata

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def headers(self) -> dict:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, url: str, timeout_s: float | None = None):
        """One GET (no retries: used by the probe, which treats any failure as "unknown")."""
        self.request_count += 1
        return self.session.get(url, headers=self.headers(), timeout=timeout_s or self.timeout_s)

    def post_once(self, url: str, json: dict | None = None, data: dict | None = None, files: dict | None = None,
                  timeout_s: float | None = None):
        self.request_count += 1
        return self.session.post(url, json=json, data=data, files=files, headers=self.headers(),
                                 timeout=timeout_s or self.timeout_s)

    def request_image(self, what: str, endpoints: list[str], send: Callable[[str], object]) -> tuple[Image.Image, str, str]:
        """(image, endpoint, format) from `send(endpoint)` (one POST), retried and rotated over `endpoints`."""
        import requests

        last_problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            endpoint = endpoints[attempt % len(endpoints)]
            try:
                resp = send(endpoint)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = f"{type(exc).__name__} from {endpoint}"
                log.warning("image server %s: %s (attempt %d/%d)", endpoint, type(exc).__name__, attempt + 1,
                            self.max_retries + 1)
            else:
                if resp.status_code == 200:
                    image, fmt = decode_image(resp, endpoint)
                    return image, endpoint, fmt
                message = server_message(resp)
                if resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
                    last_problem = f"HTTP {resp.status_code} from {endpoint}: {message}"
                    log.warning("image server %s: HTTP %d (attempt %d/%d)", endpoint, resp.status_code, attempt + 1,
                                self.max_retries + 1)
                else:
                    raise ImageServerError(
                        f"image server {endpoint} refused the request for {what}: HTTP {resp.status_code}: {message}",
                        status=resp.status_code, endpoint=endpoint,
                    )
            if attempt < self.max_retries:
                time.sleep(min(self.max_backoff_s, self.backoff_s * (2**attempt)))
        raise ImageServerError(
            f"image server gave no image for {what} after {self.max_retries + 1} attempts; last problem: {last_problem}"
        )
