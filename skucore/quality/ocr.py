"""Reading back the text we drew, with RapidOCR (PP-OCRv4 models shipped inside the `rapidocr-onnxruntime` wheel).

We know where every piece of text was drawn (`TextRegion.box`), so only the recognition model runs, on crops of
those boxes: `read_texts` recognises all of an image's crops in one call, batching crops of similar width together
(each resized to the model's 48 px height at its own width: the recogniser's cost grows with the width it is
given, and RapidOCR's own batching pads every crop to at least 320 px and a batch to its widest crop). Detection
(about a second over a whole 800 x 800 image) runs only where text could be that we did not draw: `detect_text`,
on a generated scene's backdrop (`skucore.quality.score`). The engine is created on first use (importing
`skucore` stays fast), once per process (`configure` sets its threads).

RapidOCR reads "¥" as the fullwidth "￥" (and may emit fullwidth punctuation): compare `normalise_text` of both
sides, which applies NFKC and collapses whitespace; `text_key` also drops whitespace entirely, since the
recogniser does not reliably emit a space between CJK characters and symbols ("省 ¥260" reads "省￥260").
"""
from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image

from skucore.base.settings import env_flag

__all__ = ["configure", "get_engine", "int8_enabled", "read_text", "read_texts", "verify_texts", "rec_input",
           "detect_text", "normalise_text", "text_key", "prepare_crop"]

_log = logging.getLogger(__name__)
_ENGINE = None
_READABLE: frozenset[str] | None = None
_ENGINE_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()

# The recogniser resizes every crop to a height of 48 px; text smaller than this is upscaled first so thin strokes
# survive, and a margin is added because glyphs touching the crop edge are often dropped.
TARGET_HEIGHT = 64
MIN_HEIGHT = 32
REC_HEIGHT = 48  # the recogniser's input height (PP-OCRv4 rec)
BUCKET_SPREAD = 1.35  # crops batched together are at most this much wider than the narrowest of them

_WS = re.compile(r"\s+")


_THREADS: int | None = None
_FUSED = True
_INT8: bool | None = None  # None: the SKUSTUDIO_OCR_INT8 setting decides
_INT8_BUILT_FROM: str | None = None  # the stock model the engine's int8 recogniser was built from, if it is int8
_FLOAT_TWIN = None  # that float recogniser's session, created on the first second reading


def int8_enabled() -> bool:
    """Whether the recogniser runs its heavy convolutions in int8 (`ocr_int8`): `configure(int8=...)` when given,
    else the SKUSTUDIO_OCR_INT8 setting ("0" turns it off; on by default)."""
    if _INT8 is not None:
        return _INT8
    return env_flag("SKUSTUDIO_OCR_INT8", True)


def configure(threads: int | None = None, *, fused_graphs: bool = True, int8: bool | None = None) -> None:
    """onnxruntime threads of this process's engine (None = onnxruntime's default, every core). A worker pool
    gives each worker one: the pool supplies the parallelism, and more threads per small crop only contend.
    `fused_graphs=False` keeps RapidOCR's stock model graphs, and `int8=False` a float recogniser
    (`bench/bench_quality.py` compares them); `int8=None` leaves it to SKUSTUDIO_OCR_INT8."""
    global _THREADS, _FUSED, _INT8, _ENGINE
    with _ENGINE_LOCK:
        if threads != _THREADS or fused_graphs != _FUSED or int8 != _INT8:
            _THREADS, _FUSED, _INT8, _ENGINE = threads, fused_graphs, int8, None
            _forget_float_twin()


def _forget_float_twin() -> None:
    global _INT8_BUILT_FROM, _FLOAT_TWIN
    _INT8_BUILT_FROM, _FLOAT_TWIN = None, None


def get_engine():
    """The process-wide RapidOCR engine, created on first call (model load ~0.4 s)."""
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                from rapidocr_onnxruntime import RapidOCR  # lazy: onnxruntime import costs ~0.3 s

                threads = {} if not _THREADS else {"intra_op_num_threads": int(_THREADS), "inter_op_num_threads": 1}
                # Detection at the size `detect_text` scales to (RapidOCR's default enlarges to 736 px and more).
                engine = RapidOCR(det_limit_type="max", **threads)
                _forget_float_twin()
                if _FUSED:
                    _use_fused_graphs(engine)
                _ENGINE = engine
    return _ENGINE


def _session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = False  # as RapidOCR sets it: crops vary in width, arenas only grow
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if _THREADS:
        options.intra_op_num_threads, options.inter_op_num_threads = int(_THREADS), 1
    return options


def _use_fused_graphs(engine) -> None:
    """Give the engine's recogniser and detector sessions on `ocr_graph.fuse_for_cpu`'s rewrite of the same
    models (the recogniser about 30 % faster on one thread, same outputs), the recogniser with its heavy
    convolutions in int8 when `int8_enabled()` (`ocr_int8`: about 20 % faster again). If a rewrite fails, for
    instance on a model a newer rapidocr ships, the engine keeps the float or the stock graph and says so in the
    log: only speed is lost."""
    import onnxruntime as ort

    from skucore.quality.ocr_graph import fused_model_bytes

    global _INT8_BUILT_FROM
    for part in (engine.text_rec.session, engine.text_det.infer):
        stock = part.session
        options = _session_options()
        if part is engine.text_rec.session and int8_enabled():
            from skucore.quality.ocr_int8 import cached_int8_recogniser

            try:
                model = cached_int8_recogniser(stock._model_path)
                part.session = ort.InferenceSession(model, sess_options=options, providers=stock.get_providers())
                _INT8_BUILT_FROM = stock._model_path
                _log.debug("OCR %s: int8 heavy convolutions", Path(stock._model_path).name)
                continue
            except Exception as exc:  # noqa: BLE001 - the float graph below still works
                _log.warning("OCR: int8 recogniser unavailable, using the float one (%s: %s)",
                             type(exc).__name__, exc)
        try:
            model, counts = fused_model_bytes(stock._model_path)
            part.session = ort.InferenceSession(model, sess_options=options, providers=stock.get_providers())
            _log.debug("OCR %s: fused %s", Path(stock._model_path).name, counts)
        except Exception as exc:  # noqa: BLE001 - the stock session still works; only speed is lost
            _log.warning("OCR: keeping the stock %s graph (%s: %s)", Path(str(stock._model_path)).name,
                         type(exc).__name__, exc)


def normalise_text(s: str | None) -> str:
    """NFKC (fullwidth "￥" -> "¥", fullwidth digits and commas -> ASCII) and whitespace collapsed to one space."""
    if s is None:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", str(s))).strip()


def text_key(s: str | None) -> str:
    """The form two texts are compared in: `normalise_text` with every whitespace removed. Every other character
    (digits, currency signs, punctuation, case) must match exactly."""
    return _WS.sub("", normalise_text(s))


def readable_characters() -> frozenset[str]:
    """The characters the recogniser can emit: its dictionary as it stands. Others ("€", "£", scripts it was not
    trained on) are never read back, however well drawn. Not NFKC-normalised on purpose: the dictionary's
    fullwidth "￡" would make "£" look readable, and the recogniser does not read a drawn "£" as it."""
    global _READABLE
    if _READABLE is None:
        chars = get_engine().text_rec.postprocess_op.character
        _READABLE = frozenset(c for c in chars if c and c.strip()) | {" "}
    return _READABLE


def verifiable_key(s: str | None) -> tuple[str, list[str]]:
    """`text_key(s)` without the characters the recogniser cannot emit, and those characters (in order, once
    each): what OCR can confirm of a drawn text, and what it cannot."""
    readable = readable_characters()
    key = text_key(s)
    missing = [c for c in key if c not in readable]
    return "".join(c for c in key if c in readable), list(dict.fromkeys(missing))


def reads_as_drawn(read: str | None, drawn: str | None) -> tuple[bool, list[str]]:
    """Whether OCR's `read` confirms the `drawn` text: every character the recogniser can emit matches exactly
    (in `text_key` form); one it cannot emit ("£") may come back as nothing or as one look-alike ("f10" for
    "£10"), never as more. Returns (confirmed, the characters OCR could not confirm). A text with nothing the
    recogniser can read is never confirmed."""
    readable = readable_characters()
    key = text_key(drawn)
    missing = list(dict.fromkeys(c for c in key if c not in readable))
    if not any(c in readable for c in key):
        return False, missing
    pattern = "".join(re.escape(c) if c in readable else "." + "?" for c in key)
    return re.fullmatch(pattern, text_key(read), flags=re.DOTALL) is not None, missing


def _border_colour(arr: np.ndarray) -> tuple[int, int, int]:
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]], axis=0)
    return tuple(int(v) for v in np.median(border, axis=0))


def prepare_crop(crop: Image.Image) -> np.ndarray:
    """RGB crop -> padded, upscaled-if-small uint8 array as the recogniser likes it. The padding takes the crop's
    own border colour (a badge plate stays its colour), a quarter of the text height on each side."""
    img = crop.convert("RGB")
    w, h = img.size
    if h < MIN_HEIGHT:
        scale = TARGET_HEIGHT / max(h, 1)
        img = img.resize((max(1, round(w * scale)), TARGET_HEIGHT), Image.Resampling.LANCZOS)
    arr = np.asarray(img)
    h = arr.shape[0]
    pad = max(4, h // 4)
    colour = _border_colour(arr)
    out = np.empty((h + 2 * pad, arr.shape[1] + 2 * pad, 3), dtype=np.uint8)
    out[:] = colour
    out[pad : pad + h, pad : pad + arr.shape[1]] = arr
    return out


def read_text(crop: Image.Image) -> tuple[str, float]:
    """Recognition only on one crop of a single text line. Returns (raw text as read, confidence 0..1);
    ("", 0.0) when nothing was read. Exceptions from the engine propagate (the caller reports an error)."""
    return read_texts([crop])[0]


def _rec_width(arr: np.ndarray) -> int:
    return max(8, math.ceil(REC_HEIGHT * arr.shape[1] / arr.shape[0]))


def _buckets(widths: list[int]) -> list[list[int]]:
    """Indices grouped by width (narrow first), each group within BUCKET_SPREAD of its narrowest crop."""
    groups: list[list[int]] = []
    for i in sorted(range(len(widths)), key=lambda i: widths[i]):
        if groups and widths[i] <= BUCKET_SPREAD * widths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _rec_row(arr: np.ndarray, width: int) -> np.ndarray:
    """A prepared crop as the recogniser reads it: 3 x 48 x `width`, values scaled to -1..1."""
    import cv2

    resized = cv2.resize(arr, (width, REC_HEIGHT)).astype(np.float32)
    return resized.transpose(2, 0, 1) / 127.5 - 1.0


def rec_input(crops: list[Image.Image]) -> list[np.ndarray]:
    """Each crop as the recogniser's input on its own (1 x 3 x 48 x W, W from its aspect ratio), prepared as
    `read_texts` prepares it (`ocr_int8` calibrates on these)."""
    out = []
    for crop in crops:
        arr = prepare_crop(crop)
        out.append(_rec_row(arr, _rec_width(arr))[None])
    return out


def _float_twin():
    """The float recogniser beside the engine's int8 one (fused graph, same options), created on first use."""
    global _FLOAT_TWIN
    with _ENGINE_LOCK:
        if _FLOAT_TWIN is None:
            import onnxruntime as ort

            from skucore.quality.ocr_graph import fused_model_bytes

            _FLOAT_TWIN = ort.InferenceSession(fused_model_bytes(_INT8_BUILT_FROM)[0], sess_options=_session_options(),
                                               providers=["CPUExecutionProvider"])
        return _FLOAT_TWIN


def read_texts(crops: list[Image.Image], *, float_recogniser: bool = False) -> list[tuple[str, float]]:
    """`read_text` of each crop, in order, recognised together: crops of similar width share a batch, each
    resized to 48 px high at its own aspect ratio and padded to its batch's widest (zeros, as the recogniser
    pads). An empty crop reads ("", 0.0). `float_recogniser`: read with the float recogniser even where the
    engine's is the int8 one (`verify_texts` asks it for second readings)."""
    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    arrays = {i: prepare_crop(c) for i, c in enumerate(crops) if c.width >= 1 and c.height >= 1}
    if not arrays:
        return out
    order = list(arrays)
    widths = [_rec_width(arrays[i]) for i in order]
    rec = get_engine().text_rec  # RapidOCR's recogniser: its ONNX session and CTC decoder
    if float_recogniser and _INT8_BUILT_FROM:
        twin = _float_twin()
        name = twin.get_inputs()[0].name

        def run(batch):
            return twin.run(None, {name: batch})
    else:
        run = rec.session
    for group in _buckets(widths):
        batch = np.zeros((len(group), 3, REC_HEIGHT, max(widths[g] for g in group)), np.float32)
        for row, g in enumerate(group):
            batch[row, :, :, : widths[g]] = _rec_row(arrays[order[g]], widths[g])
        with _CALL_LOCK:
            preds = run(batch)[0]
        for g, (text, score) in zip(group, rec.postprocess_op(preds)):
            out[order[g]] = (str(text), float(score)) if text else ("", 0.0)
    return out


def verify_texts(crops: list[Image.Image], drawn: list[str]) -> list[tuple[str, float, bool, list[str]]]:
    """Each crop read and compared with the text drawn there (`reads_as_drawn`): (read, confidence, confirmed,
    characters OCR could not confirm), in order. One batched call reads them all; where the engine's recogniser is
    the int8 one, a crop it does not confirm is read again by the float recogniser, whose reading stands. Int8's
    rounding costs some exact reads of hard crops (short struck-through prices: 352 of 360 against 358 in
    `bench/bench_struck_prices.py`); it cannot make a read exact where the text is not there, so the second
    reading only restores what rounding lost, at no cost while every text reads."""
    if len(drawn) != len(crops):
        raise ValueError(f"verify_texts: {len(crops)} crops but {len(drawn)} drawn texts")
    results = []
    for (read, score), text in zip(read_texts(crops), drawn):
        ok, unverified = reads_as_drawn(read, text)
        results.append((read, score, ok, unverified))
    again = [i for i, r in enumerate(results) if not r[2]] if _INT8_BUILT_FROM else []
    if again:
        for i, (read, score) in zip(again, read_texts([crops[i] for i in again], float_recogniser=True)):
            ok, unverified = reads_as_drawn(read, drawn[i])
            results[i] = (read, score, ok, unverified)
    return results


def detect_text(rgb: np.ndarray, *, max_side: int = 640, min_score: float = 0.6) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1, in `rgb`'s pixels) where the detector sees text, on `rgb` scaled so its longer
    side is at most `max_side` (detection costs grow with the pixels: about a second at 800 x 800 on one core)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (max(32, round(w * scale)), max(32, round(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    det = get_engine().text_det
    with _CALL_LOCK:
        boxes, _elapse = det(np.ascontiguousarray(small[:, :, ::-1]))  # the detector reads BGR, as cv2 loads
    found = []
    for quad in boxes if boxes is not None else []:
        xs, ys = quad[:, 0] / scale, quad[:, 1] / scale
        found.append((int(xs.min()), int(ys.min()), int(math.ceil(xs.max())), int(math.ceil(ys.max()))))
    return found
