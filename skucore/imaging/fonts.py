"""Fonts for overlay text: a CJK-capable face that the project's own install provides.

Order of preference for the default face:
1. `noto-cjk-sans-otc` (NotoSansCJK-Regular.ttc): the Simplified Chinese face, found by its name
   ("Noto Sans CJK SC", index 2 in the shipped collection; looked up, not assumed);
2. `pylopdf-fonts-zh-cn` (NotoSansSC-Regular.otf);
3. a few common system paths (a developer machine).
A brand kit's font (a path) is used when it loads and has every glyph of the text; otherwise the default face draws
that text (`font_for_text`). Glyph coverage is checked against the face's .notdef ("tofu") bitmap.

Layout uses Pillow's BASIC engine on purpose: the same bytes with or without libraqm on the machine.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

# A codepoint no font here maps (plane-16 private use): renders as the face's .notdef glyph.
NOTDEF_PROBE = "\U0010FFFD"

_SYSTEM_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", None),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", None),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
)


class FontNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int = 0
    name: str = ""


def _face_names(path: str) -> list[tuple[int, str]]:
    names = []
    for i in range(32):
        try:
            f = ImageFont.truetype(path, 12, index=i)
        except OSError:
            break
        fam, style = f.getname()
        names.append((i, f"{fam} {style}"))
    return names


def _sc_index(path: str) -> int | None:
    """Index of the Simplified Chinese, proportional face in a collection (None when there is none)."""
    best = None
    for i, name in _face_names(path):
        if " SC" in name or name.endswith("SC") or " SC " in name:
            if "Mono" not in name:
                return i
            best = i if best is None else best
    return best


def _package_file(package: str, filename: str) -> str | None:
    try:
        from importlib.resources import files

        p = files(package).joinpath(filename)
        if p.is_file():
            return str(p)
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        return None
    return None


@functools.lru_cache(maxsize=1)
def default_cjk_face() -> FontFace:
    """The default CJK-capable face (see module docstring); raises `FontNotFound` with what was tried."""
    tried = []
    ttc = _package_file("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc")
    if ttc:
        idx = _sc_index(ttc)
        if idx is not None:
            f = ImageFont.truetype(ttc, 12, index=idx)
            return FontFace(ttc, idx, " ".join(f.getname()))
        tried.append(f"{ttc} (no SC face)")
    else:
        tried.append("noto_cjk_sans_otc (not installed)")
    otf = _package_file("pylopdf_fonts_zh_cn", "NotoSansSC-Regular.otf")
    if otf:
        f = ImageFont.truetype(otf, 12)
        return FontFace(otf, 0, " ".join(f.getname()))
    tried.append("pylopdf_fonts_zh_cn (not installed)")
    for path, idx in _SYSTEM_CANDIDATES:
        if os.path.isfile(path):
            i = _sc_index(path) if idx is None else idx
            i = 0 if i is None else i
            f = ImageFont.truetype(path, 12, index=i)
            return FontFace(path, i, " ".join(f.getname()))
        tried.append(path)
    raise FontNotFound("no CJK-capable font found; install noto-cjk-sans-otc or pylopdf-fonts-zh-cn. Tried: "
                       + "; ".join(tried))


@functools.lru_cache(maxsize=256)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


def load_font(size: int, face: FontFace | None = None) -> ImageFont.FreeTypeFont:
    """A FreeType font of `size` px (cached). Default: `default_cjk_face()`."""
    face = face or default_cjk_face()
    return _load(face.path, face.index, max(1, int(size)))


def brand_face(font: str | os.PathLike | None) -> FontFace | None:
    """A brand kit's font as a face, or None when it is unset, missing or cannot be loaded. "path#index" picks a
    face in a collection."""
    if not font:
        return None
    s = str(font)
    index = 0
    if "#" in s and s.rsplit("#", 1)[1].isdigit():
        s, idx = s.rsplit("#", 1)
        index = int(idx)
    if not Path(s).is_file():
        return None
    try:
        f = ImageFont.truetype(s, 12, index=index)
    except OSError:
        return None
    return FontFace(s, index, " ".join(f.getname()))


@functools.lru_cache(maxsize=4096)
def _glyph_signature(path: str, index: int, ch: str) -> bytes:
    f = _load(path, index, 32)
    mask = f.getmask(ch)
    return repr(mask.size).encode() + bytes(mask)


def missing_glyphs(face: FontFace, text: str) -> list[str]:
    """Characters of `text` that `face` would draw as its .notdef box (whitespace ignored)."""
    notdef = _glyph_signature(face.path, face.index, NOTDEF_PROBE)
    out = []
    for ch in dict.fromkeys(text):
        if ch.isspace():
            continue
        if _glyph_signature(face.path, face.index, ch) == notdef:
            out.append(ch)
    return out


def font_for_text(text: str, size: int, brand_font: str | os.PathLike | None = None) -> ImageFont.FreeTypeFont:
    """The brand font when it loads and covers every glyph of `text`, else the default CJK face."""
    bf = brand_face(brand_font)
    if bf is not None and not missing_glyphs(bf, text):
        return load_font(size, bf)
    return load_font(size)
