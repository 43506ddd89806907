"""Near duplicates across the SKUs of a promotion, judged on the product and the scene, not on a shared layout.

Two different products on one card layout (same template, mostly white, the same price plate and badge) share
almost all of their pixels, so a hash of the whole image called them duplicates: on the 30 sample packshots
rendered on the detail card, 57 of 435 pairs of different products were within 4 bits of a whole-image dHash.
`image_fingerprint` therefore hashes three things apart:

- the product region (the export's `product_box`): a 144-bit (12 x 12) dHash of its grey levels. A 64-bit one
  cannot tell two tote bags with different prints apart (5 bits), the 144-bit one puts them 17 to 20 bits apart
  while the same render rescaled 0.6x or 1.9x and re-encoded stays within 7;
- the product region's mean colour (CIE L*a*b*), so colour variants of one garment (same outline, same folds)
  are different products;
- the scene: the whole image shrunk to 64 px with the product box and the text overlays (grown to cover their
  plates) filled in from their surroundings (OpenCV inpainting), then a 64-bit dHash.

Two images are near duplicates when their product regions match (dHash within `max_bits` and mean colours within
`max_colour_delta` CIEDE2000) AND their scenes match (within `max_scene_bits`): the same product on the same
scene. Product distances are given in bits of a 64-bit hash (144-bit counts x 64 / 144), so `max_bits` means
what it meant for whole-image hashes (4 by default: 9 of 144 bits). On the sample renders above this leaves 4 or
5 pairs per template, each a pair of sample photos that are the same picture under two names.

A fingerprint is a string "fp1:<product dHash hex>:<L a b hex>:<scene dHash hex>", stored where the whole-image
hashes were (the promotion's hash table). Plain hex hashes (`perceptual_hash`, and hashes stored before
fingerprints) still work: each kind is compared only with its own kind.
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from skucore.base.colour import ciede2000, rgb_to_lab
from skucore.quality.metrics import MetricResult, clip_box, error_result, ok_result

FINGERPRINT_PREFIX = "fp1:"
DECODE_SIDE = 400  # images are decoded at no less than this longest side (JPEG draft mode)
PRODUCT_HASH_SIZE = 12  # 144 bits
PRODUCT_BITS_SCALE = 64 / PRODUCT_HASH_SIZE**2  # product distances are reported in bits of a 64-bit hash
SCENE_SIDE = 64  # the scene is judged on a thumbnail: its layout and tones, not its fine texture
TEXT_PLATE_GROW = 0.6  # text boxes grow by this share of their height to cover the plate drawn around them
DEFAULT_MAX_SCENE_BITS = 12
DEFAULT_MAX_COLOUR_DELTA = 10.0


def perceptual_hash(image_bytes: bytes, method: str = "dhash", hash_size: int = 8) -> str:
    """Hex perceptual hash of a whole encoded image: "dhash" (default) or "phash" (imagehash, 64 bits at size 8)."""
    import imagehash

    funcs = {"dhash": imagehash.dhash, "phash": imagehash.phash}
    if method not in funcs:
        raise ValueError(f"unknown hash method {method!r}; use one of {sorted(funcs)}")
    with Image.open(io.BytesIO(image_bytes)) as im:
        return str(funcs[method](im.convert("RGB"), hash_size=hash_size))


@dataclass(frozen=True)
class Fingerprint:
    product: int  # 144-bit dHash of the product region
    lab: tuple[float, float, float]  # the product region's mean colour
    scene: int  # 64-bit dHash of the scene with product and text filled in


def _dhash_bits(grey: np.ndarray, size: int = 8) -> int:
    """size x size-bit difference hash of a grey image (as imagehash.dhash: (size + 1) x size area-resized,
    left < right)."""
    small = cv2.resize(grey, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def image_fingerprint(image_bytes: bytes, product_box: Sequence[int],
                      mask_boxes: Sequence[Sequence[int]] = ()) -> str:
    """The fingerprint of an encoded image (see the module docstring). `product_box` is (x0, y0, x1, y1) in the
    image's pixels; `mask_boxes` are the text regions drawn on it (their plates are masked with them).
    Raises ValueError for a product box outside the image."""
    with Image.open(io.BytesIO(image_bytes)) as im:
        w, h = im.size
        # a JPEG decodes at 1/2 .. 1/8 scale for about that share of the time: hashes need no more detail
        im.draft("RGB", (max(1, w * DECODE_SIDE // max(w, h)), max(1, h * DECODE_SIDE // max(w, h))))
        rgb = np.asarray(im.convert("RGB"))
    box = clip_box(product_box, w, h)
    if box is None:
        raise ValueError(f"product box {product_box!r} is empty or outside the {w}x{h} image")
    k = rgb.shape[1] / w  # decoded pixels per image pixel
    x0, y0 = int(box[0] * k), int(box[1] * k)
    x1, y1 = max(x0 + 1, int(np.ceil(box[2] * k))), max(y0 + 1, int(np.ceil(box[3] * k)))
    crop = rgb[y0:y1, x0:x1]
    product = _dhash_bits(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), PRODUCT_HASH_SIZE)
    mean = cv2.resize(crop, (1, 1), interpolation=cv2.INTER_AREA).reshape(3)
    lab = rgb_to_lab(mean)

    scale = SCENE_SIDE / max(w, h)  # image pixels -> scene thumbnail pixels
    sw, sh = max(9, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    hole = np.zeros((sh, sw), np.uint8)
    for b, grow in [(box, 0.0)] + [(m, TEXT_PLATE_GROW) for m in mask_boxes]:
        c = clip_box(b, w, h)
        if c is None:
            continue
        g = grow * (c[3] - c[1])
        hole[max(0, int((c[1] - g) * scale)):int(np.ceil((c[3] + g) * scale)) + 1,
             max(0, int((c[0] - g) * scale)):int(np.ceil((c[2] + g) * scale)) + 1] = 255
    if hole.all():  # nothing of the scene is left: every such scene is alike
        scene = 0
    else:
        filled = cv2.inpaint(small, hole, 3, cv2.INPAINT_TELEA) if hole.any() else small
        scene = _dhash_bits(cv2.cvtColor(filled, cv2.COLOR_RGB2GRAY))
    lab_hex = "".join(f"{int(round(v)):02x}" for v in (min(100.0, max(0.0, lab[0])), lab[1] + 128, lab[2] + 128))
    return f"{FINGERPRINT_PREFIX}{product:036x}:{lab_hex}:{scene:016x}"


def generated_image_fingerprint(image_bytes: bytes, generated_row: Mapping) -> str:
    """The fingerprint of an image of the generated-images table (its `product_box` and `text_regions` JSON); a
    row without a product box gets the whole-image `perceptual_hash`."""
    box = generated_row.get("product_box")
    if box is None or len(box) != 4:
        return perceptual_hash(image_bytes)
    regions = json.loads(generated_row.get("text_regions") or "[]")
    return image_fingerprint(image_bytes, box, [r["box"] for r in regions])


def parse_fingerprint(value: str) -> Fingerprint | None:
    """A `Fingerprint` from its string, or None for a plain hex hash. Raises ValueError for a broken one."""
    s = str(value)
    if not s.startswith(FINGERPRINT_PREFIX):
        return None
    try:
        p, lab, sc = s[len(FINGERPRINT_PREFIX):].split(":")
        L, a, b = (int(lab[i:i + 2], 16) for i in (0, 2, 4))
        return Fingerprint(int(p, 16), (float(L), a - 128.0, b - 128.0), int(sc, 16))
    except ValueError:
        raise ValueError(f"broken image fingerprint {s!r}") from None


def _default_sku_of(image_id):
    if isinstance(image_id, tuple) and image_id:
        return image_id[0]
    if isinstance(image_id, Mapping) and "sku" in image_id:
        return image_id["sku"]
    raise ValueError(
        f"near_duplicates: cannot tell the SKU of image id {image_id!r}; use (sku, ...) tuples as ids or pass sku_of"
    )


def _hex_words(values: list[str]) -> np.ndarray:
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise ValueError(f"near_duplicates: hashes of different lengths {sorted(lengths)}")
    nwords = (lengths.pop() + 15) // 16
    words = np.zeros((len(values), nwords), dtype=np.uint64)
    for row, v in enumerate(values):
        s = v.rjust(nwords * 16, "0")
        for k in range(nwords):
            words[row, k] = np.uint64(int(s[k * 16 : (k + 1) * 16], 16))
    return words


def near_duplicates(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
    max_scene_bits: int = DEFAULT_MAX_SCENE_BITS,
    max_colour_delta: float = DEFAULT_MAX_COLOUR_DELTA,
) -> list[tuple[Hashable, Hashable, float]]:
    """Pairs (a, b, distance) of images of DIFFERENT SKUs that are near duplicates.

    `hashes` maps an image id to a fingerprint (`image_fingerprint`) or a hex hash (`perceptual_hash`). Two
    fingerprints pair when their product dHashes differ in at most `max_bits` bits, their product colours by at most
    `max_colour_delta` CIEDE2000 and their scenes by at most `max_scene_bits` bits; the distance is the
    product's, in bits of a 64-bit hash (a float).
    Two hex hashes pair within `max_bits`. A fingerprint and a hex hash are never compared. The SKU of an id is
    `id[0]` for tuple ids, or `sku_of(id)`; images of one SKU are never paired. Pairs come sorted by distance,
    then by the order of `hashes`. Vectorised: n^2/2 XOR + popcount in numpy.
    """
    sku_of = sku_of or _default_sku_of
    ids = list(hashes)
    if len(ids) < 2:
        return []
    parsed = [parse_fingerprint(hashes[i]) for i in ids]
    fp_rows = [n for n, p in enumerate(parsed) if p is not None]
    hex_rows = [n for n, p in enumerate(parsed) if p is None]
    skus = np.fromiter(_codes(sku_of(i) for i in ids), dtype=np.int64, count=len(ids))
    out: list[tuple] = []
    if len(hex_rows) > 1:
        words = _hex_words([str(hashes[ids[n]]) for n in hex_rows])
        out += _pairs(hex_rows, words, None, skus, max_bits, 0)
    if len(fp_rows) > 1:
        fps = [parsed[n] for n in fp_rows]
        product = _int_words([f.product for f in fps], PRODUCT_HASH_SIZE**2)
        scene = _int_words([f.scene for f in fps], 64)
        labs = np.array([f.lab for f in fps], dtype=np.float64)
        row_of = {n: r for r, n in enumerate(fp_rows)}
        limit = int(math.floor(max_bits / PRODUCT_BITS_SCALE + 1e-9))
        cands = _pairs(fp_rows, product, scene, skus, limit, max_scene_bits)
        if cands:
            ia = np.array([row_of[a] for a, _, _ in cands])
            ib = np.array([row_of[b] for _, b, _ in cands])
            de = np.atleast_1d(ciede2000(labs[ia], labs[ib]))
            out += [(a, b, round(d * PRODUCT_BITS_SCALE, 2)) for (a, b, d), e in zip(cands, de)
                    if e <= max_colour_delta]
    out.sort(key=lambda t: (t[2], t[0], t[1]))
    return [(ids[a], ids[b], d) for a, b, d in out]


def _int_words(values: list[int], nbits: int) -> np.ndarray:
    nwords = (nbits + 63) // 64
    mask = (1 << 64) - 1
    return np.array([[(v >> (64 * k)) & mask for k in range(nwords)] for v in values], dtype=np.uint64)


def _pairs(rows: list[int], words: np.ndarray, scene: np.ndarray | None, skus: np.ndarray, max_bits: int,
           max_scene_bits: int) -> list[tuple[int, int, int]]:
    codes = skus[rows]
    out = []
    for a in range(len(rows) - 1):
        dist = np.bitwise_count(words[a + 1 :] ^ words[a]).sum(axis=1)
        hit = (dist <= max_bits) & (codes[a + 1 :] != codes[a])
        if scene is not None:
            hit &= np.bitwise_count(scene[a + 1 :] ^ scene[a]).sum(axis=1) <= max_scene_bits
        for j in np.nonzero(hit)[0]:
            out.append((rows[a], rows[a + 1 + j], int(dist[j])))
    return out


def near_duplicate_results(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
    max_scene_bits: int = DEFAULT_MAX_SCENE_BITS,
    max_colour_delta: float = DEFAULT_MAX_COLOUR_DELTA,
) -> dict[Hashable, MetricResult]:
    """A "near_duplicate" MetricResult for every image id in `hashes` (to append to that image's metrics before
    grading): value = the smallest product distance in bits to an image of another SKU it duplicates (None when
    there is none), fail when it has such a partner, with the partners in `detail`. An id whose hash is missing or
    empty is an error."""
    valid = {k: v for k, v in hashes.items() if v}
    pairs = near_duplicates(valid, max_bits=max_bits, sku_of=sku_of, max_scene_bits=max_scene_bits,
                            max_colour_delta=max_colour_delta)
    partners: dict[Hashable, list] = {}
    for a, b, d in pairs:
        partners.setdefault(a, []).append((b, d))
        partners.setdefault(b, []).append((a, d))
    out: dict[Hashable, MetricResult] = {}
    for k in hashes:
        if k not in valid:
            out[k] = error_result("near_duplicate", "no perceptual hash for this image", threshold=max_bits,
                                  comparator=">")
        elif k in partners:
            ps = sorted(partners[k], key=lambda t: t[1])
            out[k] = ok_result("near_duplicate", ps[0][1], max_bits, ">", False,
                               {"duplicates_of": [{"image": str(p), "bits": d} for p, d in ps]})
        else:
            out[k] = ok_result("near_duplicate", None, max_bits, ">", True, {"nearest_within_bits": None})
    return out


def _codes(values):
    seen: dict = {}
    for v in values:
        yield seen.setdefault(v, len(seen))
