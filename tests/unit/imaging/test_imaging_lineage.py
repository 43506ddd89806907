"""Lineage in the file: PNG iTXt / JPEG XMP round trips, provenance labels, pixels untouched, determinism."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from skucore.imaging.lineage import (DST_COMPOSITE_CAPTURE, DST_COMPOSITE_TRAINED, DST_TRAINED, XMP_HEADER,
                             embed_lineage, read_labels, read_lineage)

LINEAGE = {"sku": "SKU-1", "promotion": "double11", "scene": "detail", "role": "detail", "platform": "taobao",
           "template_id": "default/detail", "prompt_hash": "abc123", "seed": 2 ** 62 + 7, "backend": "studio",
           "model_id": None, "source_sha256": "f" * 64, "attempt": 1, "ai_generated": False,
           "badge": "限时特惠 <&\"'>"}


def encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_round_trip_and_pixels_untouched(fmt):
    raw = encoded(fmt)
    out = embed_lineage(raw, fmt, LINEAGE)
    assert read_lineage(out) == LINEAGE
    before = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(out)).convert("RGB"))
    assert np.array_equal(before, after)
    assert embed_lineage(raw, fmt, LINEAGE) == out  # deterministic
    # re-embedding replaces, never stacks
    again = embed_lineage(out, fmt, dict(LINEAGE, attempt=2))
    assert read_lineage(again)["attempt"] == 2
    assert again.count(b"skustudio:Lineage>") == 2  # one element: open + close tag
    assert read_lineage(raw) == {}


def test_jpeg_uses_standard_xmp_app1():
    out = embed_lineage(encoded("JPEG"), "JPEG", LINEAGE)
    assert out[:2] == b"\xff\xd8"
    assert XMP_HEADER in out
    im = Image.open(io.BytesIO(out))
    assert b"Iptc4xmpExt:DigitalSourceType" in im.info["xmp"]  # Pillow (and other readers) find the packet


def test_png_chunks_are_readable_by_pillow():
    out = embed_lineage(encoded("PNG"), "PNG", LINEAGE)
    im = Image.open(io.BytesIO(out))
    im.load()
    assert "XML:com.adobe.xmp" in im.info and "skustudio:lineage" in im.info


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_labels(fmt):
    raw = encoded(fmt)
    studio = read_labels(embed_lineage(raw, fmt, LINEAGE))
    assert studio == {"digital_source_type": DST_COMPOSITE_CAPTURE, "aigc": None}
    ai = dict(LINEAGE, ai_generated=True, backend="diffusers", model_id="Tongyi-MAI/Z-Image-Turbo")
    labels = read_labels(embed_lineage(raw, fmt, ai))
    assert labels["digital_source_type"] == DST_COMPOSITE_TRAINED
    aigc = labels["aigc"]
    assert aigc["Label"] == "1" and aigc["ContentProducer"] and len(aigc["ProduceID"]) == 32
    assert set(aigc) == {"Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator",
                         "PropagateID", "ReservedCode2"}
    t2i = read_labels(embed_lineage(raw, fmt, dict(ai, product_pasted=False)))
    assert t2i["digital_source_type"] == DST_TRAINED


def test_format_mismatch_is_an_error():
    with pytest.raises(ValueError, match="not JPEG"):
        embed_lineage(encoded("PNG"), "JPEG", LINEAGE)
    with pytest.raises(ValueError):
        read_lineage(b"GIF89a....")
