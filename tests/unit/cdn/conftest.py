"""Fixtures for the CDN tests: image bytes, dummy AWS credentials and real moto S3 servers on loopback."""
from __future__ import annotations

import io
import sys
import uuid
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:  # `tests.s3_server` when pytest runs without the repo root on sys.path
    sys.path.insert(0, str(_ROOT))

from tests.s3_server import moto_s3_server_fixture  # noqa: E402

# Distinctive dummy values, so a test can assert that no error message ever carries them.
FAKE_KEY_ID = "AKIADUMMYCDNTEST0001"
FAKE_SECRET = "dummy-secret-Zx9CdnTest"

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


def image_bytes(seed: int, fmt: str = "png", size: tuple[int, int] = (48, 32)) -> bytes:
    """Small deterministic image; different seeds give different bytes."""
    from PIL import Image

    colour = ((seed * 67) % 256, (seed * 131 + 40) % 256, (seed * 29 + 90) % 256)
    im = Image.new("RGB", size, colour)
    im.putpixel((seed % size[0], (seed // size[0]) % size[1]), (255 - colour[0], 0, 0))
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if fmt in ("jpeg", "jpg") else fmt.upper())
    return buf.getvalue()


def make_image(seed: int, role: str = "main", platform: str = "tmall", fmt: str = "png", grade: str = "A",
               approved=None, **extra) -> dict:
    d = {"role": role, "platform": platform, "data": image_bytes(seed, fmt), "format": fmt, "width": 48,
         "height": 32, "grade": grade}
    if approved is not None:
        d["approved"] = approved
    d.update(extra)
    return d


def sku_images(sku_index: int, roles=("main", "lifestyle"), platforms=("tmall",), version: int = 0) -> list[dict]:
    out = []
    for r, role in enumerate(roles):
        for p, platform in enumerate(platforms):
            out.append(make_image(1000 * version + 100 * sku_index + 10 * r + p, role, platform))
    return out


@pytest.fixture
def bucket_name() -> str:
    return f"cdn-{uuid.uuid4().hex[:12]}"
