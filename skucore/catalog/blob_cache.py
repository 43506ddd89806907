"""Where fetched photos are kept between syncs: a content-addressed store behind a three-method protocol, so the
same fetcher works on a local folder (development, tests) and on the store's S3 prefix (production).

Keys are made here, only from hashes: `photo_key(sha256)` for a photo's bytes, `url_record_key(url)` for what was
last fetched from a URL (its ETag, Last-Modified and content hash). No part of a URL ever reaches a file path or an
object key, so a catalog row cannot steer where anything is written.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["BlobCache", "LocalFolderCache", "S3BlobCache", "photo_key", "url_record_key"]

_KEY = re.compile(r"^(photos|urls)/[0-9a-f]{2}/[0-9a-f]{64}(\.json)?$")


def photo_key(sha256_hex: str) -> str:
    return f"photos/{sha256_hex[:2]}/{sha256_hex}"


def url_record_key(url: str) -> str:
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return f"urls/{digest[:2]}/{digest}.json"


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"not a cache key: {key[:80]!r} (keys come from photo_key / url_record_key)")
    return key


@runtime_checkable
class BlobCache(Protocol):
    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when the key is absent."""

    def put(self, key: str, data: bytes) -> None:
        """Store atomically: a reader sees the old bytes or the new, never a part."""

    def exists(self, key: str) -> bool: ...


class LocalFolderCache:
    """Blobs as files under `root` (two-character fan-out folders, like git's objects)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / _checked(key)

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: concurrent fetch threads and a crash never leave half a photo.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


class S3BlobCache:
    """Blobs as objects under s3://bucket/prefix/, through a boto3 S3 client (the caller builds it: credentials,
    endpoint and region stay with the Dagster S3 resource). S3 PUTs are atomic, so no temporary objects."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        if not bucket:
            raise ValueError("S3BlobCache needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{_checked(key)}" if self.prefix else _checked(key)

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("NoSuchKey", "404", "NotFound")

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:  # botocore's ClientError; imported by nobody here so boto3 stays optional
            if self._is_missing(exc):
                return None
            raise
        return response["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if self._is_missing(exc):
                return False
            raise
        return True
