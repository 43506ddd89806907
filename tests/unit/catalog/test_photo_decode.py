"""decode_photo against what a person sees: every photo kind from make_photo_kinds, compared with its reference
(mean absolute error and CIEDE2000), and the old `Image.open().convert("RGB")` shown wrong on the hostile ones."""
import io
import threading

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from tests.helpers.colour_difference import compare
from tests.helpers.photo_kinds import make_photo_kinds
from skucore.catalog.photo_decode import PhotoDecodeError, decode_photo

KINDS = make_photo_kinds()
VIEWABLE = [k for k in KINDS.values() if k.expected is not None]
REFUSED = [k for k in KINDS.values() if k.expected is None]
MAX_DE2000 = 2.0  # mean CIEDE2000: about the smallest difference a person notices side by side


def _naive(data: bytes) -> np.ndarray:
    """What the pipeline did before issue 9."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("kind", VIEWABLE, ids=lambda k: k.name)
def test_each_kind_decodes_as_a_person_sees_it(kind):
    decoded = decode_photo(kind.data)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == kind.expected.shape, kind.description
    difference = compare(decoded.pixels, kind.expected)
    assert difference.within(kind.max_mean_abs, MAX_DE2000), (kind.description, difference)


@pytest.mark.parametrize("kind", [k for k in VIEWABLE if k.naive_is_wrong], ids=lambda k: k.name)
def test_hostile_kinds_really_defeat_the_naive_conversion(kind):
    # Keeps the test photos honest: if Pillow ever handled a kind by itself, this says the kind stopped testing us.
    try:
        naive = _naive(kind.data)
    except Exception:
        return  # not even readable that way (float RGB TIFF)
    if kind.expected.shape[2] == 4:
        naive = np.dstack([naive, np.full(naive.shape[:2], 255, np.uint8)]) if naive.shape[:2] == \
            kind.expected.shape[:2] else naive
    assert not compare(naive, kind.expected).within(kind.max_mean_abs, MAX_DE2000)


def test_16_bit_png_is_not_binarised():
    kind = KINDS["png16_grey"]
    white_share = lambda pixels: float((pixels[..., :3].min(axis=2) == 255).mean())  # noqa: E731
    assert white_share(_naive(kind.data)) > 0.9  # the bug in issue 9: 96% of a 16-bit PNG turned white
    decoded = decode_photo(kind.data)
    assert abs(white_share(decoded.pixels) - white_share(kind.expected)) < 0.01
    assert (decoded.original_mode, decoded.bit_depth) == ("I;16", 16)


def test_48_bit_png_reports_its_depth():
    decoded = decode_photo(KINDS["png48_rgb"].data)
    assert decoded.bit_depth == 16 and decoded.pixels.shape[2] == 3


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_matches_exif_transpose(orientation):
    data = KINDS[f"jpeg_exif_orientation_{orientation}"].data
    decoded = decode_photo(data)
    assert decoded.orientation == orientation
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(decoded.pixels, upright)


def test_sideways_camera_jpeg_comes_out_upright():
    # Issue 9: a JPEG stored turned with EXIF orientation 6 was published sideways.
    kind = KINDS["jpeg_exif_orientation_6"]
    assert _naive(kind.data).shape[:2] == (300, 240)  # stored turned
    assert decode_photo(kind.data).size == (300, 240)  # (width, height) of the upright reference


@pytest.mark.parametrize("name, description", [
    ("adobe_rgb_jpeg", "Adobe RGB"), ("display_p3_png", "Display P3"), ("cmyk_jpeg_icc", "CMYK")])
def test_icc_profiled_photos_report_the_profile_they_went_through(name, description):
    decoded = decode_photo(KINDS[name].data)
    assert decoded.had_icc and decoded.icc_applied
    assert description in decoded.icc_description


def test_photo_without_profile_is_taken_as_srgb():
    decoded = decode_photo(KINDS["jpeg_srgb"].data)
    assert not decoded.had_icc and not decoded.icc_applied and decoded.icc_description is None


def test_damaged_profile_is_ignored_not_fatal(make_reference):
    buffer = io.BytesIO()
    make_reference.save(buffer, "PNG", icc_profile=b"not an ICC profile at all" * 8)
    decoded = decode_photo(buffer.getvalue())
    assert decoded.had_icc and not decoded.icc_applied
    assert np.array_equal(decoded.pixels, np.asarray(make_reference))


def test_profile_of_another_colour_space_is_ignored(make_reference):
    from tests.helpers.icc_profiles import cmyk_printing_profile

    buffer = io.BytesIO()
    make_reference.save(buffer, "PNG", icc_profile=cmyk_printing_profile())  # a CMYK profile on an RGB photo
    decoded = decode_photo(buffer.getvalue())
    assert decoded.had_icc and not decoded.icc_applied
    assert np.array_equal(decoded.pixels, np.asarray(make_reference))


def test_opaque_alpha_is_dropped_and_real_alpha_kept():
    assert decode_photo(KINDS["rgba_png"].data).has_alpha
    opaque = io.BytesIO()
    Image.new("RGBA", (40, 30), (10, 20, 30, 255)).save(opaque, "PNG")
    assert not decode_photo(opaque.getvalue()).has_alpha


@pytest.mark.parametrize("kind", REFUSED, ids=lambda k: k.name)
def test_unusable_photos_are_refused_with_their_reason(kind):
    with pytest.raises(PhotoDecodeError) as caught:
        decode_photo(kind.data)
    assert caught.value.reason == kind.reason
    assert caught.value.message and kind.reason in str(caught.value)


@pytest.mark.parametrize("kind", [k for k in VIEWABLE if k.animated], ids=lambda k: k.name)
def test_animations_take_the_first_frame_or_are_refused(kind):
    decoded = decode_photo(kind.data, animated="first_frame")
    assert decoded.frames == 2
    assert compare(decoded.pixels, kind.expected).within(kind.max_mean_abs, MAX_DE2000)
    with pytest.raises(PhotoDecodeError) as caught:
        decode_photo(kind.data, animated="reject")
    assert caught.value.reason == "photo_animated"


def test_pages_of_a_tiff_are_not_an_animation():
    decoded = decode_photo(KINDS["tiff_two_pages"].data, animated="reject")
    assert decoded.frames == 2


def _forbid_decoding(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_pixel_limit_refuses_before_decoding(monkeypatch):
    data = KINDS["jpeg_srgb"].data
    _forbid_decoding(monkeypatch)
    with pytest.raises(PhotoDecodeError) as caught:
        decode_photo(data, max_pixels=300 * 240 - 1)
    assert caught.value.reason == "photo_too_many_pixels" and "before decoding" in caught.value.message
    with pytest.raises(AssertionError, match="decoded"):  # the guard above really guards
        decode_photo(data, max_pixels=300 * 240)


def test_float_tiff_pixel_limit_is_checked_from_its_header():
    with pytest.raises(PhotoDecodeError) as caught:
        decode_photo(KINDS["tiff_float_rgb"].data, max_pixels=1000)
    assert caught.value.reason == "photo_too_many_pixels"


def test_padding_truncated_photos_is_refused(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode_photo(KINDS["jpeg_srgb"].data)


def test_bad_setting_is_a_value_error():
    with pytest.raises(ValueError, match="animated"):
        decode_photo(KINDS["jpeg_srgb"].data, animated="all")


def test_profiled_decoding_is_thread_safe():
    # The catalog decodes photos in a thread pool and the ICC transforms are cached and shared.
    data = [KINDS[name].data for name in ("adobe_rgb_jpeg", "cmyk_jpeg_icc", "display_p3_png")] * 4
    expected = [decode_photo(d).pixels for d in data]
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = decode_photo(data[i]).pixels

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(data))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(results[i], expected[i]) for i in range(len(data)))


@pytest.fixture
def make_reference():
    from tests.helpers.photo_kinds import reference_photo

    return reference_photo(size=(120, 96))
