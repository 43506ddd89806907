"""Small ICC profiles built from their published definitions, for making test photos (no profile files to license).

- `adobe_rgb_profile()`: Adobe RGB (1998): the primaries, D65 white and 563/256 gamma of Adobe's published
  "Adobe RGB (1998) Color Image Encoding" specification, as a matrix/TRC display profile.
- `display_p3_profile()`: Display P3: DCI-P3 primaries with the D65 white and the sRGB transfer curve (what
  Apple's "Display P3" profile encodes).
- `cmyk_printing_profile()`: a made-up printing condition (ink that darkens more than the textbook formula, plus
  black). Real CMYK profiles (SWOP, FOGRA) cannot be redistributed; this one only has to differ enough from the
  naive "255 - C - K" conversion that a decoder ignoring it visibly fails. `cmyk_from_srgb` inverts it exactly.

The profiles are ICC v2.1, written byte by byte (header, tag table, tags); LittleCMS (Pillow's ImageCms) reads them.
Colorants are the primaries' XYZ adapted to the ICC D50 connection space with the Bradford transform, as the ICC
specification asks of matrix/TRC profiles.
"""
from __future__ import annotations

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

# Test CMYK printing condition: device grey level = ((1 - ink) ** CMYK_GAMMA); 1.0 would be the naive formula.
CMYK_GAMMA = 1.8
CMYK_BLACK_SHARE = 0.35  # share of the darkness moved to the K channel by cmyk_from_srgb


# --------------------------------------------------------------------------------------------------- colour maths

def xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_matrix(primaries: tuple[tuple[float, float], ...], white_xy=D65_XY) -> np.ndarray:
    """Linear RGB -> XYZ (columns: the primaries scaled so that RGB 1,1,1 is the white with Y = 1)."""
    columns = np.stack([xy_to_xyz(*p) for p in primaries], axis=1)
    scale = np.linalg.solve(columns, xy_to_xyz(*white_xy))
    return columns * scale


def bradford(source_white: np.ndarray, target_white: np.ndarray) -> np.ndarray:
    cone_source = BRADFORD @ source_white
    cone_target = BRADFORD @ target_white
    return np.linalg.inv(BRADFORD) @ np.diag(cone_target / cone_source) @ BRADFORD


SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
ADOBE_RGB_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
DISPLAY_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def xyz_d50_to_lab(xyz: np.ndarray) -> np.ndarray:
    t = xyz / D50
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


# --------------------------------------------------------------------------------------------------- ICC writing

def _s15(value: float) -> bytes:
    return struct.pack(">i", int(round(value * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII part, empty Unicode part, empty ScriptCode part (67 filler bytes).
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _text_tag(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def _gamma_curve(gamma: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, int(round(gamma * 256)))


def _table_curve(values: np.ndarray) -> bytes:
    table = np.clip(np.round(values * 65535), 0, 65535).astype(">u2")
    return b"curv" + b"\0" * 4 + struct.pack(">I", len(table)) + table.tobytes()


def _assemble(device_class: bytes, colour_space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    header_size, entry_size = 128, 12
    offset = header_size + 4 + entry_size * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + device_class + colour_space + pcs
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 4 + struct.pack(">I", 0) + b"\0" * 8
              + b"\0" * 8 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + b"sk9 " + b"\0" * 16
              + b"\0" * 28)
    assert len(header) == header_size
    return header + struct.pack(">I", len(tags)) + table + body


def matrix_trc_profile(description: str, primaries, trc: bytes, white_xy=D65_XY) -> bytes:
    """An RGB display profile from primaries (xy), a white point (xy) and one tone curve for all three channels."""
    to_xyz = rgb_to_xyz_matrix(primaries, white_xy)
    adapted = bradford(xy_to_xyz(*white_xy), D50) @ to_xyz
    tags = [
        (b"desc", _desc_tag(description)),
        (b"cprt", _text_tag("No copyright, use freely (SKU Studio test profile)")),
        (b"wtpt", _xyz_tag(D50)),  # v2 display profiles commonly state the adapted (D50) white
        (b"rXYZ", _xyz_tag(adapted[:, 0])), (b"gXYZ", _xyz_tag(adapted[:, 1])), (b"bXYZ", _xyz_tag(adapted[:, 2])),
        (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc),
    ]
    return _assemble(b"mntr", b"RGB ", b"XYZ ", tags)


def adobe_rgb_profile() -> bytes:
    return matrix_trc_profile("Adobe RGB (1998) compatible (SKU Studio test)", ADOBE_RGB_PRIMARIES,
                              _gamma_curve(563 / 256))


def display_p3_profile() -> bytes:
    curve = srgb_decode(np.linspace(0.0, 1.0, 1024))
    return matrix_trc_profile("Display P3 compatible (SKU Studio test)", DISPLAY_P3_PRIMARIES, _table_curve(curve))


# --------------------------------------------------------------------------------------------------- test CMYK

def srgb_from_cmyk(cmyk: np.ndarray) -> np.ndarray:
    """The test printing condition: CMYK in 0..1 -> encoded sRGB in 0..1."""
    c, m, y, k = (cmyk[..., i] for i in range(4))
    keep = (1 - k) ** CMYK_GAMMA
    return np.stack([((1 - c) ** CMYK_GAMMA) * keep, ((1 - m) ** CMYK_GAMMA) * keep,
                     ((1 - y) ** CMYK_GAMMA) * keep], axis=-1)


def cmyk_from_srgb(rgb: np.ndarray) -> np.ndarray:
    """Inverse of srgb_from_cmyk with some grey component moved to black. rgb: encoded sRGB 0..1 -> CMYK 0..1."""
    light = np.clip(rgb, 0.0, 1.0) ** (1 / CMYK_GAMMA)  # 1 - ink per channel, before black
    lightest = light.max(axis=-1, keepdims=True)
    keep = 1 - CMYK_BLACK_SHARE * (1 - lightest)  # 1 - k; always >= lightest, so the inks stay within 0..1
    inks = 1 - light / keep
    return np.concatenate([np.clip(inks, 0, 1), 1 - keep], axis=-1)


def _lab_legacy16(lab: np.ndarray) -> np.ndarray:
    """Lab -> the ICC v2 16-bit Lab encoding used in lut16Type (L 100 = 0xFF00, a/b 0 = 0x8000)."""
    encoded = np.stack([lab[..., 0] * 652.80, (lab[..., 1] + 128) * 256, (lab[..., 2] + 128) * 256], axis=-1)
    return np.clip(np.round(encoded), 0, 65535).astype(">u2")


def cmyk_printing_profile(grid: int = 11) -> bytes:
    """An output (printer) profile whose A2B0 lut16 maps CMYK to Lab through `srgb_from_cmyk`."""
    axis = np.linspace(0.0, 1.0, grid)
    c, m, y, k = np.meshgrid(axis, axis, axis, axis, indexing="ij")  # first input varies slowest, as ICC wants
    rgb = srgb_from_cmyk(np.stack([c, m, y, k], axis=-1).reshape(-1, 4))
    to_xyz_d50 = bradford(xy_to_xyz(*D65_XY), D50) @ rgb_to_xyz_matrix(SRGB_PRIMARIES)
    lab = xyz_d50_to_lab(srgb_decode(rgb) @ to_xyz_d50.T)
    clut = _lab_legacy16(lab)
    identity_entries = 2  # 2-entry linear input and output curves
    lut = (b"mft2" + b"\0" * 4 + struct.pack(">BBBB", 4, 3, grid, 0)
           + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
           + struct.pack(">HH", identity_entries, identity_entries)
           + np.tile(np.array([0, 65535], ">u2"), 4).tobytes()
           + clut.tobytes()
           + np.tile(np.array([0, 65535], ">u2"), 3).tobytes())
    tags = [
        (b"desc", _desc_tag("SKU Studio test CMYK (gamma 1.8 inks)")),
        (b"cprt", _text_tag("No copyright, use freely (SKU Studio test profile)")),
        (b"wtpt", _xyz_tag(D50)),
        (b"A2B0", lut),
    ]
    return _assemble(b"prtr", b"CMYK", b"Lab ", tags)
