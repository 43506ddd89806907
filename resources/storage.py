"""Where SKU Studio keeps its working tables and images: a local folder by default, S3 in production.

Keys are '/'-separated and built by the assets from `skucore.base.safety.key_component` segments only.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from skucore.base.storage import atomic_write_bytes


def default_home() -> str:
    return os.environ.get("SKUSTUDIO_HOME", os.path.abspath("var"))


class StudioStore(dg.ConfigurableResource):
    """Working storage for tables (Parquet) and images.

    kind="local": files under `root` (default $SKUSTUDIO_HOME/store). kind="s3": objects under
    s3://bucket/prefix through the boto3 client of a dagster-aws `S3Resource`.
    """

    kind: str = Field(default="local", description='"local" or "s3"')
    root: str = Field(default_factory=lambda: os.path.join(default_home(), "store"))
    bucket: str = ""
    prefix: str = "skustudio"
    s3: S3Resource | None = None  # when kind="s3" (a ResourceDependency[object] here refused every S3Resource)

    _s3_client: object = PrivateAttr(default=None)
    _s3_client_pid: int = PrivateAttr(default=0)

    # ---- bytes -------------------------------------------------------------------------------------------
    def _check_key(self, key: str) -> str:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
            raise ValueError(f"invalid store key {key!r}")
        return key

    def _client(self):
        if self.s3 is None or not self.bucket:
            raise ValueError("StudioStore(kind='s3') needs `bucket` and an `s3` S3Resource")
        # One boto3 client per resource instance and process: building one costs more than most requests.
        if self._s3_client is None or self._s3_client_pid != os.getpid():
            self._s3_client, self._s3_client_pid = self.s3.get_client(), os.getpid()
        return self._s3_client

    def _s3_key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def path(self, key: str) -> Path:
        """Local path of `key` (kind="local" only): for links in the Dagster UI."""
        return Path(self.root) / self._check_key(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        self._check_key(key)
        if self.kind == "local":
            atomic_write_bytes(self.path(key), data)  # temp file + rename
        elif self.kind == "s3":
            self._client().put_object(Bucket=self.bucket, Key=self._s3_key(key), Body=data)  # one PUT is atomic
        else:
            raise ValueError(f"StudioStore.kind must be 'local' or 's3', got {self.kind!r}")
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        self._check_key(key)
        if self.kind == "local":
            return self.path(key).read_bytes()
        obj = self._client().get_object(Bucket=self.bucket, Key=self._s3_key(key))
        return obj["Body"].read()

    def exists(self, key: str) -> bool:
        self._check_key(key)
        if self.kind == "local":
            return self.path(key).is_file()
        try:
            self._client().head_object(Bucket=self.bucket, Key=self._s3_key(key))
            return True
        except Exception as exc:  # botocore ClientError 404
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, key: str) -> None:
        self._check_key(key)
        if self.kind == "local":
            self.path(key).unlink(missing_ok=True)
        else:
            self._client().delete_object(Bucket=self.bucket, Key=self._s3_key(key))

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/'), sorted."""
        if self.kind == "local":
            base = Path(self.root) / prefix
            if not base.is_dir():
                return []
            return sorted(
                f"{prefix}{p.relative_to(base).as_posix()}" for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        keys: list[str] = []
        paginator = self._client().get_paginator("list_objects_v2")
        full = self._s3_key(prefix)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(obj["Key"][len(full) - len(prefix):] for obj in page.get("Contents", []))
        return sorted(keys)

    def uri(self, key: str) -> str:
        if self.kind == "local":
            return self.path(key).resolve().as_uri()
        return f"s3://{self.bucket}/{self._s3_key(key)}"

    # ---- tables ------------------------------------------------------------------------------------------
    def write_table(self, key: str, table: pa.Table) -> str:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        return self.put_bytes(key, buf.getvalue())

    def read_table(self, key: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.get_bytes(key)))

    def read_table_or_none(self, key: str) -> pa.Table | None:
        return self.read_table(key) if self.exists(key) else None
