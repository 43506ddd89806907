"""How different two photos look: mean absolute error in 8-bit units and mean CIEDE2000 (the CIE's perceptual
colour difference; about 1 is the smallest difference a person notices side by side, above 3 is plainly visible).

Transparent pixels have no visible colour: with an alpha channel, colour is compared only where both photos are
at least partly opaque, and the alpha channels are compared on their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.helpers.icc_profiles import D50, D65_XY, SRGB_PRIMARIES, bradford, rgb_to_xyz_matrix, srgb_decode, xy_to_xyz, \
    xyz_d50_to_lab

_SRGB_TO_XYZ_D50 = bradford(xy_to_xyz(*D65_XY), D50) @ rgb_to_xyz_matrix(SRGB_PRIMARIES)


@dataclass(frozen=True)
class Difference:
    mean_abs: float         # colour channels, 0..255
    mean_de2000: float      # CIEDE2000, averaged over the compared pixels
    alpha_mean_abs: float   # 0 when neither photo has alpha
    same_shape: bool

    def within(self, mean_abs: float, de2000: float = 2.0, alpha: float = 1.0) -> bool:
        return (self.same_shape and self.mean_abs <= mean_abs and self.mean_de2000 <= de2000
                and self.alpha_mean_abs <= alpha)


def srgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    linear = srgb_decode(pixels[..., :3].astype(np.float64) / 255.0)
    return xyz_d50_to_lab(linear @ _SRGB_TO_XYZ_D50.T)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (Sharma, Wu and Dalal's formulation, kL = kC = kH = 1)."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(c1p * c2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    d_big_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(c1p * c2p == 0, h_sum,
                     np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                              np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (d_big_h / s_h) ** 2 + r_t * (dc / s_c) * (d_big_h / s_h))


def compare(actual: np.ndarray, expected: np.ndarray) -> Difference:
    if actual.shape[:2] != expected.shape[:2]:
        return Difference(float("inf"), float("inf"), float("inf"), False)
    alpha_a = actual[..., 3].astype(np.float64) if actual.shape[2] == 4 else np.full(actual.shape[:2], 255.0)
    alpha_e = expected[..., 3].astype(np.float64) if expected.shape[2] == 4 else np.full(expected.shape[:2], 255.0)
    visible = (alpha_a > 0) & (alpha_e > 0)
    if not visible.any():
        return Difference(0.0, 0.0, float(np.abs(alpha_a - alpha_e).mean()), True)
    rgb_a = actual[..., :3][visible].astype(np.float64)
    rgb_e = expected[..., :3][visible].astype(np.float64)
    de = ciede2000(srgb_to_lab(rgb_a), srgb_to_lab(rgb_e))
    return Difference(float(np.abs(rgb_a - rgb_e).mean()), float(de.mean()),
                      float(np.abs(alpha_a - alpha_e).mean()), True)
