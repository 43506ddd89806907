"""What kind of image a byte string holds, from its first bytes (never the file name or a Content-Type header).

Shop CDNs serve WebP or AVIF from URLs ending in .jpg, and error pages come back as "image/jpeg": only the bytes
can be trusted. The signatures are the ones each format's specification fixes at offset 0 (ISO BMFF formats: the
brand of the leading `ftyp` box).
"""
from __future__ import annotations

# Enough bytes to recognise every format below.
SNIFF_BYTES = 32

_ISO_BRANDS = {b"avif": "avif", b"avis": "avif", b"heic": "heic", b"heix": "heic", b"heim": "heic",
               b"heis": "heic", b"hevc": "heic", b"mif1": "heif", b"msf1": "heif"}


def sniff_image_type(head: bytes) -> str | None:
    """'jpeg', 'png', 'gif', 'webp', 'tiff', 'bmp', 'avif', 'heic', 'heif', 'jp2' or None (not an image we know)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 14:
        return "bmp"
    if head[4:8] == b"ftyp":
        kind = _ISO_BRANDS.get(head[8:12])
        if kind == "heif":  # generic HEIF major brand: AVIF files often name "avif" among the compatible brands
            compatible = head[16:int.from_bytes(head[:4], "big")]
            if any(compatible[i:i + 4] in (b"avif", b"avis") for i in range(0, len(compatible) - 3, 4)):
                return "avif"
        return kind
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return "jp2"
    return None
