"""Photos for the cutout tests: the sample packshots shipped in data/samples/packshots (BSD-3), and ground-truth cases
(tests/helpers/cutout_groundtruth.py) cached on disk and per process."""
import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.helpers.cutout_groundtruth import Case
from tests.helpers.cutout_gt_cache import cached_case

PACKSHOTS = Path(__file__).resolve().parents[2] / "data" / "samples" / "packshots"


def packshot(name: str) -> Image.Image:
    """A sample packshot, decoded. A missing file is an error, never a skip: the photos ship with the repo."""
    with Image.open(PACKSHOTS / name) as im:
        im.load()
        return im.copy()


@functools.lru_cache(maxsize=None)
def gt_case(set_name: str, kind: str, seed: int = 0, size: int = 800) -> Case:
    """One ground-truth case of a set with its product forced, at `size` px on the long side (800 by default: a
    second to draw, then cached). Shared between tests: do not modify it."""
    return cached_case(set_name, seed, kind=kind, size=size)


def far_from_product(alpha: np.ndarray, px: float) -> np.ndarray:
    """Pixels more than `px` away from any part of the product (true alpha > 0)."""
    return cv2.distanceTransform((alpha == 0).astype(np.uint8), cv2.DIST_L2, 3) > px


def inside_product(alpha: np.ndarray, px: float) -> np.ndarray:
    """Opaque product pixels (true alpha 255) more than `px` away from anything less than opaque."""
    return cv2.distanceTransform((alpha == 255).astype(np.uint8), cv2.DIST_L2, 3) > px


def enclosed_background(alpha: np.ndarray, erode: int = 5) -> np.ndarray:
    """Background the product encloses (a handle's loop): alpha < 128 not connected to the frame, eroded."""
    n, lab = cv2.connectedComponents((alpha < 128).astype(np.uint8), connectivity=4)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
    hole = np.isin(lab, [i for i in range(1, n) if i not in border])
    return cv2.erode(hole.astype(np.uint8), np.ones((erode, erode), np.uint8)) > 0


def thin_parts(alpha: np.ndarray, width: int = 15) -> np.ndarray:
    """Product pixels an opening of `width` px erases: straps, cords, handles, antennas."""
    solid = (alpha > 127).astype(np.uint8)
    return (solid > 0) & (cv2.morphologyEx(solid, cv2.MORPH_OPEN, np.ones((width, width), np.uint8)) == 0)


def product_rgba(kind: str, size: int = 400, seed: int = 0) -> np.ndarray:
    """A ground-truth product alone, as straight-alpha RGBA (a transparent PNG a shop might send)."""
    from tests.helpers.cutout_gt_products import CATALOG

    draw, aspect = CATALOG[kind]
    p = draw(int(size * min(1.0, aspect)), int(size / max(1.0, aspect)), np.random.default_rng(seed))
    rgba = np.zeros(p.alpha.shape + (4,), np.uint8)
    rgba[..., :3] = np.clip(p.color + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(p.alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.pad(rgba, ((20, 20), (20, 20), (0, 0)))  # transparent margin all round
