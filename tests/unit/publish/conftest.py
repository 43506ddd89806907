"""Fixtures for the CDN tests: image bytes, dummy AWS credentials and real moto S3 servers on loopback."""
from __future__ import annotations

import uuid

import pytest

from tests.helpers.cdn import FAKE_KEY_ID, FAKE_SECRET
from tests.helpers.s3_server import moto_s3_server_fixture


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
