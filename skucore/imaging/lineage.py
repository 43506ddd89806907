"""Lineage and provenance labels inside the image file itself.

One XMP packet carries three things:
- ``skustudio:Lineage``: the lineage dict as canonical JSON (sku, promotion, scene/role, platform, template_id,
  prompt_hash, seed, backend, model_id, source_sha256, attempt, ai_generated, ...);
- ``Iptc4xmpExt:DigitalSourceType``: IPTC's digital source type: ``compositeWithTrainedAlgorithmicMedia`` for an AI
  background around the real product photo, ``trainedAlgorithmicMedia`` for a fully generated image
  (``lineage["product_pasted"] is False``) and ``compositeCapture`` for studio renders (a real photo on a
  procedural backdrop, no generative model); ``lineage["digital_source_type"]`` overrides the choice;
- ``TC260:AIGC`` (AI-generated images only): the implicit metadata label of China's 2025 labelling rules
  (GB 45438-2025), a JSON object {Label, ContentProducer, ProduceID, ReservedCode1, ContentPropagator, PropagateID,
  ReservedCode2}. Label "1" = generated/synthesised by AI.

Where it goes: JPEG: an APP1 segment with the "http://ns.adobe.com/xap/1.0/" header (inserted byte-wise after
SOI/APP0, the image data is not re-encoded). PNG: an iTXt chunk "XML:com.adobe.xmp" (the standard XMP place) plus an
iTXt "skustudio:lineage" with the JSON alone, both before the first IDAT. Re-embedding replaces our earlier chunks.
No time stamps: the same lineage gives the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
NS_SKU = "https://sku-studio.invalid/ns/lineage/1.0/"
# Namespace used by TC260's practice guide for the AIGC property (unverified against the guide's text here).
NS_TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"
DST_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DST_TRAINED = DST_BASE + "trainedAlgorithmicMedia"
DST_COMPOSITE_TRAINED = DST_BASE + "compositeWithTrainedAlgorithmicMedia"
DST_COMPOSITE_CAPTURE = DST_BASE + "compositeCapture"
PNG_LINEAGE_KEY = "skustudio:lineage"
PNG_XMP_KEY = "XML:com.adobe.xmp"
PNG_SIG = b"\x89PNG\r\n\x1a\n"
DEFAULT_PRODUCER = "SKU Studio"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digital_source_type(lineage: dict) -> str:
    if lineage.get("digital_source_type"):
        return str(lineage["digital_source_type"])
    if lineage.get("ai_generated"):
        return DST_TRAINED if lineage.get("product_pasted") is False else DST_COMPOSITE_TRAINED
    return DST_COMPOSITE_CAPTURE


def aigc_label(lineage: dict) -> dict | None:
    """The GB 45438-2025 implicit label for AI-generated content, else None."""
    if not lineage.get("ai_generated"):
        return None
    produce_id = hashlib.sha256(canonical_json(lineage).encode("utf-8")).hexdigest()[:32]
    return {
        "Label": "1",
        "ContentProducer": str(lineage.get("content_producer") or DEFAULT_PRODUCER),
        "ProduceID": produce_id,
        "ReservedCode1": str(lineage.get("prompt_hash") or ""),
        "ContentPropagator": str(lineage.get("content_propagator") or ""),
        "PropagateID": str(lineage.get("propagate_id") or ""),
        "ReservedCode2": "",
    }


def build_xmp(lineage: dict) -> bytes:
    """The XMP packet (UTF-8) for `lineage`."""
    dst = digital_source_type(lineage)
    aigc = aigc_label(lineage)
    parts = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        f'<rdf:RDF xmlns:rdf="{NS_RDF}">',
        f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{NS_IPTC_EXT}" xmlns:skustudio="{NS_SKU}"'
        + (f' xmlns:TC260="{NS_TC260}"' if aigc else "") + ">",
        f"<Iptc4xmpExt:DigitalSourceType>{escape(dst)}</Iptc4xmpExt:DigitalSourceType>",
        f"<skustudio:Lineage>{escape(canonical_json(lineage))}</skustudio:Lineage>",
    ]
    if aigc:
        parts.append(f"<TC260:AIGC>{escape(canonical_json(aigc))}</TC260:AIGC>")
    parts += ["</rdf:Description>", "</rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="w"?>']
    return "\n".join(parts).encode("utf-8")


def metadata_overhead(lineage: dict, fmt: str) -> int:
    """Bytes `embed_lineage` adds for `lineage` in format `fmt` (for file-size budgets)."""
    x = len(build_xmp(lineage))
    if fmt.upper() in ("JPEG", "JPG"):
        return x + len(XMP_HEADER) + 4
    j = len(canonical_json(lineage).encode("utf-8"))
    return x + j + 2 * (12 + 5 + 24)


# ----------------------------------------------------------------------------------------------------- JPEG
def _jpeg_segments(data: bytes):
    """Yield (start, end, marker) for each marker segment before SOS; the last item is (start, len, 0xDA)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"corrupt JPEG marker at byte {i}")
        while i < n and data[i] == 0xFF:
            i += 1
        marker = data[i]
        start = i - 1
        i += 1
        if marker == 0xDA or marker == 0xD9:
            yield start, n, marker
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            yield start, i, marker
            continue
        (length,) = struct.unpack(">H", data[i:i + 2])
        end = i + length
        yield start, end, marker
        i = end
    raise ValueError("JPEG ends before its image data")


def _embed_jpeg(data: bytes, xmp: bytes) -> bytes:
    payload = XMP_HEADER + xmp
    if len(payload) + 2 > 0xFFFF:
        raise ValueError(f"XMP packet of {len(xmp)} bytes does not fit one JPEG APP1 segment")
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    kept = []
    insert_at = None
    for start, end, marker in _jpeg_segments(data):
        seg = data[start:end]
        if marker == 0xE1 and seg[4:4 + len(XMP_HEADER)] == XMP_HEADER:
            continue  # drop earlier XMP
        if insert_at is None and marker not in (0xE0,):
            insert_at = len(kept)
        kept.append(seg)
    if insert_at is None:
        insert_at = len(kept)
    kept.insert(insert_at, app1)
    return b"\xff\xd8" + b"".join(kept)


def _read_jpeg_xmp(data: bytes) -> bytes | None:
    for start, end, marker in _jpeg_segments(data):
        if marker == 0xE1 and data[start + 4:start + 4 + len(XMP_HEADER)] == XMP_HEADER:
            return data[start + 4 + len(XMP_HEADER):end]
        if marker == 0xDA:
            break
    return None


# ------------------------------------------------------------------------------------------------------ PNG
def _png_chunks(data: bytes):
    if data[:8] != PNG_SIG:
        raise ValueError("not a PNG (bad signature)")
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        ctype = data[i + 4:i + 8]
        end = i + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        yield ctype, data[i + 8:i + 8 + length], data[i:end]
        i = end
        if ctype == b"IEND":
            return


def _itxt(keyword: str, text: str) -> bytes:
    body = keyword.encode("latin-1") + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
    return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)


def _itxt_parse(body: bytes) -> tuple[str, str]:
    kw, rest = body.split(b"\x00", 1)
    comp_flag = rest[0]  # rest[1] is the compression method: zlib is the only one PNG defines
    rest = rest[2:]
    _lang, rest = rest.split(b"\x00", 1)
    _tkw, text = rest.split(b"\x00", 1)
    if comp_flag:
        text = zlib.decompress(text)
    return kw.decode("latin-1"), text.decode("utf-8")


def _embed_png(data: bytes, xmp: bytes, lineage_json: str) -> bytes:
    out = [PNG_SIG]
    inserted = False
    for ctype, body, raw in _png_chunks(data):
        if ctype == b"iTXt":
            kw = body.split(b"\x00", 1)[0].decode("latin-1")
            if kw in (PNG_XMP_KEY, PNG_LINEAGE_KEY):
                continue
        if not inserted and ctype in (b"IDAT", b"IEND"):
            out.append(_itxt(PNG_XMP_KEY, xmp.decode("utf-8")))
            out.append(_itxt(PNG_LINEAGE_KEY, lineage_json))
            inserted = True
        out.append(raw)
    return b"".join(out)


def _read_png(data: bytes) -> tuple[bytes | None, str | None]:
    xmp = lin = None
    for ctype, body, _raw in _png_chunks(data):
        if ctype == b"iTXt":
            kw, text = _itxt_parse(body)
            if kw == PNG_XMP_KEY:
                xmp = text.encode("utf-8")
            elif kw == PNG_LINEAGE_KEY:
                lin = text
    return xmp, lin


# ------------------------------------------------------------------------------------------------------- API
def _fmt(fmt: str) -> str:
    f = fmt.upper()
    if f in ("JPG", "JPEG"):
        return "JPEG"
    if f == "PNG":
        return "PNG"
    raise ValueError(f"lineage embedding supports JPEG and PNG, not {fmt!r}")


def sniff_format(data: bytes) -> str:
    if data[:2] == b"\xff\xd8":
        return "JPEG"
    if data[:8] == PNG_SIG:
        return "PNG"
    raise ValueError("unknown image format (neither JPEG nor PNG)")


def embed_lineage(image_bytes: bytes, fmt: str, lineage: dict) -> bytes:
    """Return `image_bytes` with `lineage` (and its provenance labels) embedded; pixel data untouched."""
    fmt = _fmt(fmt)
    if sniff_format(image_bytes) != fmt:
        raise ValueError(f"bytes are {sniff_format(image_bytes)}, not {fmt}")
    xmp = build_xmp(lineage)
    if fmt == "JPEG":
        return _embed_jpeg(image_bytes, xmp)
    return _embed_png(image_bytes, xmp, canonical_json(lineage))


def _parse_xmp(xmp: bytes) -> dict:
    text = xmp.decode("utf-8", errors="replace")
    start = text.find("<x:xmpmeta")
    end = text.find("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    root = ET.fromstring(text[start:end + len("</x:xmpmeta>")])
    out: dict[str, Any] = {}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        el = desc.find(f"{{{NS_SKU}}}Lineage")
        if el is not None and el.text:
            out["lineage"] = json.loads(el.text)
        el = desc.find(f"{{{NS_IPTC_EXT}}}DigitalSourceType")
        if el is not None:
            out["digital_source_type"] = (el.text or el.get(f"{{{NS_RDF}}}resource") or "").strip()
        el = desc.find(f"{{{NS_TC260}}}AIGC")
        if el is not None and el.text:
            out["aigc"] = json.loads(el.text)
    return out


def read_labels(image_bytes: bytes) -> dict:
    """{"digital_source_type": str | None, "aigc": dict | None} from the file's XMP."""
    fmt = sniff_format(image_bytes)
    xmp = _read_jpeg_xmp(image_bytes) if fmt == "JPEG" else _read_png(image_bytes)[0]
    parsed = _parse_xmp(xmp) if xmp else {}
    return {"digital_source_type": parsed.get("digital_source_type"), "aigc": parsed.get("aigc")}


def read_lineage(image_bytes: bytes) -> dict:
    """The lineage dict embedded by `embed_lineage` ({} when the file has none)."""
    fmt = sniff_format(image_bytes)
    if fmt == "PNG":
        xmp, lin = _read_png(image_bytes)
        if lin is not None:
            return json.loads(lin)
        return _parse_xmp(xmp).get("lineage", {}) if xmp else {}
    xmp = _read_jpeg_xmp(image_bytes)
    return _parse_xmp(xmp).get("lineage", {}) if xmp else {}
