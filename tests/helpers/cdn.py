"""Shared helpers of the CDN tests (image bytes and image dicts)."""
from __future__ import annotations

import io

# Distinctive dummy credentials, so a test can assert that no error message ever carries them.
FAKE_KEY_ID = "AKIADUMMYCDNTEST0001"
FAKE_SECRET = "dummy-secret-Zx9CdnTest"


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
