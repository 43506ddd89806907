"""Fetch a catalog's http(s) photo references into a content-addressed cache, safely and only when changed.

One `PhotoFetcher` serves a whole sync from a thread pool (`fetch_many`). For each URL:

- the URL is parsed and normalised (bad ones: `photo_bad_url`), the host resolved and every address checked
  against the `AddressPolicy` (`photo_address_refused`); the connection goes to a checked address, with the host
  name kept for the Host header, TLS SNI and certificate checks;
- the download is streamed with a byte limit (`photo_too_large`, refused from Content-Length when it is declared),
  connect and read timeouts plus a whole-download deadline (`photo_timeout`);
- 5xx, 408, 429, timeouts and dropped connections are retried with exponential backoff and jitter (Retry-After
  honoured up to the backoff ceiling); other statuses fail at once (`photo_http_<status>`);
- redirects are followed up to `max_redirects` (`photo_too_many_redirects`), each hop parsed and checked again;
- the bytes must be an image by their signature (`photo_not_an_image`), whatever the URL or Content-Type say;
- the photo is stored under its sha256; the URL's ETag and Last-Modified are kept, and the next sync sends them
  back: a 304 reuses the cached photo and downloads nothing.

Failures never raise from `fetch`: each is a `FetchResult` with a reason code, so one bad photo is one rejected row.
Uses urllib3 directly (requests' transport) because pinning the connection to a checked address needs its pool API.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as http_errors

from skucore.catalog.address_policy import AddressPolicy, Resolver, system_resolver
from skucore.catalog.blob_cache import BlobCache, photo_key, url_record_key
from skucore.catalog.image_sniff import SNIFF_BYTES, sniff_image_type

__all__ = ["FetchSettings", "FetchResult", "PhotoFetcher", "PhotoFetchError", "normalize_url", "FETCH_REASONS"]

FETCH_REASONS = ("photo_bad_url", "photo_address_refused", "photo_connection_failed", "photo_timeout",
                 "photo_too_large", "photo_too_many_redirects", "photo_not_an_image", "photo_http_<status>")
_REDIRECTS = {301, 302, 303, 307, 308}
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
_CHUNK = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FetchSettings:
    max_bytes: int = 25 * 1024 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0   # longest wait for any single read
    total_timeout_s: float = 60.0  # one attempt, request to last byte: a server dripping bytes cannot hold a worker
    retries: int = 3               # attempts after the first, for retryable failures only
    backoff_s: float = 0.5         # first wait; doubles per retry
    backoff_max_s: float = 8.0
    max_redirects: int = 5
    per_host_limit: int = 4        # concurrent requests to one host name, across all fetch threads
    user_agent: str = "SKU-Studio-photo-fetch/1.0"
    ca_bundle: str | None = None   # PEM file; default: certifi's bundle (what requests uses)
    policy: AddressPolicy = field(default_factory=AddressPolicy)


@dataclass(frozen=True)
class FetchResult:
    url: str
    reason: str | None             # None: the photo is in the cache under sha256
    message: str
    sha256: str | None = None
    image_type: str | None = None  # sniffed from the bytes: jpeg, png, webp ...
    size: int = 0
    bytes_downloaded: int = 0      # body bytes read from the network by this fetch (all attempts and hops)
    revalidated: bool = False      # the server answered 304: the cached photo is current
    status: int | None = None
    final_url: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None


class PhotoFetchError(Exception):
    """Raised by `PhotoFetcher.read` (the read_photo interface); `reason` is the row's reject reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass
class _Attempt:
    result: FetchResult
    retryable: bool = False
    retry_after_s: float | None = None


class _Failure(Exception):
    def __init__(self, reason: str, message: str, retryable: bool = False, status: int | None = None,
                 retry_after: str | None = None):
        super().__init__(message)
        self.reason, self.message, self.retryable, self.status = reason, message, retryable, status
        self.retry_after = retry_after
        self.downloaded = 0  # body bytes read before the failure, for the download count


def normalize_url(url: str) -> str:
    """The URL as requested: scheme and host lower-cased, IDN host in ASCII, spaces and non-ASCII in the path and
    query percent-encoded (shops write "Blå tröja.jpg"), fragment dropped. Raises _Failure(photo_bad_url)."""
    text = url.strip() if isinstance(url, str) else ""
    if not text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise _Failure("photo_bad_url", "empty, or holds control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _Failure("photo_bad_url", f"cannot parse ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Failure("photo_bad_url", f"scheme {scheme or '(none)'!r}: only http and https photos are fetched")
    if parts.username is not None or parts.password is not None:
        raise _Failure("photo_bad_url", "credentials in the URL are not supported")
    host = parts.hostname
    if not host:
        raise _Failure("photo_bad_url", "no host")
    if ":" not in host:  # not an IPv6 literal
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _Failure("photo_bad_url", f"host {host!r} is not a valid domain name") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return urlunsplit((scheme, netloc, path, query, ""))


class PhotoFetcher:
    def __init__(self, cache: BlobCache, settings: FetchSettings | None = None, *,
                 resolver: Resolver = system_resolver, sleep: Callable[[float], None] = time.sleep):
        self.cache = cache
        self.settings = settings or FetchSettings()
        self.resolver = resolver
        self.sleep = sleep
        ca_certs = self.settings.ca_bundle
        if ca_certs is None:
            import certifi  # installed with requests

            ca_certs = certifi.where()
        self.pools = urllib3.PoolManager(num_pools=64, maxsize=max(1, self.settings.per_host_limit),
                                         cert_reqs="CERT_REQUIRED", ca_certs=ca_certs)
        self.lock = threading.Lock()
        self.host_slots: dict[str, threading.BoundedSemaphore] = {}
        self.stats = {"urls": 0, "downloaded": 0, "revalidated": 0, "failed": 0, "requests": 0,
                      "bytes_downloaded": 0}

    # ------------------------------------------------------------------------------------------------ public

    def fetch(self, url: str) -> FetchResult:
        try:
            normalized = normalize_url(url)
        except _Failure as failure:
            return self._count(FetchResult(url, failure.reason, failure.message))
        record = self._record(normalized)
        downloaded, attempt = 0, None
        for number in range(self.settings.retries + 1):
            attempt = self._attempt(url, normalized, record)
            downloaded += attempt.result.bytes_downloaded
            if not attempt.retryable or number == self.settings.retries:
                break
            # Exponential backoff with jitter (threads retrying one host do not return in lockstep); a server's
            # Retry-After is a floor, up to the same ceiling.
            backoff = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** number)
            delay = backoff * (0.5 + random.random() / 2)
            if attempt.retry_after_s is not None:
                delay = max(delay, min(self.settings.backoff_max_s, attempt.retry_after_s))
            self.sleep(delay)
        return self._count(replace(attempt.result, bytes_downloaded=downloaded, attempts=number + 1))

    def fetch_many(self, urls: Iterable[str], workers: int = 16) -> dict[str, FetchResult]:
        """Each distinct URL once (variants share photos), `workers` at a time, per-host limits applied."""
        unique = list(dict.fromkeys(urls))
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="photo-fetch") as pool:
            return dict(zip(unique, pool.map(self.fetch, unique)))

    def photo_bytes(self, result: FetchResult) -> bytes:
        data = self.cache.get(photo_key(result.sha256)) if result.ok else None
        if data is None:
            raise PhotoFetchError(result.reason or "photo_connection_failed",
                                  result.message if not result.ok else "the cached photo disappeared")
        return data

    def read(self, url: str) -> bytes:
        """read_photo(uri) -> bytes for the catalog loader; raises PhotoFetchError with the reason code."""
        return self.photo_bytes(self.fetch(url))

    def close(self) -> None:
        self.pools.clear()

    # ------------------------------------------------------------------------------------------------ one attempt

    def _attempt(self, url: str, normalized: str, record: dict | None) -> _Attempt:
        current, downloaded, status = normalized, 0, None
        deadline = time.monotonic() + self.settings.total_timeout_s
        try:
            for hop in range(self.settings.max_redirects + 1):
                # The host's slot covers the whole exchange, body included: a connection in use is a slot taken.
                with self._host_slot(urlsplit(current).hostname):
                    response = self._request(current, record, deadline)
                    status, body_read = response.status, None
                    try:
                        if status in _REDIRECTS and response.headers.get("Location"):
                            if hop == self.settings.max_redirects:
                                raise _Failure("photo_too_many_redirects", f"more than {self.settings.max_redirects}"
                                               f" redirects (last to {response.headers['Location'][:200]})")
                            current = normalize_url(urljoin(current, response.headers["Location"]))
                            continue
                        if status == 304 and record is not None:
                            return _Attempt(self._revalidated(url, normalized, current, record))
                        if status not in (200, 203):
                            raise _Failure(f"photo_http_{status}", f"HTTP {status} from {current[:200]}",
                                           retryable=status in _RETRY_STATUSES, status=status,
                                           retry_after=response.headers.get("Retry-After"))
                        body_read = False
                        body = self._read_body(response, deadline)
                        body_read = True
                        downloaded += len(body)
                        return _Attempt(self._store(url, normalized, current, response, body, downloaded))
                    finally:
                        _finish(response, body_read, deadline)
        except _Failure as failure:
            downloaded += failure.downloaded
            return _Attempt(FetchResult(url, failure.reason, failure.message, bytes_downloaded=downloaded,
                                        status=failure.status or status, final_url=current),
                            failure.retryable, _retry_after_s(failure.retry_after))
        raise AssertionError("unreachable: the redirect loop always returns or raises")

    def _request(self, url: str, record: dict | None, deadline: float) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        host, scheme = parts.hostname, parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except socket.gaierror as exc:
            raise _Failure("photo_connection_failed", f"cannot resolve {host} ({exc})",
                           retryable=exc.errno == socket.EAI_AGAIN) from None
        refusal = self.settings.policy.refusal(host, addresses)
        if refusal:
            raise _Failure("photo_address_refused", refusal)
        headers = {"Host": parts.netloc, "User-Agent": self.settings.user_agent, "Accept": "image/*,*/*;q=0.5",
                   "Accept-Encoding": "identity"}
        if record is not None and record.get("etag"):
            headers["If-None-Match"] = record["etag"]
        if record is not None and record.get("last_modified"):
            headers["If-Modified-Since"] = record["last_modified"]
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        last_error: _Failure | None = None
        for address in addresses:  # the checked addresses, in resolver order, until one connects
            pool_kwargs = {"server_hostname": host, "assert_hostname": host} if scheme == "https" else None
            pool = self.pools.connection_from_host(address, port, scheme, pool_kwargs=pool_kwargs)
            timeout = urllib3.Timeout(connect=self.settings.connect_timeout_s,
                                      read=max(0.001, min(self.settings.read_timeout_s, deadline - time.monotonic())))
            with self.lock:
                self.stats["requests"] += 1
            try:
                return pool.urlopen("GET", target, headers=headers, redirect=False, retries=False,
                                    preload_content=False, timeout=timeout, assert_same_host=False)
            except http_errors.NewConnectionError as exc:
                last_error = _Failure("photo_connection_failed", f"cannot connect to {host} ({address}): {exc}",
                                      retryable=True)
            except Exception as exc:
                raise _transport_failure(exc, host) from None
        raise last_error or _Failure("photo_connection_failed", f"{host}: no address to connect to")

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        limit = self.settings.max_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _Failure("photo_too_large", f"Content-Length {declared} is over the limit of {limit} bytes")
        chunks, received, sniffed = [], 0, False
        try:
            while True:
                if time.monotonic() > deadline:
                    raise _Failure("photo_timeout", f"download took longer than {self.settings.total_timeout_s}s",
                                   retryable=True)
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
                if received > limit:
                    raise _Failure("photo_too_large", f"more than {limit} bytes (stopped reading)")
                if not sniffed and received >= SNIFF_BYTES:
                    sniffed = True
                    self._require_image(b"".join(chunks)[:SNIFF_BYTES], response)
        except _Failure as failure:
            failure.downloaded = received
            raise
        except Exception as exc:  # timeouts and dropped connections mid-body
            failure = _transport_failure(exc, "the server")
            failure.downloaded = received
            raise failure from None
        body = b"".join(chunks)
        self._require_image(body[:SNIFF_BYTES], response)
        return body

    @staticmethod
    def _require_image(head: bytes, response) -> None:
        if sniff_image_type(head) is None:
            claimed = response.headers.get("Content-Type", "no Content-Type")
            raise _Failure("photo_not_an_image", f"served as {claimed[:60]}, but the bytes are not an image "
                                                 f"(they start {head[:16]!r})")

    # ------------------------------------------------------------------------------------------------ cache

    def _record(self, normalized: str) -> dict | None:
        """The URL's last successful fetch, if its photo is still in the cache (else a full download)."""
        raw = self.cache.get(url_record_key(normalized))
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        sha = record.get("sha256") if isinstance(record, dict) else None
        if not (isinstance(sha, str) and _SHA256.match(sha)) or not self.cache.exists(photo_key(sha)):
            return None
        return record

    def _store(self, url, normalized, final, response, body, downloaded) -> FetchResult:
        sha = hashlib.sha256(body).hexdigest()
        if not self.cache.exists(photo_key(sha)):
            self.cache.put(photo_key(sha), body)
        image_type = sniff_image_type(body[:SNIFF_BYTES])
        record = {"url": normalized, "sha256": sha, "size": len(body), "image_type": image_type, "final_url": final,
                  "etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified"),
                  "checked_at": time.time()}
        self.cache.put(url_record_key(normalized), json.dumps(record).encode())
        return FetchResult(url, None, f"{image_type}, {len(body)} bytes", sha, image_type, len(body), downloaded,
                           False, response.status, final)

    def _revalidated(self, url, normalized, final, record) -> FetchResult:
        record = {**record, "checked_at": time.time()}
        self.cache.put(url_record_key(normalized), json.dumps(record).encode())
        return FetchResult(url, None, "not modified (cached copy reused)", record["sha256"], record.get("image_type"),
                           int(record.get("size") or 0), 0, True, 304, final)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self.lock:
            slot = self.host_slots.get(host)
            if slot is None:
                slot = self.host_slots[host] = threading.BoundedSemaphore(max(1, self.settings.per_host_limit))
            return slot

    def _count(self, result: FetchResult) -> FetchResult:
        with self.lock:
            self.stats["urls"] += 1
            self.stats["bytes_downloaded"] += result.bytes_downloaded
            key = "failed" if not result.ok else "revalidated" if result.revalidated else "downloaded"
            self.stats[key] += 1
        return result


def _finish(response, body_read: bool | None, deadline: float) -> None:
    """Give the connection back for the next photo when the response was read to its end, or its unread body is
    small and arrives before the attempt's deadline; otherwise close it (a half-read stream must never carry the
    next request). body_read: None when the body was never touched, False when reading it failed."""
    if body_read is None:
        length = response.headers.get("Content-Length")
        small = response.status == 304 or (length is not None and length.isdigit() and int(length) <= _CHUNK)
        try:
            while small and time.monotonic() < deadline:
                if not response.read1(_CHUNK):
                    response.release_conn()
                    return
        except Exception:
            pass
    if not body_read:
        response.close()
    response.release_conn()


def _transport_failure(exc: Exception, host: str) -> _Failure:
    if isinstance(exc, http_errors.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, (http_errors.ReadTimeoutError, socket.timeout)) or (
            isinstance(exc, http_errors.ConnectTimeoutError) and not isinstance(exc, http_errors.NewConnectionError)):
        return _Failure("photo_timeout", f"{host} did not answer in time ({type(exc).__name__})", retryable=True)
    if isinstance(exc, http_errors.SSLError):
        return _Failure("photo_connection_failed", f"TLS with {host} failed ({exc})")
    if isinstance(exc, http_errors.LocationParseError):
        return _Failure("photo_bad_url", f"cannot parse ({exc})")
    if isinstance(exc, (http_errors.HTTPError, OSError)):
        return _Failure("photo_connection_failed", f"{host}: {type(exc).__name__}: {exc}", retryable=True)
    raise exc


def _retry_after_s(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff schedule is close enough
