"""Product fidelity: does an output image still show the product's own pixels?

Compared at the export scale: the output's product box against the scaled cutout (`Scene.scaled_product`, the
product after its one Lanczos resize), over the *interior* of the product (alpha == 255, eroded `erode` px so the
resampled seam, where the backdrop legitimately shows through, is skipped).

Pass rules:
- PNG (lossless): exact, max abs diff 0. A studio image that fails this is a bug.
- JPEG (lossy) and any output that was rescaled after rendering: a tolerance model for compression error:
  PSNR >= 35 dB over the interior *and* no 8x8 block whose mean abs diff exceeds `block_mad_limit` (JPEG error is
  spread thin; a local edit of the product, e.g. a recoloured logo, concentrates in a few blocks, which the PSNR
  over the whole product could hide).
"""
from __future__ import annotations

import io
import math
from typing import Any

import cv2
import numpy as np
from PIL import Image

PSNR_PASS_DB = 35.0
BLOCK_MAD_LIMIT = 24.0
PSNR_CAP_DB = 100.0


def _as_rgb_array(output: Any) -> np.ndarray:
    if isinstance(output, (bytes, bytearray)):
        output = Image.open(io.BytesIO(bytes(output)))
    if isinstance(output, Image.Image):
        return np.asarray(output.convert("RGB"))
    arr = np.asarray(output)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError("output must be an RGB image (PIL, HxWx3 array or encoded bytes)")
    return arr[..., :3]


def product_fidelity(output_rgb: Any, product_box: tuple[int, int, int, int], scaled_product: Image.Image, *,
                     fmt: str = "PNG", erode: int = 2, psnr_threshold: float = PSNR_PASS_DB,
                     block_mad_limit: float = BLOCK_MAD_LIMIT) -> dict:
    """Compare the product region of `output_rgb` (PIL image, HxWx3 uint8 array or encoded bytes) with
    `scaled_product` (RGBA) placed at `product_box`. Returns a JSON-friendly dict (see module docstring)."""
    out = _as_rgb_array(output_rgb)
    x0, y0, x1, y1 = (int(v) for v in product_box)
    bw, bh = x1 - x0, y1 - y0
    ref = scaled_product if isinstance(scaled_product, Image.Image) else Image.fromarray(np.asarray(scaled_product))
    ref = ref.convert("RGBA") if ref.mode != "RGBA" else ref
    rescaled = ref.size != (bw, bh)
    if rescaled:  # the export was downscaled after rendering: compare with the product scaled the same way
        ref = ref.resize((bw, bh), Image.Resampling.LANCZOS)
        erode += 2
    fmt = fmt.upper()
    lossless = fmt == "PNG" and not rescaled
    H, W = out.shape[:2]
    if x0 < 0 or y0 < 0 or x1 > W or y1 > H or bw < 1 or bh < 1:
        raise ValueError(f"product box {product_box} does not lie inside the {W}x{H} output")
    ref_a = np.asarray(ref)
    opaque = (ref_a[..., 3] == 255).astype(np.uint8)
    interior = cv2.erode(opaque, np.ones((3, 3), np.uint8), iterations=erode) if erode > 0 else opaque
    if not interior.any():
        interior = opaque
    sel = interior.astype(bool)
    n = int(sel.sum())
    result: dict[str, Any] = {"format": fmt, "rescaled": rescaled, "pixels_compared": n, "erode_px": erode}
    if n == 0:
        result.update(max_abs_diff=None, mean_abs_diff=None, psnr_db=None, psnr=None, changed_fraction=None,
                      worst_block_mad=None, exact=False, passed=False, criterion="no_opaque_product_pixels",
                      reason="the product has no fully opaque pixels to compare")
        return result
    crop = np.ascontiguousarray(out[y0:y1, x0:x1])
    refc = np.ascontiguousarray(ref_a[..., :3])
    m8 = sel.astype(np.uint8)
    sq = cv2.norm(crop, refc, cv2.NORM_L2SQR, mask=m8)
    l1 = cv2.norm(crop, refc, cv2.NORM_L1, mask=m8)
    max_abs = int(cv2.norm(crop, refc, cv2.NORM_INF, mask=m8))
    mse = sq / (3.0 * n)
    psnr = PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * math.log10(255.0 ** 2 / mse))
    diff = cv2.absdiff(crop, refc)
    per_px = diff[..., 0].astype(np.float32) + diff[..., 1] + diff[..., 2]
    per_px *= sel
    changed = int(np.count_nonzero(per_px))
    # worst 8x8 block: mean abs diff over the block's interior pixels (block sums by area resampling)
    ph, pw = -(-bh // 8) * 8, -(-bw // 8) * 8
    s = np.zeros((ph, pw), np.float32); s[:bh, :bw] = per_px
    c = np.zeros((ph, pw), np.float32); c[:bh, :bw] = sel
    bs = cv2.resize(s, (pw // 8, ph // 8), interpolation=cv2.INTER_AREA) / 3.0
    bc = cv2.resize(c, (pw // 8, ph // 8), interpolation=cv2.INTER_AREA)
    valid = bc >= 0.25
    worst = float((bs[valid] / bc[valid]).max()) if valid.any() else float((bs / np.maximum(bc, 1e-6)).max())
    result.update(
        max_abs_diff=max_abs,
        mean_abs_diff=round(l1 / (3.0 * n), 4),
        psnr_db=round(psnr, 3),
        psnr=round(psnr, 3),  # alias read by skucore.quality.score and the asset metadata
        changed_fraction=round(changed / n, 6),
        worst_block_mad=round(worst, 3),
        exact=max_abs == 0,
    )
    if lossless:
        result["passed"] = max_abs == 0
        result["criterion"] = "exact"
    else:
        result["passed"] = psnr >= psnr_threshold and worst <= block_mad_limit
        result["criterion"] = f"psnr>={psnr_threshold}dB and worst_block_mad<={block_mad_limit}"
    if not result["passed"]:
        result["reason"] = ("product pixels altered" if lossless else
                            f"psnr {psnr:.2f} dB / worst block mean abs diff {worst:.1f} outside tolerance")
    return result
