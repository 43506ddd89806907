"""The cutout's accuracy on the unkind ground truth (tests/helpers/cutout_groundtruth.py): both sets the issue names,
white sweeps with soft floor and cast shadows, and off-white sweeps with falloff, vignettes, casts, hard contact
shadows and glossy-floor reflections. Every product kind appears, the hard ones included (white mugs, thin chains,
white-soled sneakers, glass).

Heavy: with SKUSTUDIO_HEAVY_SCALE=1 it runs 60 photos per set at their own sizes (800 to 2000 px; the figures
bench/bench_cutout.py prints with --seed 1). CI runs it small (below scale 1: 12 photos per set at 800 px). The
photos are seed 1 of the generator, not the seed-0 photos the algorithm was tuned on, and are cached in a temp
folder.
The team's own held-out photos are what the targets in the issue are judged on; these floors only catch a
regression.
"""
import os

import numpy as np
import pytest

from skucore.base.types import CutoutRejected
from skucore.imaging.cutout import cut_out
from tests.helpers import cutout_groundtruth as g
from tests.helpers.cutout_gt_cache import cached_set

pytestmark = pytest.mark.heavy

# (form, set) -> floors of (mean IoU, worst IoU, mean boundary F), a little under what the current cut_out
# measures: small 0.977 / 0.911 / 0.944 (white) and 0.960 / 0.789 / 0.870 (falloff); full 0.948 / 0.560 / 0.848
# and 0.949 / 0.659 / 0.793. The full sets hold rarer hard photos (a white tee, a white sole, thin chains).
FLOORS = {
    ("small", "white_sweep"): (0.96, 0.85, 0.92), ("small", "falloff_reflection"): (0.945, 0.75, 0.84),
    ("full", "white_sweep"): (0.94, 0.5, 0.83), ("full", "falloff_reflection"): (0.94, 0.6, 0.77),
}


def _naive_threshold(photo) -> np.ndarray:
    rgb = np.asarray(photo.convert("RGB"))
    return np.where(rgb.min(2) < 235, 255, 0).astype(np.uint8)


@pytest.mark.parametrize("set_name", ["white_sweep", "falloff_reflection"])
def test_accuracy_over_every_product_kind_and_shadow_model(set_name):
    scale = float(os.environ.get("SKUSTUDIO_HEAVY_SCALE", "0.2"))
    form = "full" if scale >= 1 else "small"
    n, size = (60, None) if form == "full" else (12, 800)
    ious, bfs, naive, kinds = [], [], [], set()
    for case in cached_set(set_name, n, seed=1, size=size):
        try:
            mask = cut_out(case.photo).mask
        except CutoutRejected as e:  # every photo of the set is a usable packshot: a rejection is a miss
            pytest.fail(f"{case.name} rejected: {e}")
        ious.append(g.iou(mask, case.alpha))
        bfs.append(g.boundary_f(mask, case.alpha))
        naive.append(g.iou(_naive_threshold(case.photo), case.alpha))
        kinds.add(case.meta["kind"])
    mean_floor, worst_floor, bf_floor = FLOORS[(form, set_name)]
    report = {k: round(v, 3) for k, v in zip(("mean", "worst", "boundary_f"), (np.mean(ious), min(ious), np.mean(bfs)))}
    assert len(kinds) >= 8, kinds  # a spread of products, not one kind
    assert np.mean(ious) >= mean_floor, report
    assert min(ious) >= worst_floor, report  # no photo collapses
    assert np.mean(bfs) >= bf_floor, report  # the outline, not just the area
    assert np.mean(ious) >= np.mean(naive) + 0.1, report  # far better than thresholding the white
