"""The CDN resource: a local folder (default) or an S3 bucket through dagster-aws's `S3Resource`.

    CdnResource(kind="local", local_root="var/cdn", base_url="https://cdn.example.com")
    CdnResource(kind="s3", bucket="sku-cdn", prefix="prod", base_url="https://cdn.example.com",
                s3=S3Resource(endpoint_url=EnvVar("CDN_S3_ENDPOINT"), region_name="us-east-1"))

Credentials come from the environment (the boto3 chain, or `EnvVar(...)` on the nested `S3Resource`); never put
literals in code or YAML. `target()` returns a `skucore.publish.targets.CdnTarget`; publishing logic lives in `skucore.publish`.
"""
from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from typing import Any, Literal, Mapping, Optional

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field

from skucore.publish.targets import CdnError, CdnIntegrityError, CdnTarget, CdnUnavailableError, LocalFolderCdn, validate_key

_UNAVAILABLE_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
                      "RequestTimeout", "RequestTimeTooSkewed"}
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


def _redact_endpoint(url: str | None) -> str:
    """Endpoint without user info or query string (no credentials in messages)."""
    if not url:
        return "<default AWS endpoint>"
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class S3CdnTarget:
    """`CdnTarget` on an S3 bucket (any S3 API: AWS, MinIO, moto...), built on a boto3 S3 client.

    - `put` is one `PutObject` with ContentType, CacheControl, Metadata (sha256...), ContentMD5 and
      ChecksumSHA256, so a server that verifies checksums (S3 does) rejects a corrupted body; the returned ETag is
      also compared with the body's MD5 (`verify_etag`; turn off for SSE-KMS buckets, whose ETags are not MD5s).
    - Connection failures and 5xx answers become `CdnUnavailableError` naming the operation, endpoint and key.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", base_url: str | None = None, *,
                 verify_etag: bool = True):
        if not bucket:
            raise CdnError("S3 CDN target needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.verify_etag = verify_etag
        self.endpoint = _redact_endpoint(getattr(getattr(client, "meta", None), "endpoint_url", None))

    # -- helpers
    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _wrap(self, exc: Exception, operation: str, key: str) -> Exception:
        from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        full = (f"{self.prefix}/{key}" if self.prefix else key) if key else ""
        where = f"s3://{self.bucket}/{full} at {self.endpoint}"
        if isinstance(exc, (HTTPClientError, BotoConnectionError)):
            return CdnUnavailableError(
                f"CDN unavailable: {operation} {where} failed: {type(exc).__name__} (connection refused, reset or "
                f"timed out); the publish is incomplete, rerun it once the endpoint is back",
                endpoint=self.endpoint, key=key, operation=operation)
        if isinstance(exc, NoCredentialsError):
            return CdnError(f"CDN {operation} {where}: no AWS credentials found in the environment")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _UNAVAILABLE_CODES or status.startswith("5"):
                return CdnUnavailableError(f"CDN unavailable: {operation} {where} answered {code or status}",
                                           endpoint=self.endpoint, key=key, operation=operation)
            if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
                return CdnIntegrityError(f"CDN {operation} {where}: upload corrupted in transit ({code})")
            return CdnError(f"CDN {operation} {where} failed: {code or status}: {err.get('Message', '')}")
        return exc

    # -- protocol
    def head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND_CODES:
                return None
            raise self._wrap(exc, "HEAD", key) from exc
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "HEAD", key) from exc
        meta = {k.lower(): v for k, v in (resp.get("Metadata") or {}).items()}
        return {
            "key": key,
            "size": resp.get("ContentLength"),
            "sha256": meta.get("sha256"),
            "content_type": resp.get("ContentType"),
            "cache_control": resp.get("CacheControl"),
            "metadata": meta,
            "last_modified": resp.get("LastModified"),
            "etag": (resp.get("ETag") or "").strip('"') or None,
        }

    def put(self, key: str, data: bytes, content_type: str, cache_control: str,
            metadata: Mapping[str, str]) -> None:
        md5 = hashlib.md5(data, usedforsecurity=False)
        sha = hashlib.sha256(data)
        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type,
                CacheControl=cache_control, Metadata={str(k): _ascii_meta(v) for k, v in metadata.items()},
                ContentMD5=base64.b64encode(md5.digest()).decode("ascii"),
                ChecksumSHA256=base64.b64encode(sha.digest()).decode("ascii"),
            )
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "PUT", key) from exc
        etag = (resp.get("ETag") or "").strip('"')
        if self.verify_etag and etag and "-" not in etag and etag != md5.hexdigest():
            raise CdnIntegrityError(
                f"CDN PUT s3://{self.bucket}/{self._full(key)} at {self.endpoint}: stored ETag {etag} is not the "
                f"MD5 of the bytes sent ({md5.hexdigest()}); the object is corrupt")
        returned_sha = resp.get("ChecksumSHA256")
        if returned_sha and returned_sha != base64.b64encode(sha.digest()).decode("ascii"):
            raise CdnIntegrityError(f"CDN PUT s3://{self.bucket}/{self._full(key)}: checksum mismatch")

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return resp["Body"].read()
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES:
                return None
            raise self._wrap(exc, "GET", key) from exc
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "GET", key) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "DELETE", key) from exc

    def url_for(self, key: str) -> str:
        full = self._full(key)
        if self.base_url:
            return f"{self.base_url}/{urllib.parse.quote(key, safe='/')}"
        endpoint = getattr(self.client.meta, "endpoint_url", None) or "https://s3.amazonaws.com"
        return f"{endpoint.rstrip('/')}/{self.bucket}/{urllib.parse.quote(full, safe='/')}"

    def list(self, prefix: str = "") -> list[str]:
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        out: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=full_prefix):
                out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "LIST", prefix) from exc
        return sorted(out)

    def check(self) -> None:
        """HEAD the bucket: raises CdnUnavailableError / CdnError with a clear message if it is unusable."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - rewrapped
            raise self._wrap(exc, "HEAD bucket", "") from exc


def _ascii_meta(value: Any) -> str:
    """S3 user metadata travels in HTTP headers: keep it ASCII (percent-escape anything else)."""
    text = "" if value is None else str(value)
    return text if re.fullmatch(r"[\x20-\x7e]*", text) else urllib.parse.quote(text, safe="")


class CdnResource(ConfigurableResource):
    """Where `cdn_publish` puts images and the manifest: `kind="local"` (a folder, the default) or `kind="s3"`."""

    kind: Literal["local", "s3"] = Field(default="local", description="'local' folder or 's3' bucket")
    local_root: Optional[str] = Field(default=None, description="folder of the local CDN (kind=local)")
    base_url: Optional[str] = Field(default=None, description="public URL prefix used in the manifest")
    bucket: Optional[str] = Field(default=None, description="bucket (kind=s3)")
    prefix: str = Field(default="", description="key prefix inside the bucket (kind=s3)")
    verify_etag: bool = Field(default=True, description="compare PUT ETags with MD5s (off for SSE-KMS)")
    s3: Optional[S3Resource] = Field(default=None, description="dagster-aws S3Resource (kind=s3); endpoint_url, "
                                     "region_name; credentials from the environment")

    def target(self) -> CdnTarget:
        if self.kind == "local":
            if not self.local_root:
                raise CdnError("CdnResource(kind='local') needs local_root")
            return LocalFolderCdn(self.local_root, base_url=self.base_url)
        if self.kind == "s3":
            if not self.bucket:
                raise CdnError("CdnResource(kind='s3') needs bucket")
            s3 = self.s3 if self.s3 is not None else S3Resource()
            return S3CdnTarget(s3.get_client(), self.bucket, self.prefix, self.base_url,
                               verify_etag=self.verify_etag)
        raise CdnError(f"CdnResource.kind must be 'local' or 's3', got {self.kind!r}")
