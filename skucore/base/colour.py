"""Colour conversions and the CIEDE2000 colour difference.

Why our own CIEDE2000: none of our dependencies ships it (OpenCV converts to CIE L*a*b* but has no ΔE00), and the
small libraries that do (colormath, colour-science, scikit-image) are either unmaintained or large for one formula.
So the conversion sRGB -> L*a*b* (D65) is OpenCV's float path, and the difference is the standard formula as
published by Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
supplementary test data, and mathematical observations", vectorised with numpy. The unit tests check it against
that paper's test pairs, including the hue-angle wrap-around cases.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["hex_to_rgb", "parse_colour", "rgb_to_lab", "hex_to_lab", "ciede2000", "delta_e_rgb"]


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """"#RRGGBB" (or "RRGGBB", or "#RGB") -> (r, g, b) ints. Raises ValueError naming the bad value."""
    s = str(colour).strip().lstrip("#")
    if len(s) == 3:
        s = "".join(ch * 2 for ch in s)
    if len(s) != 6:
        raise ValueError(f"not a #RRGGBB colour: {colour!r}")
    try:
        return (int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16))
    except ValueError:
        raise ValueError(f"not a #RRGGBB colour: {colour!r}") from None


def parse_colour(value) -> tuple[int, int, int]:
    """'#RRGGBB' / 'RRGGBB' / '#RGB' (see `hex_to_rgb`) or an (r, g, b) sequence of 0..255 ints -> (r, g, b)."""
    if isinstance(value, str):
        return hex_to_rgb(value)
    if isinstance(value, (tuple, list)) and len(value) >= 3:
        r, g, b = (int(v) for v in value[:3])
        if not all(0 <= v <= 255 for v in (r, g, b)):
            raise ValueError(f"colour {value!r} has a channel outside 0..255")
        return (r, g, b)
    raise ValueError(f"colour {value!r} is neither '#RRGGBB' nor (r, g, b)")


def rgb_to_lab(rgb: np.ndarray | Sequence[float]) -> np.ndarray:
    """sRGB uint8 values (..., 3) -> CIE L*a*b* (D65) float64 (..., 3), L in 0..100.

    Uses OpenCV's float conversion (input scaled to 0..1), which applies the sRGB gamma and the D65 white point.
    """
    arr = np.asarray(rgb, dtype=np.float32)
    shape = arr.shape
    if shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB values, got shape {shape}")
    flat = (arr.reshape(-1, 1, 3) / 255.0).astype(np.float32)
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)
    return lab.reshape(shape).astype(np.float64)


def hex_to_lab(colour: str) -> np.ndarray:
    return rgb_to_lab(np.array(hex_to_rgb(colour), dtype=np.float32))


def ciede2000(lab1, lab2, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> np.ndarray | float:
    """CIEDE2000 ΔE between L*a*b* colours (broadcasting over leading axes). Returns a float for single pairs."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    C1 = np.hypot(a1, b1)
    C2 = np.hypot(a2, b2)
    Cbar = (C1 + C2) / 2.0
    Cbar7 = Cbar**7
    G = 0.5 * (1.0 - np.sqrt(Cbar7 / (Cbar7 + 25.0**7)))
    a1p = (1.0 + G) * a1
    a2p = (1.0 + G) * a2
    C1p = np.hypot(a1p, b1)
    C2p = np.hypot(a2p, b2)
    # hue angles in degrees, 0..360; defined as 0 where a' = b = 0
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    dLp = L2 - L1
    dCp = C2p - C1p
    zero_chroma = (C1p * C2p) == 0
    dh = h2p - h1p
    dhp = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dhp = np.where(zero_chroma, 0.0, dhp)
    dHp = 2.0 * np.sqrt(C1p * C2p) * np.sin(np.radians(dhp / 2.0))

    Lbarp = (L1 + L2) / 2.0
    Cbarp = (C1p + C2p) / 2.0
    hsum = h1p + h2p
    habs = np.abs(h1p - h2p)
    hbarp = np.where(
        zero_chroma,
        hsum,
        np.where(habs <= 180.0, hsum / 2.0, np.where(hsum < 360.0, (hsum + 360.0) / 2.0, (hsum - 360.0) / 2.0)),
    )
    T = (
        1.0
        - 0.17 * np.cos(np.radians(hbarp - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * hbarp))
        + 0.32 * np.cos(np.radians(3.0 * hbarp + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * hbarp - 63.0))
    )
    dtheta = 30.0 * np.exp(-(((hbarp - 275.0) / 25.0) ** 2))
    Cbarp7 = Cbarp**7
    RC = 2.0 * np.sqrt(Cbarp7 / (Cbarp7 + 25.0**7))
    SL = 1.0 + (0.015 * (Lbarp - 50.0) ** 2) / np.sqrt(20.0 + (Lbarp - 50.0) ** 2)
    SC = 1.0 + 0.045 * Cbarp
    SH = 1.0 + 0.015 * Cbarp * T
    RT = -np.sin(np.radians(2.0 * dtheta)) * RC

    tL = dLp / (kL * SL)
    tC = dCp / (kC * SC)
    tH = dHp / (kH * SH)
    dE = np.sqrt(tL**2 + tC**2 + tH**2 + RT * tC * tH)
    if np.ndim(dE) == 0:
        return float(dE)
    return dE


def delta_e_rgb(rgb1, rgb2) -> float | np.ndarray:
    """CIEDE2000 between sRGB colours given as uint8 triples (or "#RRGGBB" strings)."""
    if isinstance(rgb1, str):
        rgb1 = hex_to_rgb(rgb1)
    if isinstance(rgb2, str):
        rgb2 = hex_to_rgb(rgb2)
    return ciede2000(rgb_to_lab(rgb1), rgb_to_lab(rgb2))
