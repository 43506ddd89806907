"""A disk cache of cutout ground-truth cases (tests/helpers/cutout_groundtruth.py): drawing a 1200 px case takes
about a second, and the benchmark and the tests draw the same ones again and again. Cases are stored as the decoded
JPEG (lossless PNG), the true alpha and the shadow, in a temp folder (never the repository), under a hash of the
generator's source so that a changed drawing never serves a stale case."""
from __future__ import annotations

import ast
import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.cutout_groundtruth import Case, make_case


def _generator_version() -> str:
    """A hash of the generator's source: a changed drawing never serves a stale cached case."""
    h = hashlib.sha256()
    for name in ("cutout_groundtruth.py", "cutout_gt_drawing.py", "cutout_gt_products.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:12]


def cache_dir() -> Path:
    """Where cached cases live: $SKUSTUDIO_CUTOUT_GT_CACHE, else a folder in the system's temp directory (never
    the repository)."""
    root = os.environ.get("SKUSTUDIO_CUTOUT_GT_CACHE") or os.path.join(tempfile.gettempdir(), "skustudio-cutout-gt")
    return Path(root) / _generator_version()


def cached_case(set_name: str, seed: int, kind: str | None = None, size: int | None = None) -> Case:
    """make_case, stored on disk as the decoded JPEG (lossless PNG) with the true alpha and shadow."""
    folder = cache_dir()
    path = folder / f"{set_name}_{seed}_{kind or 'any'}_{size or 'full'}.npz"
    if not path.exists():
        c = make_case(set_name, seed, kind=kind, size=size)
        buf = io.BytesIO()
        c.photo.save(buf, "PNG", compress_level=1)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, png=np.frombuffer(buf.getvalue(), np.uint8), alpha=c.alpha, shadow=c.shadow, name=c.name,
                 meta=repr(c.meta))
        os.replace(tmp, path)  # atomic: a parallel run never reads half a file
        return c
    with np.load(path) as z:
        photo = Image.open(io.BytesIO(z["png"].tobytes())).convert("RGB")
        return Case(str(z["name"]), photo, z["alpha"], z["shadow"], ast.literal_eval(str(z["meta"])))


def cached_set(set_name: str, n: int = 40, seed: int = 0, size: int | None = None):
    """The cases of make_set (at `size` px on the long side if given), through the disk cache."""
    for i in range(n):
        yield cached_case(set_name, seed * 100003 + i, size=size)
