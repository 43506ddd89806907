"""An int8 copy of the OCR recogniser's heaviest convolutions, built on this machine and cached.

Why: recognition is most of what quality scoring costs per image, and three quarters of the recogniser's time is
convolution; ten 1 x 1 convolutions with 128 to 480 channels on both sides do about 70 % of that work. In int8
they run about 2.3 times faster on one core (onnxruntime's QLinearConv), and the whole recogniser 10 to 20 %
faster. Every other operator stays float: quantising the small and depthwise convolutions adds more
quantise/dequantise passes (around each hard-swish) than it saves, and quantising the classifier head read
worse (`bench/bench_ocr_int8.py` prints the reads and the speed of each model, float against int8).

How: onnxruntime's own static quantisation (`onnxruntime.quantization.quantize_static`, QOperator format,
per-channel weights, min/max calibration) of `ocr_graph.fuse_for_cpu`'s graph, calibrated on text this module
draws itself: lines of prices, badges and selling points in Latin and CJK script, in the product's own overlay
face, on plates, flat and lightly textured backdrops; and the product's own overlays (`typography`), struck-through
list prices included, at three export sizes. All JPEG-compressed, cropped and prepared exactly as `ocr.read_texts`
prepares a crop. The recipe is deterministic; weights are uint8 (onnxruntime's u8u8 kernels widen to 16 bits
before they multiply, where the u8s8 ones can saturate on AVX2 machines without VNNI, such as this project's).

Int8's rounding costs a few exact reads of hard crops (short struck-through prices) and never makes a read exact
where the text is not there: `ocr.verify_texts` reads a region int8 does not confirm again in float.

The model is built once per machine (about 9 s) and cached under `cache_dir()` by a key of the source model's
bytes, this recipe's version and the onnxruntime and onnx versions; processes that start together wait on one
lock, and one builds. A cache that cannot be written still gets a model (built in memory, every process).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["RECIPE_VERSION", "HEAVY_MIN_CHANNELS", "cache_dir", "calibration_inputs", "heavy_convolutions",
           "int8_recogniser_bytes", "cached_int8_recogniser", "zero_dead_channels"]

_log = logging.getLogger(__name__)

RECIPE_VERSION = 2  # bump when anything below changes what the built model computes
HEAVY_MIN_CHANNELS = 128  # a group-1 convolution with at least this many input and output channels runs in int8

# Calibration text: what overlays say (texts disjoint from the tests' and the benchmarks' reading corpora).
_CALIBRATION_TEXTS = (
    "¥2,499", "$7.50", "€129,00", "£45", "到手价 ¥1,299", "立减 ¥80", "爆款推荐", "热卖", "第二件半价", "Limited edition",
    "HOT", "Soft touch lining", "Machine washable", "超值套装 限时抢", "Ships in 24h", "柔软亲肤 四季可穿", "-50%",
    "Last chance", "618大促", "Gift box included", "¥88.8", "会员专享 9折",
)
_CALIBRATION_SIZES = (18, 26, 34, 44, 60)


def cache_dir() -> Path:
    """`SKUSTUDIO_CACHE_DIR`, else `$XDG_CACHE_HOME/skustudio`, else `~/.cache/skustudio`."""
    explicit = os.environ.get("SKUSTUDIO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skustudio"


def calibration_inputs() -> list[np.ndarray]:
    """The recogniser inputs (1 x 3 x 48 x W float32 each) the calibration runs: text lines drawn on plates, flat
    and lightly textured backdrops, and the product's own overlays (`typography.apply_overlays`: price tags with a
    struck-through list price, badges, selling points) at three export sizes and three brand kits; all JPEG q85,
    cropped to their boxes and prepared by `ocr.rec_input`. Deterministic (fixed seed, the product's own face)."""
    return _line_inputs() + _overlay_inputs()


def _jpeg(im):
    """`im` (a PIL image) after a round trip through JPEG q85, 4:4:4 as the exports are encoded."""
    from PIL import Image

    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85, subsampling=0)
    return Image.open(buf).convert("RGB")


def _line_inputs() -> list[np.ndarray]:
    from PIL import Image, ImageDraw

    from skucore.imaging.fonts import load_font
    from skucore.quality.ocr import rec_input

    rng = np.random.default_rng(20261130)
    styles = (  # (text colour, backdrop colour, plate colour or None)
        ((30, 30, 30), (255, 255, 255), None), ((255, 255, 255), (230, 230, 230), (0, 90, 200)),
        ((0, 120, 60), (248, 248, 240), None), ((120, 60, 0), (220, 210, 190), None),
        ((255, 255, 255), (250, 246, 240), (228, 0, 43)), ((20, 20, 20), (200, 200, 200), None),
    )
    inputs = []
    for i, text in enumerate(_CALIBRATION_TEXTS):
        for j, size in enumerate(_CALIBRATION_SIZES):
            fill, backdrop, plate = styles[(i + j) % len(styles)]
            canvas = np.empty((size * 3, size * len(text) + 80, 3), np.uint8)
            canvas[:] = backdrop
            if (i + j) % 3 == 0:  # a lightly textured backdrop: the check also reads text on photos and scenes
                canvas = np.clip(canvas.astype(np.int16) + rng.normal(0, 5, canvas.shape), 0, 255).astype(np.uint8)
            im = Image.fromarray(canvas)
            draw = ImageDraw.Draw(im)
            font = load_font(size)
            left, top, right, bottom = draw.textbbox((20, size), text, font=font)
            pad = max(4, size // 5)
            box = (left - pad, top - pad, right + pad + 1, bottom + pad + 1)
            if plate is not None:
                draw.rectangle(box, fill=plate)
            draw.text((20, size), text, font=font, fill=fill)
            inputs += rec_input([_jpeg(im).crop(box)])
    return inputs


# The product's own overlays (prices and kits other than the benchmarks' and the tests').
_OVERLAY_CASES = (
    (3, 2.5, "USD", "包邮", ("Quick dry", "UPF 50+")),
    (15, 9.9, "USD", "NEW IN", ("Hand wash only",)),
    (23, 18, "CNY", "爆款", ("纯棉 亲肤", "四季可穿")),
    (2699, 2199, "CNY", "年货节", ("Stainless steel 304",)),
    (77, 59, "USD", "2 for 1", ("轻薄 透气",)),
)
_OVERLAY_KITS = ({"primary": "#0B6E4F"}, {"primary": "#F2A900", "secondary": "#FFFFFF", "text": "#202020"},
                 {"primary": "#5B2A86", "accent": "#E94F37"})
_OVERLAY_SIZES = ((480, 480), (800, 800), (1200, 1200))


def _overlay_inputs() -> list[np.ndarray]:
    from PIL import Image

    from skucore.imaging import typography
    from skucore.quality.ocr import rec_input

    inputs = []
    for k, kit in enumerate(_OVERLAY_KITS):
        for size in _OVERLAY_SIZES:
            for c, (price, promo, currency, badge, points) in enumerate(_OVERLAY_CASES):
                if (k + c) % 2:  # half the combinations: enough variety, half the calibration time
                    continue
                im = Image.new("RGB", size, (246, 243, 238))
                layout = typography.overlay_layout(size, ["badge", "selling_points", "price"])
                regions = typography.apply_overlays(im, layout, price=price, promo_price=promo, currency=currency,
                                                    badge_text=badge, selling_points=points, brand_kit=kit)
                decoded = _jpeg(im)
                inputs += rec_input([decoded.crop(r.box) for r in regions])
    return inputs


def heavy_convolutions(model) -> list[str]:
    """Names of the group-1 convolutions of `model` (an `onnx.ModelProto`) with at least HEAVY_MIN_CHANNELS input
    and output channels: the ones worth running in int8."""
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in weights:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        out_ch, in_ch = weights[node.input[1]][:2]
        if group == 1 and min(out_ch, in_ch) >= HEAVY_MIN_CHANNELS:
            names.append(node.name)
    return names


DEAD_CHANNEL_MAX = 1e-9  # an output channel whose weights are all below this is a constant (its bias)


def zero_dead_channels(model, names: list[str]) -> int:
    """Set to exactly 0 the weights of output channels that are constant in all but name (after batch-norm folding
    some of the recogniser's channels keep weights of 1e-21 or less). Quantised per channel, such a channel's
    scale is so small that its bias cannot be written as int32 and is clipped, which shifts what every later layer
    reads from it; with zero weights the quantiser keeps the bias exactly. Returns the channels zeroed."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    zeroed = 0
    for node in model.graph.node:
        if node.name not in names:
            continue
        tensor = inits[node.input[1]]
        w = numpy_helper.to_array(tensor).copy()
        dead = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) < DEAD_CHANNEL_MAX
        if dead.any():
            w[dead] = 0.0
            tensor.CopyFrom(numpy_helper.from_array(w, tensor.name))
            zeroed += int(dead.sum())
    return zeroed


def int8_recogniser_bytes(stock_model: str | Path) -> bytes:
    """The recogniser at `stock_model` (RapidOCR's PP-OCRv4 rec ONNX file), fused (`ocr_graph`), with its heavy
    convolutions quantised to int8 as the module docstring says; serialised. Takes about 9 s."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, \
        quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from skucore.quality.ocr_graph import fused_model_bytes

    fused, _counts = fused_model_bytes(stock_model)
    # Per-channel quantisation writes DequantizeLinear with an axis, which needs opset 13; the shipped model is 12.
    model = version_converter.convert_version(onnx.load_from_string(fused), 17)
    input_name = model.graph.input[0].name
    samples = calibration_inputs()

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(samples)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    with tempfile.TemporaryDirectory(prefix="skustudio-ocr-int8-") as tmp:
        src, pre, out = (Path(tmp) / n for n in ("fused.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, str(src))
        # Folds each batch norm into its convolution, so that the quantised convolution carries it.
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        folded = onnx.load(str(pre))
        heavy = heavy_convolutions(folded)
        if not heavy:
            raise ValueError(f"{Path(stock_model).name}: no convolution with >= {HEAVY_MIN_CHANNELS} channels")
        zero_dead_channels(folded, heavy)
        onnx.save(folded, str(pre))
        quantize_static(str(pre), str(out), _Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["Conv"],
                        nodes_to_quantize=heavy)
        return out.read_bytes()


def _cache_key(stock_model: Path) -> str:
    import onnx
    import onnxruntime

    h = hashlib.sha256(stock_model.read_bytes())
    h.update(f"recipe={RECIPE_VERSION};ort={onnxruntime.__version__};onnx={onnx.__version__}".encode())
    return h.hexdigest()[:20]


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _intact(target: Path) -> bytes | None:
    """The cached model at `target` if it is whole: its bytes hash to what its `.sha256` file says (written after
    the model, so a copy cut short by a crash or a full disk never passes)."""
    try:
        data = target.read_bytes()
        recorded = target.with_suffix(".sha256").read_text().strip()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == recorded else None


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    try:
        os.chmod(tmp.name, 0o644)  # readable by every process that shares the cache, as a normal file is
        os.replace(tmp.name, path)
    except OSError:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def cached_int8_recogniser(stock_model: str | Path) -> bytes:
    """`int8_recogniser_bytes(stock_model)`: from the cache when it holds a whole copy, else built and stored
    (atomically, under a lock, so that of several processes starting together one builds and the others wait).
    A cache folder that cannot be written still gets a model, built in memory, with a warning."""
    stock_model = Path(stock_model)
    folder = cache_dir() / "ocr"
    target = folder / f"rec-int8-{_cache_key(stock_model)}.onnx"
    data = _intact(target)
    if data is not None:
        return data
    with contextlib.ExitStack() as held:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            held.enter_context(_locked(folder / ".lock"))
        except OSError as exc:
            _log.warning("OCR: cache folder %s is not writable (%s); building the int8 recogniser in memory",
                         folder, exc)
            return int8_recogniser_bytes(stock_model)
        data = _intact(target)  # built by another process while this one waited for the lock
        if data is not None:
            return data
        if target.exists():
            _log.warning("OCR: cached %s is damaged; building it again", target)
        data = int8_recogniser_bytes(stock_model)
        try:
            _write_atomically(target, data)
            _write_atomically(target.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode())
            _log.info("OCR: built the int8 recogniser, cached at %s", target)
        except OSError as exc:
            _log.warning("OCR: could not cache the int8 recogniser at %s (%s)", target, exc)
        return data
