"""Fixtures for the CDN tests: image bytes, dummy AWS credentials and real moto S3 servers on loopback."""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:  # `tests.s3_server` when pytest runs without the repo root on sys.path
    sys.path.insert(0, str(_ROOT))

from tests.s3_server import moto_s3_server_fixture  # noqa: E402
from tests.unit.cdn.cdn_helpers import FAKE_KEY_ID, FAKE_SECRET  # noqa: E402


s3_server = moto_s3_server_fixture(scope="module", name="s3_server")
durable_s3_server = moto_s3_server_fixture(scope="function", persist=True, name="durable_s3_server")
fresh_s3_server = moto_s3_server_fixture(scope="function", name="fresh_s3_server")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def bucket_name() -> str:
    return f"cdn-{uuid.uuid4().hex[:12]}"
