"""The int8 recogniser (`skucore.quality.ocr_int8`): it reads our overlays as the float one does and still refuses
text that is not what we drew; it is built once per machine and cached, rebuilt when the cached copy is damaged,
built in memory when the cache cannot be written, and the engine falls back to the float recogniser when it
cannot be built at all."""
import hashlib
import io
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import skucore.quality.ocr as ocr
import skucore.quality.ocr_int8 as ocr_int8
from tests.helpers.quality_images import draw_text

REC_MODEL = Path(__import__("rapidocr_onnxruntime").__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"

# What overlays look like: prices, badges on brand plates, selling points; Latin and CJK; drawn, then JPEG q88.
OVERLAYS = [
    ("¥1,039", 56, (200, 0, 30), (250, 246, 240), None),
    ("$24.90", 40, (20, 20, 20), (255, 255, 255), None),
    ("到手价 ¥299", 36, (255, 255, 255), None, (228, 0, 43)),
    ("限时特惠", 44, (255, 255, 255), None, (228, 0, 43)),
    ("新品上市", 30, (40, 40, 40), (235, 225, 205), None),
    ("满300减50", 32, (255, 255, 255), None, (0, 90, 200)),
    ("Waterproof breathable fabric", 28, (40, 40, 40), (250, 246, 240), None),
    ("Free shipping over ¥99", 34, (90, 90, 90), (255, 255, 255), None),
    ("轻盈透气 舒适百搭", 28, (20, 20, 20), (248, 248, 240), None),
    ("SALE -30%", 48, (255, 255, 255), None, (30, 30, 30)),
]


def _jpeg_crop(text, size, fill, backdrop, plate):
    im = Image.new("RGB", (1000, 200), backdrop or (240, 240, 240))
    region = draw_text(im, text, (30, 60), size=size, fill=fill, plate=plate, kind="x")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=88)
    return Image.open(buf).convert("RGB").crop(region.box)


@pytest.fixture()
def engines():
    """(float reader, int8 reader): `read_texts` under each recogniser, the engine restored afterwards."""
    saved = (ocr._THREADS, ocr._FUSED, ocr._INT8)

    def reader(int8):
        def read(crops):
            ocr.configure(threads=1, int8=int8)
            return ocr.read_texts(crops)
        return read

    yield reader(False), reader(True)
    ocr.configure(saved[0], fused_graphs=saved[1], int8=saved[2])


def test_int8_reads_every_overlay_the_float_recogniser_reads(engines):
    read_float, read_int8 = engines
    crops = [_jpeg_crop(*o) for o in OVERLAYS]
    floats, int8s = read_float(crops), read_int8(crops)
    for (text, *_), (f, _), (q, score) in zip(OVERLAYS, floats, int8s):
        assert ocr.reads_as_drawn(f, text)[0], (text, f)
        assert ocr.reads_as_drawn(q, text)[0], (text, q)
        assert 0.5 < score <= 1.0


def test_int8_still_refuses_text_that_is_not_what_we_drew(engines):
    _, read_int8 = engines
    digits = _jpeg_crop("¥1,089", 48, (20, 20, 20), (255, 255, 255), None)  # we meant ¥1,039
    half = _jpeg_crop("Waterproof breathable fabric", 28, (40, 40, 40), (250, 246, 240), None)
    half = half.crop((0, 0, half.width // 2, half.height))  # the right half cut off
    (wrong, _), (cut, _) = read_int8([digits, half])
    assert not ocr.reads_as_drawn(wrong, "¥1,039")[0], wrong
    assert not ocr.reads_as_drawn(cut, "Waterproof breathable fabric")[0], cut


def test_the_engine_runs_the_int8_recogniser_by_default(engines, monkeypatch):
    monkeypatch.delenv("SKUSTUDIO_OCR_INT8", raising=False)
    ocr.configure(threads=1)
    int8 = ocr_int8.cached_int8_recogniser(REC_MODEL)
    ops = [n.op_type for n in onnx.load_from_string(int8).graph.node]
    assert ops.count("QLinearConv") == 10 and "Conv" in ops  # the heavy convolutions in int8, the rest float
    x = ocr.rec_input([_jpeg_crop("限时特惠", 44, (255, 255, 255), None, (228, 0, 43))])[0]
    engine_out = ocr.get_engine().text_rec.session.session.run(None, {"x": x})[0]
    int8_out = ort.InferenceSession(int8, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(engine_out, int8_out)


@pytest.mark.parametrize("raw,enabled", [("1", True), ("0", False), ("off", False), (" Yes ", True)])
def test_the_int8_setting_reads_the_usual_spellings(monkeypatch, raw, enabled):
    monkeypatch.setattr(ocr, "_INT8", None)
    monkeypatch.setenv("SKUSTUDIO_OCR_INT8", raw)
    assert ocr.int8_enabled() is enabled


def test_a_bad_int8_setting_is_an_error_that_names_it(monkeypatch):
    monkeypatch.setattr(ocr, "_INT8", None)
    monkeypatch.setenv("SKUSTUDIO_OCR_INT8", "maybe")
    with pytest.raises(ValueError, match="SKUSTUDIO_OCR_INT8"):
        ocr.int8_enabled()


def test_the_model_is_cached_rebuilt_when_damaged_and_the_build_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_CACHE_DIR", str(tmp_path))
    builds = []
    real_build = ocr_int8.int8_recogniser_bytes

    def counting_build(path):
        builds.append(path)
        return real_build(path)

    monkeypatch.setattr(ocr_int8, "int8_recogniser_bytes", counting_build)
    first = ocr_int8.cached_int8_recogniser(REC_MODEL)
    cached = list((tmp_path / "ocr").glob("rec-int8-*.onnx"))
    assert len(cached) == 1 and cached[0].read_bytes() == first
    assert cached[0].with_suffix(".sha256").read_text() == hashlib.sha256(first).hexdigest()
    assert ocr_int8.cached_int8_recogniser(REC_MODEL) == first and len(builds) == 1  # from the cache

    cached[0].write_bytes(b"half a model")  # a crash mid-copy, a full disk, a stray edit
    again = ocr_int8.cached_int8_recogniser(REC_MODEL)
    assert len(builds) == 2 and again == first  # rebuilt, and to the same bytes
    assert cached[0].read_bytes() == first
    ort.InferenceSession(again, providers=["CPUExecutionProvider"])


def test_an_unwritable_cache_still_gives_a_model(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SKUSTUDIO_CACHE_DIR", str(blocker / "skustudio"))
    with caplog.at_level(logging.WARNING, logger="skucore.quality.ocr_int8"):
        model = ocr_int8.cached_int8_recogniser(REC_MODEL)
    assert "not writable" in caplog.text
    ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def test_the_engine_falls_back_to_the_float_recogniser_and_says_why(engines, monkeypatch, caplog):
    def broken(path):
        raise RuntimeError("quantiser failed")

    monkeypatch.setattr(ocr_int8, "cached_int8_recogniser", broken)
    ocr.configure(threads=1, int8=True)
    with caplog.at_level(logging.WARNING, logger="skucore.quality.ocr"):
        engine = ocr.get_engine()
    assert "int8 recogniser unavailable" in caplog.text and "quantiser failed" in caplog.text
    crop = _jpeg_crop("¥1,039", 48, (20, 20, 20), (255, 255, 255), None)
    assert ocr.reads_as_drawn(ocr.read_texts([crop])[0][0], "¥1,039")[0]
    # The recogniser computes exactly what the fused float graph computes.
    from skucore.quality.ocr_graph import fused_model_bytes

    x = ocr.rec_input([crop])[0]
    session = engine.text_rec.session.session
    float_session = ort.InferenceSession(fused_model_bytes(REC_MODEL)[0], providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], float_session.run(None, {"x": x})[0], atol=1e-5)


def test_dead_channels_are_zeroed_and_live_ones_kept():
    w = np.random.default_rng(0).normal(size=(4, 3, 1, 1)).astype(np.float32)
    w[2] = 1e-21  # what batch-norm folding leaves of a channel the network switched off
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph)
    assert ocr_int8.zero_dead_channels(model, ["conv"]) == 1
    out = numpy_helper.to_array(model.graph.initializer[0])
    assert (out[2] == 0).all()
    np.testing.assert_array_equal(np.delete(out, 2, axis=0), np.delete(w, 2, axis=0))


def test_a_region_int8_does_not_confirm_is_read_again_in_float(engines, monkeypatch):
    ocr.configure(threads=1, int8=True)
    engine = ocr.get_engine()
    crop = _jpeg_crop("到手价 ¥299", 36, (255, 255, 255), None, (228, 0, 43))
    blank = np.zeros((1, 40, len(engine.text_rec.postprocess_op.character)), np.float32)
    blank[..., 0] = 1.0  # CTC blank at every step: an int8 recogniser whose rounding lost the whole line
    monkeypatch.setattr(engine.text_rec, "session", lambda batch: [np.repeat(blank, len(batch), axis=0)])
    assert ocr.read_texts([crop])[0][0] == ""
    (read, score, ok, unverified), = ocr.verify_texts([crop], ["到手价 ¥299"])
    assert ok and ocr.text_key(read) == ocr.text_key("到手价 ¥299") and score > 0.5 and unverified == []
    (read, _, ok, _), = ocr.verify_texts([crop], ["到手价 ¥399"])  # the float reading does not lie either
    assert not ok


def test_the_float_recogniser_reads_once_and_gives_no_second_reading(engines):
    read_float, _ = engines
    read_float([])  # configures the float engine
    wrong = _jpeg_crop("¥1,089", 48, (20, 20, 20), (255, 255, 255), None)
    (read, _, ok, _), = ocr.verify_texts([wrong], ["¥1,039"])
    assert not ok and ocr._FLOAT_TWIN is None  # no second model was loaded


def test_verify_texts_wants_one_drawn_text_per_crop():
    with pytest.raises(ValueError, match="2 crops but 1 drawn texts"):
        ocr.verify_texts([Image.new("RGB", (40, 20))] * 2, ["¥1"])
