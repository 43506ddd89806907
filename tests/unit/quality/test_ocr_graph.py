"""The fused OCR graphs compute what RapidOCR's stock graphs compute, and the engine falls back to the stock ones
when a graph cannot be fused."""
import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import skucore.quality.ocr as ocr
from skucore.quality.ocr_graph import fuse_for_cpu, fused_model_bytes
from tests.helpers.quality_images import draw_text

MODELS = Path(__import__("rapidocr_onnxruntime").__file__).parent / "models"


def _session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def _run(session, x):
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_fused_recogniser_reads_real_crops_as_the_stock_graph_does():
    path = MODELS / "ch_PP-OCRv4_rec_infer.onnx"
    fused, counts = fused_model_bytes(path)
    assert counts["hard_swish"] > 0 and counts["conv_affine"] > 0 and counts["affine_conv"] > 0
    stock_s, fused_s = _session(str(path)), _session(fused)
    im = Image.new("RGB", (900, 160), "#F5F0E6")
    region = draw_text(im, "Waterproof ¥1,039 限时特惠", (30, 40), size=32, fill="#333333")
    arr = ocr.prepare_crop(im.crop(region.box))
    width = ocr._rec_width(arr)
    import cv2

    x = (cv2.resize(arr, (width, ocr.REC_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0)[None]
    a, b = _run(stock_s, x), _run(fused_s, x)
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 1e-4
    assert (a.argmax(-1) == b.argmax(-1)).all()  # the same characters decoded at every step


def test_fused_detector_finds_the_same_text_map():
    path = MODELS / "ch_PP-OCRv4_det_infer.onnx"
    fused, counts = fused_model_bytes(path)
    assert counts["hard_swish"] > 0
    im = Image.new("RGB", (320, 320), (236, 230, 220))
    draw_text(im, "OPEN 24 HOURS", (20, 140), size=32, fill=(40, 40, 40))
    x = ((np.asarray(im, np.float32)[:, :, ::-1] / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()
    a, b = _run(_session(str(path)), x), _run(_session(fused), x)
    assert np.abs(a - b).max() < 1e-4


def _const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _toy_model(pads: int) -> onnx.ModelProto:
    """x -> Conv -> *s +t -> hard-swish -> *s2 +t2 -> Conv(pads) -> y: each pattern once, the last conv padded or not."""
    rng = np.random.default_rng(0)
    nodes = [
        _const("w1", rng.normal(size=(4, 3, 3, 3))), _const("b1", rng.normal(size=4)),
        _const("s", [1.7]), _const("t", [-0.3]), _const("three", [3.0]), _const("zero", [0.0]), _const("six", [6.0]),
        _const("s2", [0.6]), _const("t2", [0.25]),
        _const("w2", rng.normal(size=(5, 4, 1, 1)) if not pads else rng.normal(size=(5, 4, 3, 3))),
        _const("b2", rng.normal(size=5)),
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "s"], ["m1"], name="mul1"),
        helper.make_node("Add", ["m1", "t"], ["a1"], name="add1"),
        helper.make_node("Add", ["a1", "three"], ["h1"], name="hs_add"),
        helper.make_node("Clip", ["h1", "zero", "six"], ["h2"], name="hs_clip"),
        helper.make_node("Mul", ["a1", "h2"], ["h3"], name="hs_mul"),
        helper.make_node("Div", ["h3", "six"], ["h4"], name="hs_div"),
        helper.make_node("Mul", ["h4", "s2"], ["m2"], name="mul2"),
        helper.make_node("Add", ["m2", "t2"], ["a2"], name="add2"),
        helper.make_node("Conv", ["a2", "w2", "b2"], ["y"], name="conv2", pads=[pads] * 4),
    ]
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, None, None])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])


@pytest.mark.parametrize("pads,folded_into_next", [(0, 1), (1, 0)])
def test_fusion_is_exact_and_leaves_an_affine_before_a_padded_conv_alone(pads, folded_into_next):
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32) * 3
    original = _toy_model(pads)
    expected = _run(_session(original.SerializeToString()), x)
    fused = _toy_model(pads)
    counts = fuse_for_cpu(fused)
    onnx.checker.check_model(fused)
    assert counts == {"hard_swish": 1, "conv_affine": 1, "affine_conv": folded_into_next}
    ops = [n.op_type for n in fused.graph.node if n.op_type != "Constant"]
    assert "Clip" not in ops and "Div" not in ops
    # Padding: zeros at the border would become t2 if the affine were folded in; it must stay a Mul and an Add.
    assert ops.count("Add") == (0 if folded_into_next else 1)
    np.testing.assert_allclose(_run(_session(fused.SerializeToString()), x), expected, rtol=1e-5, atol=1e-5)


def test_engine_keeps_the_stock_graphs_and_says_so_when_fusion_fails(monkeypatch, caplog):
    import skucore.quality.ocr_graph as graph

    def broken(path):
        raise ValueError("unexpected graph")

    monkeypatch.setattr(graph, "fused_model_bytes", broken)
    monkeypatch.setattr(ocr, "_INT8", False)  # the int8 recogniser is built from the fused graph (tested apart)
    monkeypatch.setattr(ocr, "_ENGINE", None)
    try:
        with caplog.at_level(logging.WARNING, logger="skucore.quality.ocr"):
            engine = ocr.get_engine()
        assert engine.text_rec.session.session._model_path.endswith("ch_PP-OCRv4_rec_infer.onnx")
        assert "keeping the stock" in caplog.text and "unexpected graph" in caplog.text
        im = Image.new("RGB", (600, 120), "white")
        region = draw_text(im, "¥1,039", (30, 30), size=40)
        assert ocr.text_key(ocr.read_text(im.crop(region.box))[0]) == ocr.text_key("¥1,039")
    finally:
        ocr._ENGINE = None  # the next test gets the fused engine again


def test_engine_runs_the_fused_graphs_by_default():  # the recogniser's int8: tests/unit/quality/test_ocr_int8.py
    engine = ocr.get_engine()
    assert engine.text_rec.session.session._model_path is None  # built from the fused bytes, not the file
    assert engine.text_det.infer.session._model_path is None
