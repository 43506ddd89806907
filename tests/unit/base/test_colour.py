import numpy as np
import pytest

from skucore.base.colour import ciede2000, delta_e_rgb, hex_to_lab, hex_to_rgb

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1 (pair number, Lab1, Lab2, ΔE00)
SHARMA = [
    (1, (50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    (2, (50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    (3, (50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    (7, (50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    (13, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    (14, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0010), 7.1792),
    (15, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0011), 7.2195),
    (16, (50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0012), 7.2195),
    (17, (50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    (18, (50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    (19, (50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    (20, (50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    (25, (60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


@pytest.mark.parametrize("n,lab1,lab2,expected", SHARMA)
def test_ciede2000_matches_sharma_reference_pairs(n, lab1, lab2, expected):
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)  # symmetric


def test_ciede2000_vectorised_equals_pairwise():
    a = np.array([p[1] for p in SHARMA])
    b = np.array([p[2] for p in SHARMA])
    got = ciede2000(a, b)
    assert got.shape == (len(SHARMA),)
    np.testing.assert_allclose(got, [p[3] for p in SHARMA], atol=1e-4)


def test_srgb_to_lab_reference_colours():
    np.testing.assert_allclose(hex_to_lab("#FFFFFF"), [100.0, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(hex_to_lab("#FF0000"), [53.24, 80.09, 67.20], atol=0.05)
    assert delta_e_rgb("#E4002B", "#E4002B") == 0.0
    assert delta_e_rgb("#E4002B", "#0047AB") > 40


def test_hex_parsing():
    assert hex_to_rgb("#e4002b") == (228, 0, 43)
    assert hex_to_rgb("fff") == (255, 255, 255)
    with pytest.raises(ValueError, match="#RRGGBB"):
        hex_to_rgb("#12345")
