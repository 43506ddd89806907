"""The cutout accuracy target on the whole synthetic ground-truth set (every product kind, soft shadows, JPEG).

Heavy: at full size (1200 px, 2 variants per kind) it is the benchmark's figure. CI runs it in a small form
(SKUSTUDIO_HEAVY_SCALE below 1 shrinks photos and variants); set SKUSTUDIO_HEAVY_SCALE=1 for the full set.
"""
import os

import numpy as np
import pytest

from skucore.imaging.cutout import cut_out

pytestmark = pytest.mark.heavy


def test_mean_iou_over_every_product_kind_meets_the_target():
    from tests.helpers import cutout_groundtruth as g

    scale = float(os.environ.get("SKUSTUDIO_HEAVY_SCALE", "0.67"))
    size = max(800, int(1200 * scale))  # below 800 px the cutout's documented accuracy drops
    per_kind = 2 if scale >= 1 else 1
    cases = g.groundtruth_set(size=size, per_kind=per_kind)
    assert len(cases) == per_kind * len(g.PRODUCTS)  # every kind, the hard ones included
    ious = [g.iou(cut_out(c.photo).mask, c.alpha) for c in cases]
    assert np.mean(ious) >= 0.97, dict(zip([c.name for c in cases], np.round(ious, 3)))
    assert min(ious) >= 0.85  # no kind collapses
