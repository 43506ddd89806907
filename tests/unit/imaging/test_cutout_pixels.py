"""Pixel contracts of skucore.imaging.cutout: accuracy on samples of the ground truth, interior pixels untouched,
no halo of the sweep at the edges, soft edges, consistent measurements, determinism."""
import numpy as np
import pytest

from skucore.imaging.cutout import cut_out
from tests.helpers import cutout_groundtruth as g
from tests.helpers.cutout import gt_case


@pytest.mark.parametrize("set_name,kind,seed", [
    ("white_sweep", "mug", 1), ("white_sweep", "cap", 5), ("white_sweep", "tote", 5), ("white_sweep", "tee", 2),
    ("falloff_reflection", "mug", 1), ("falloff_reflection", "cap", 5), ("falloff_reflection", "bottle", 2),
])
def test_iou_and_boundary_on_ground_truth_samples(set_name, kind, seed):
    case = gt_case(set_name, kind, seed=seed)
    mask = cut_out(case.photo).mask
    assert g.iou(mask, case.alpha) >= 0.95, case.meta
    assert g.boundary_f(mask, case.alpha) >= 0.8, case.meta  # the outline within 2 px, not just the area


def test_interior_pixels_are_the_photos_own():
    case = gt_case("white_sweep", "mug", seed=2)
    res = cut_out(case.photo)
    photo = np.asarray(case.photo)
    opaque = res.mask == 255
    assert opaque.sum() > 10000
    assert np.array_equal(res.rgba[..., :3][opaque], photo[opaque])
    assert np.array_equal(res.rgba[..., 3], res.mask)
    assert res.rgba.dtype == np.uint8 and res.rgba.shape == photo.shape[:2] + (4,)


@pytest.mark.parametrize("set_name,kind,seed", [("white_sweep", "mug", 2), ("white_sweep", "backpack", 0)])
def test_edges_have_no_halo_of_the_sweep(set_name, kind, seed):
    case = gt_case(set_name, kind, seed=seed)  # dark products on white
    res = cut_out(case.photo)
    photo = np.asarray(case.photo).astype(float)
    edge = (res.mask >= 64) & (res.mask < 255)
    assert edge.sum() > 200
    product_level = np.median(photo[res.mask == 255].mean(1))
    assert product_level < 120
    raw = photo[..., :3].mean(2)
    fixed = res.rgba[..., :3].astype(float).mean(2)
    assert np.median(raw[edge]) > product_level + 25  # the photo's own edge pixels carry the white backdrop...
    assert np.median(fixed[edge]) < product_level + 15  # ...the cutout's do not
    assert np.percentile(fixed[edge], 90) < product_level + 40
    washed = edge & (raw > product_level + 80)  # the palest edge pixels: mostly sweep in the photo
    assert washed.sum() > 100
    assert np.median(fixed[washed]) < product_level + 25


def test_edges_are_soft_and_bbox_area_are_consistent():
    res = cut_out(gt_case("white_sweep", "mug", seed=1).photo)
    partial = (res.mask > 0) & (res.mask < 255)
    assert partial.sum() > 200  # anti-aliased, not a hard binary mask
    ys, xs = np.nonzero(res.mask)
    assert res.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert res.area_ratio == pytest.approx(float((res.mask > 127).mean()))
    x0, y0, x1, y1 = res.bbox
    assert res.cropped_rgba().size == (x1 - x0, y1 - y0)


def test_deterministic():
    photo = gt_case("white_sweep", "tote", seed=2).photo
    a, b = cut_out(photo, keep_shadow=True), cut_out(photo, keep_shadow=True)
    assert np.array_equal(a.rgba, b.rgba) and a.flags == b.flags and a.bbox == b.bbox
    assert np.array_equal(a.shadow, b.shadow)
