"""A real HTTP/1.1 photo server on loopback for tests and benchmarks, with the endpoints shops' CDNs turn out to
have: good photos (with ETag / Last-Modified revalidation), missing ones, failing-then-working, slow, dripping,
redirecting, oversized and lying ones.

    with PhotoServer() as server:
        server.route("/a.jpg", Photo(jpeg_bytes))
        server.url("/a.jpg")  # http://127.0.0.1:PORT/a.jpg

Paths are served by an exact-path route, else a route for their last segment (`route_name`), else from `folder`
by their last segment (so catalog fixtures' URLs such as
{{PHOTO_BASE}}/s/files/1/0650/products/ruby_hoodie.jpg?v=1 find data/samples/packshots/ruby_hoodie.jpg), else 404.
`hits[path]` counts requests and `bytes_sent` counts body bytes: a test proves a refused URL was never requested
and a revalidated one sent nothing.
"""
from __future__ import annotations

import email.utils
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

__all__ = ["PhotoServer", "Photo", "Status", "Flaky", "Slow", "Drip", "Redirect", "Stream", "Tracked"]


class Route(Protocol):
    def serve(self, handler: "_Handler") -> None: ...


@dataclass
class Photo:
    """A photo, with validators: a matching If-None-Match or a not-older If-Modified-Since gets 304."""

    body: bytes
    content_type: str = "image/jpeg"
    etag: str | None = None
    last_modified: float | None = None  # epoch seconds

    def serve(self, handler):
        headers = {"Content-Type": self.content_type}
        if self.etag:
            headers["ETag"] = self.etag
        if self.last_modified is not None:
            headers["Last-Modified"] = email.utils.formatdate(self.last_modified, usegmt=True)
        if self._not_modified(handler):
            handler.reply(304, b"", headers)
        else:
            handler.reply(200, self.body, headers)

    def _not_modified(self, handler) -> bool:
        if self.etag and handler.headers.get("If-None-Match"):
            return self.etag in [t.strip() for t in handler.headers["If-None-Match"].split(",")]
        since = handler.headers.get("If-Modified-Since")
        if self.last_modified is not None and since:
            parsed = email.utils.parsedate_to_datetime(since)
            return parsed is not None and int(self.last_modified) <= parsed.timestamp()
        return False


@dataclass
class Status:
    code: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def serve(self, handler):
        handler.reply(self.code, self.body, {"Content-Type": "text/html", **self.headers})


@dataclass
class Flaky:
    """Fails `failures` times with `status`, then serves `then`."""

    failures: int
    then: Route
    status: int = 500
    served: int = 0

    def serve(self, handler):
        self.served += 1
        if self.served <= self.failures:
            handler.reply(self.status, b"<h1>try again</h1>", {"Content-Type": "text/html"})
        else:
            self.then.serve(handler)


@dataclass
class Slow:
    """Waits before answering at all."""

    delay_s: float
    then: Route

    def serve(self, handler):
        time.sleep(self.delay_s)
        self.then.serve(handler)


@dataclass
class Drip:
    """Sends headers at once, then the body a few bytes at a time: each read is quick, the whole never ends."""

    body: bytes
    delay_s: float = 0.05
    chunk: int = 16

    def serve(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        for start in range(0, len(self.body), self.chunk):
            handler.wfile.write(self.body[start:start + self.chunk])
            handler.wfile.flush()
            handler.server.count_bytes(min(self.chunk, len(self.body) - start))
            time.sleep(self.delay_s)


@dataclass
class Redirect:
    location: str
    code: int = 302

    def serve(self, handler):
        handler.reply(self.code, b"", {"Location": self.location})


@dataclass
class Stream:
    """`size` bytes starting with `head`: with Content-Length declared, or close-delimited with none."""

    size: int
    head: bytes = b"\xff\xd8\xff\xe0"
    declare_length: bool = True
    content_type: str = "image/jpeg"

    def serve(self, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        if self.declare_length:
            handler.send_header("Content-Length", str(self.size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        block = self.head + b"\0" * (64 * 1024 - len(self.head))
        sent = 0
        while sent < self.size:
            piece = block[: min(len(block), self.size - sent)]
            handler.wfile.write(piece)
            handler.server.count_bytes(len(piece))
            sent += len(piece)
            block = b"\0" * len(block)


@dataclass
class Tracked:
    """Records how many requests are in flight at once (per-host limit tests)."""

    then: Route
    delay_s: float = 0.05
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, handler):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay_s)
        with self.lock:  # before answering: once the client has the answer, it may send the next request
            self.in_flight -= 1
        self.then.serve(handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as CDNs do: the fetcher's connection reuse is exercised
    server: "_Server"

    def do_GET(self):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        self.server.record(path, dict(self.headers))
        route = (self.server.routes.get(unquote(self.path)) or self.server.routes.get(path)
                 or self.server.name_routes.get(path.rsplit("/", 1)[-1]))
        try:
            if route is not None:
                route.serve(self)
            else:
                self.serve_file(path.rsplit("/", 1)[-1])
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, size limits)
            self.close_connection = True

    def serve_file(self, name: str):
        folder = self.server.folder
        candidate = folder / name if folder and name and "/" not in name and name not in (".", "..") else None
        if candidate is not None and candidate.is_file():
            Photo(candidate.read_bytes(), "image/jpeg", etag=f'"{candidate.stat().st_size}-{name}"').serve(self)
        else:
            self.reply(404, b"<h1>Not Found</h1>", {"Content-Type": "text/html"})

    def reply(self, code: int, body: bytes, headers: dict):
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        if code != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and code != 304:
            self.wfile.write(body)
            self.server.count_bytes(len(body))

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, family, folder: Path | None):
        self.address_family = family
        super().__init__(address, _Handler)
        self.routes: dict[str, Route] = {}
        self.name_routes: dict[str, Route] = {}
        self.folder = folder
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict]] = []
        self.bytes_sent = 0
        self.lock = threading.Lock()

    def record(self, path: str, headers: dict):
        with self.lock:
            self.hits[path] += 1
            self.requests.append((path, headers))

    def count_bytes(self, n: int):
        with self.lock:
            self.bytes_sent += n

    def handle_error(self, request, client_address):
        pass  # a client closing mid-response is what several tests do on purpose


class PhotoServer:
    def __init__(self, folder: str | Path | None = None, host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = _Server((host, 0), family, Path(folder) if folder else None)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="photo-server", daemon=True)

    def __enter__(self) -> "PhotoServer":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, route: Route) -> str:
        self.server.routes[path] = route
        return self.url(path)

    def route_name(self, name: str, route: Route) -> None:
        """Serve `route` for any path ending in /name (after the exact-path routes)."""
        self.server.name_routes[name] = route

    @property
    def hits(self) -> Counter:
        return self.server.hits

    @property
    def requests(self) -> list[tuple[str, dict]]:
        return self.server.requests

    @property
    def bytes_sent(self) -> int:
        return self.server.bytes_sent
