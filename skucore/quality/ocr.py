"""Reading back the text we drew, with RapidOCR (PP-OCRv4 models shipped inside the `rapidocr-onnxruntime` wheel).

We know where every piece of text was drawn (`TextRegion.box`), so only the recognition model runs, on a crop of
that box (`use_det=False, use_cls=False`): about 15-50 ms a crop on a CPU, against about a second for detection
over a whole image. The engine is created on first use (importing `skucore` stays fast) and shared by the process.

RapidOCR reads "¥" as the fullwidth "￥" (and may emit fullwidth punctuation): compare `normalise_text` of both
sides, which applies NFKC and collapses whitespace; `text_key` also drops whitespace entirely, since the
recogniser does not reliably emit a space between CJK characters and symbols ("省 ¥260" reads "省￥260").
"""
from __future__ import annotations

import re
import threading
import unicodedata

import numpy as np
from PIL import Image

__all__ = ["get_engine", "read_text", "normalise_text", "text_key", "prepare_crop"]

_ENGINE = None
_ENGINE_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()

# The recogniser resizes every crop to a height of 48 px; text smaller than this is upscaled first so thin strokes
# survive, and a margin is added because glyphs touching the crop edge are often dropped.
TARGET_HEIGHT = 64
MIN_HEIGHT = 32

_WS = re.compile(r"\s+")


def get_engine():
    """The process-wide RapidOCR engine, created on first call (model load ~0.4 s)."""
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                from rapidocr_onnxruntime import RapidOCR  # lazy: onnxruntime import costs ~0.3 s

                _ENGINE = RapidOCR()
    return _ENGINE


def normalise_text(s: str | None) -> str:
    """NFKC (fullwidth "￥" -> "¥", fullwidth digits and commas -> ASCII) and whitespace collapsed to one space."""
    if s is None:
        return ""
    return _WS.sub(" ", unicodedata.normalize("NFKC", str(s))).strip()


def text_key(s: str | None) -> str:
    """The form two texts are compared in: `normalise_text` with every whitespace removed. Every other character
    (digits, currency signs, punctuation, case) must match exactly."""
    return _WS.sub("", normalise_text(s))


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
    if crop.width < 1 or crop.height < 1:
        return "", 0.0
    arr = prepare_crop(crop)
    engine = get_engine()
    with _CALL_LOCK:  # onnxruntime sessions are thread-safe, but RapidOCR keeps per-call state on the object
        result, _elapse = engine(arr, use_det=False, use_cls=False, use_rec=True)
    if not result:
        return "", 0.0
    texts = [str(r[0]) for r in result if r and r[0]]
    scores = [float(r[1]) for r in result if r and r[0]]
    if not texts:
        return "", 0.0
    return "".join(texts), float(min(scores))
