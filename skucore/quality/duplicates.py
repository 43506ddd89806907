"""Near duplicates across the SKUs of a promotion: perceptual hashes of encoded images, and pairs of different
SKUs' images within a few bits of each other (`near_duplicate` results for grading)."""
from __future__ import annotations

import io
from collections.abc import Callable, Hashable, Mapping

import numpy as np
from PIL import Image

from skucore.quality.metrics import MetricResult, error_result, ok_result

def perceptual_hash(image_bytes: bytes, method: str = "dhash", hash_size: int = 8) -> str:
    """Hex perceptual hash of an encoded image: "dhash" (default) or "phash" (imagehash, 64 bits at size 8)."""
    import imagehash

    funcs = {"dhash": imagehash.dhash, "phash": imagehash.phash}
    if method not in funcs:
        raise ValueError(f"unknown hash method {method!r}; use one of {sorted(funcs)}")
    with Image.open(io.BytesIO(image_bytes)) as im:
        return str(funcs[method](im.convert("RGB"), hash_size=hash_size))


def _default_sku_of(image_id):
    if isinstance(image_id, tuple) and image_id:
        return image_id[0]
    if isinstance(image_id, Mapping) and "sku" in image_id:
        return image_id["sku"]
    raise ValueError(
        f"near_duplicates: cannot tell the SKU of image id {image_id!r}; use (sku, ...) tuples as ids or pass sku_of"
    )


def near_duplicates(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
) -> list[tuple[Hashable, Hashable, int]]:
    """Pairs (a, b, hamming distance) of images of DIFFERENT SKUs whose hashes differ in at most `max_bits` bits.

    `hashes` maps an image id to a hex hash (all of one length, e.g. from `perceptual_hash`). The SKU of an id is
    `id[0]` for tuple ids, or `sku_of(id)`. Images of the same SKU (its scenes and platform exports) are never paired.
    Pairs come sorted by distance, then by the order of `hashes`. Vectorised: n^2/2 XOR + popcount in numpy.
    """
    sku_of = sku_of or _default_sku_of
    ids = list(hashes)
    if len(ids) < 2:
        return []
    lengths = {len(str(hashes[i])) for i in ids}
    if len(lengths) != 1:
        raise ValueError(f"near_duplicates: hashes of different lengths {sorted(lengths)}")
    nhex = lengths.pop()
    nwords = (nhex + 15) // 16
    words = np.zeros((len(ids), nwords), dtype=np.uint64)
    for row, i in enumerate(ids):
        s = str(hashes[i]).rjust(nwords * 16, "0")
        for k in range(nwords):
            words[row, k] = np.uint64(int(s[k * 16 : (k + 1) * 16], 16))
    skus = [sku_of(i) for i in ids]
    sku_codes = np.fromiter(_codes(skus), dtype=np.int64, count=len(skus))
    out = []
    for a in range(len(ids) - 1):
        x = words[a + 1 :] ^ words[a]
        dist = np.bitwise_count(x).sum(axis=1)
        hit = np.nonzero((dist <= max_bits) & (sku_codes[a + 1 :] != sku_codes[a]))[0]
        for j in hit:
            out.append((ids[a], ids[a + 1 + j], int(dist[j]), a, a + 1 + j))
    out.sort(key=lambda t: (t[2], t[3], t[4]))
    return [(a, b, d) for a, b, d, _, _ in out]


def near_duplicate_results(
    hashes: Mapping[Hashable, str],
    max_bits: int = 4,
    *,
    sku_of: Callable[[Hashable], Hashable] | None = None,
) -> dict[Hashable, MetricResult]:
    """A "near_duplicate" MetricResult for every image id in `hashes` (to append to that image's metrics before
    grading): value = the smallest Hamming distance to an image of another SKU (None when there is none), fail
    when it is <= max_bits, with the partners in `detail`. An id whose hash is missing or empty is an error."""
    valid = {k: v for k, v in hashes.items() if v}
    pairs = near_duplicates(valid, max_bits=max_bits, sku_of=sku_of)
    partners: dict[Hashable, list] = {}
    for a, b, d in pairs:
        partners.setdefault(a, []).append((b, d))
        partners.setdefault(b, []).append((a, d))
    out: dict[Hashable, MetricResult] = {}
    for k in hashes:
        if k not in valid:
            out[k] = error_result("near_duplicate", "no perceptual hash for this image", threshold=max_bits, comparator=">")
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
