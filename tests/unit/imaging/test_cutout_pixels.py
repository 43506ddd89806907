"""Pixel contracts of skucore.imaging.cutout: interior pixels untouched, no white halo, accuracy, determinism."""
import numpy as np
import pytest

from tests.helpers import cutout_groundtruth as g
from skucore.imaging.cutout import cut_out


@pytest.mark.parametrize("kind", ["mug_red", "cap", "tote", "tee_black"])
def test_iou_on_ground_truth_samples(gt_case, kind):
    case = gt_case(kind, seed=5)
    assert g.iou(cut_out(case.photo).mask, case.alpha) >= 0.95


def test_interior_pixels_are_the_photos_own(gt_case):
    case = gt_case("mug_black")
    res = cut_out(case.photo)
    photo = np.asarray(case.photo)
    opaque = res.mask == 255
    assert opaque.sum() > 10000
    assert np.array_equal(res.rgba[..., :3][opaque], photo[opaque])
    assert np.array_equal(res.rgba[..., 3], res.mask)
    assert res.rgba.dtype == np.uint8 and res.rgba.shape == photo.shape[:2] + (4,)


def test_edges_have_no_white_halo(gt_case):
    case = gt_case("mug_black")
    res = cut_out(case.photo)
    photo = np.asarray(case.photo).astype(float)
    edge = (res.mask >= 64) & (res.mask < 255)
    assert edge.sum() > 200
    product_level = np.median(photo[res.mask == 255].mean(1))
    raw = photo[edge].mean(1)
    fixed = res.rgba[..., :3][edge].astype(float).mean(1)
    assert np.median(raw) > product_level + 40  # the photo's own edge pixels carry the white backdrop...
    assert np.median(fixed) < product_level + 15  # ...the cutout's do not
    assert np.percentile(fixed, 90) < product_level + 40


def test_edges_are_soft_and_bbox_area_are_consistent(gt_case):
    res = cut_out(gt_case("mug_red").photo)
    partial = (res.mask > 0) & (res.mask < 255)
    assert partial.sum() > 200  # anti-aliased, not a hard binary mask
    ys, xs = np.nonzero(res.mask)
    assert res.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert res.area_ratio == pytest.approx(float((res.mask > 127).mean()))
    x0, y0, x1, y1 = res.bbox
    assert res.cropped_rgba().size == (x1 - x0, y1 - y0)


def test_deterministic(gt_case):
    photo = gt_case("tote").photo
    a, b = cut_out(photo), cut_out(photo)
    assert np.array_equal(a.rgba, b.rgba) and a.flags == b.flags and a.bbox == b.bbox
