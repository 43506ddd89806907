import numpy as np
import pytest
from PIL import Image

from tests.helpers.quality_images import draw_text
from skucore.quality.ocr import detect_text, normalise_text, read_text, read_texts, text_key


def test_normalise_text_nfkc_and_whitespace():
    assert normalise_text("￥1，039") == "¥1,039"
    assert normalise_text("  省\u3000 ¥260\n") == "省 ¥260"
    assert text_key("省 ¥260") == text_key("省￥260")
    assert text_key("¥1,039") != text_key("¥1,093")
    assert normalise_text(None) == ""


@pytest.mark.parametrize(
    "text,size,bg,fg",
    [
        ("¥1,039", 40, "white", "black"),
        ("¥1,039", 18, "white", "black"),  # small: upscaled before recognition
        ("限时特惠", 44, "#E4002B", "white"),
        ("省 ¥260", 36, "white", "#E4002B"),
        ("Waterproof breathable fabric", 28, "#F5F0E6", "#333333"),
    ],
)
def test_read_text_reads_back_what_we_drew(text, size, bg, fg):
    im = Image.new("RGB", (900, 160), bg)
    region = draw_text(im, text, (40, 40), size=size, fill=fg)
    read, score = read_text(im.crop(region.box))
    assert text_key(read) == text_key(text), (read, text)
    assert 0.5 < score <= 1.0


def test_read_text_tells_transposed_digits_apart():
    im = Image.new("RGB", (600, 120), "white")
    region = draw_text(im, "¥1,039", (30, 30), size=40)
    read, _ = read_text(im.crop(region.box))
    assert text_key(read) == text_key("¥1,039")
    assert text_key(read) != text_key("¥1,093")


def test_read_text_on_blank_crop_reads_nothing_useful():
    read, score = read_text(Image.new("RGB", (200, 50), "white"))
    assert text_key(read) != text_key("¥1,039")


def test_read_texts_reads_every_region_of_an_image_in_order():
    im = Image.new("RGB", (900, 400), "#F5F0E6")
    regions = [
        draw_text(im, "Waterproof breathable fabric", (40, 260), size=28, fill="#333333"),
        draw_text(im, "¥1,039", (40, 40), size=40, fill="#E4002B"),
        draw_text(im, "限时特惠", (400, 140), size=44, fill="white", plate="#E4002B", kind="badge"),
        draw_text(im, "省 ¥260", (40, 140), size=18),
    ]
    reads = read_texts([im.crop(r.box) for r in regions])
    assert [text_key(t) for t, _ in reads] == [text_key(r.text) for r in regions]
    assert all(0.5 < score <= 1.0 for _, score in reads)
    assert read_texts([]) == []


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_detect_text_finds_a_sign_and_nothing_on_a_plain_backdrop():
    im = Image.new("RGB", (800, 800), (236, 230, 220))
    assert detect_text(np.asarray(im)) == []
    sign = draw_text(im, "OPEN 24 HOURS", (160, 320), size=56, fill=(40, 40, 40))
    boxes = detect_text(np.asarray(im))
    assert boxes and all(_overlaps(b, sign.box) for b in boxes)
