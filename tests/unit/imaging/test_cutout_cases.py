"""Hard cases of skucore.imaging.cutout.cut_out: source alpha, rejections, white inside the product, holes, white on
white, thin parts, the frame edge; on composed images, the unkind ground truth and the shipped packshots."""
import cv2
import numpy as np
import pytest
from PIL import Image

from skucore.base.types import CutoutRejected
from skucore.imaging.cutout import cut_out
from tests.helpers import cutout_groundtruth as g
from tests.helpers.cutout import enclosed_background, gt_case, packshot, product_rgba, thin_parts


def _fg(mask):
    return mask > 127


# --- source alpha ---------------------------------------------------------------------------------------------------

def test_transparent_png_alpha_used_as_is():
    rgba = product_rgba("mug", size=400, seed=3)
    res = cut_out(Image.fromarray(rgba, "RGBA"))
    assert res.flags[0] == "alpha_from_source"
    assert np.array_equal(res.mask, rgba[..., 3])
    assert np.array_equal(res.rgba, rgba)
    ys, xs = np.nonzero(rgba[..., 3])
    assert res.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert res.area_ratio == pytest.approx(float((rgba[..., 3] > 127).mean()))
    assert res.shadow is None


def test_opaque_rgba_is_cut_like_a_photo():
    case = gt_case("white_sweep", "mug", seed=2)
    res = cut_out(case.photo.convert("RGBA"))  # alpha all 255: not a real alpha
    assert "alpha_from_source" not in res.flags
    assert g.iou(res.mask, case.alpha) >= 0.95


# --- rejections -----------------------------------------------------------------------------------------------------

def _product_on(bg, size=300):
    a = np.empty((size, size, 3), np.uint8)
    a[:] = bg
    a[100:220, 90:210] = (30, 40, 160)
    return Image.fromarray(a)


@pytest.mark.parametrize("bg", [(128, 128, 128), (200, 222, 255), (250, 235, 180), (20, 20, 20)])
def test_non_white_background_rejected(bg):
    with pytest.raises(CutoutRejected) as e:
        cut_out(_product_on(bg))
    assert e.value.reason == "background_not_white"


@pytest.mark.parametrize("bg", [(238, 238, 238), (232, 230, 226)])
def test_off_white_background_accepted_and_flagged(bg):
    res = cut_out(_product_on(bg))
    assert "background_off_white" in res.flags
    assert res.bbox == (90, 100, 210, 220)


def test_empty_white_photo_rejected():
    with pytest.raises(CutoutRejected) as e:
        cut_out(Image.new("RGB", (300, 300), (255, 255, 255)))
    assert e.value.reason == "empty_product"


def test_product_filling_the_frame_rejected():
    rng = np.random.default_rng(0)
    a = rng.integers(20, 200, (300, 300, 3)).astype(np.uint8)
    a[:10, :30] = 255  # scraps of white backdrop in a corner (about 3 % of the border)
    with pytest.raises(CutoutRejected) as e:
        cut_out(Image.fromarray(a))
    assert e.value.reason == "product_fills_frame"


# --- white inside the product, holes ----------------------------------------------------------------------------------

def test_white_logo_on_black_mug_stays_opaque_and_handle_hole_is_background():
    case = gt_case("white_sweep", "mug", seed=2)  # a black mug with a white printed logo, a cast shadow
    res = cut_out(case.photo)
    photo = np.asarray(case.photo)
    assert np.median(photo[case.alpha == 255]) < 60
    light_inside = (case.alpha == 255) & (photo.min(2) > 200)  # the logo
    assert light_inside.sum() > 300
    assert (res.mask[light_inside] == 255).mean() > 0.98
    hole = enclosed_background(case.alpha, erode=7)  # the handle's loop
    assert hole.sum() > 2000
    assert (res.mask[hole] == 0).mean() > 0.98
    assert "holes_background" in res.flags


def test_real_black_mug_keeps_its_white_logo_and_clears_the_handle_hole():
    res = cut_out(packshot("solidus_mug.jpg"))
    photo = np.asarray(packshot("solidus_mug.jpg").convert("RGB"))
    assert photo[600:700, 583:589].min() > 200  # the printed white bar of the logo
    assert (res.mask[600:700, 583:589] == 255).all()
    assert photo[670:690, 400:460].min() > 240  # background seen through the handle
    assert (res.mask[670:690, 400:460] == 0).all()
    assert 0.08 < res.area_ratio < 0.14


def test_real_black_tee_keeps_its_white_print():
    im = packshot("solidus_tshirt_black.jpg")
    res = cut_out(im)
    photo = np.asarray(im.convert("RGB"))
    x0, y0, x1, y1 = res.bbox
    inner = np.zeros(photo.shape[:2], bool)
    inner[y0 + (y1 - y0) // 5:y1 - (y1 - y0) // 5, x0 + (x1 - x0) // 4:x1 - (x1 - x0) // 4] = True
    white_print = inner & (photo.min(2) > 230)
    assert white_print.sum() > 1000
    assert (res.mask[white_print] == 255).mean() > 0.99


def test_semi_transparent_glass_is_kept():
    case = gt_case("white_sweep", "glass_tumbler")
    res = cut_out(case.photo)
    body = cv2.erode((case.alpha > 127).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # the body, rims and all
    assert (res.mask[body] > 127).mean() > 0.95
    assert g.iou(res.mask, case.alpha) > 0.93


# --- white on white ---------------------------------------------------------------------------------------------------

def test_white_tee_packshot_area_matches_the_coloured_tee():
    white = cut_out(packshot("solidus_tshirt_white.jpg"))
    black = cut_out(packshot("solidus_tshirt_black.jpg"))
    assert 0.30 < white.area_ratio < 0.42
    assert abs(white.area_ratio - black.area_ratio) < 0.02
    # the same garment, the same silhouette
    inter = np.logical_and(_fg(white.mask), _fg(black.mask)).sum()
    union = np.logical_or(_fg(white.mask), _fg(black.mask)).sum()
    assert inter / union > 0.93
    # the tee's interior is solid: no background punched into the white fabric
    x0, y0, x1, y1 = white.bbox
    body = white.mask[y0 + (y1 - y0) // 4:y1 - (y1 - y0) // 8, x0 + (x1 - x0) // 3:x1 - (x1 - x0) // 3]
    assert (body == 255).mean() > 0.995


@pytest.mark.parametrize("name", ["solidus_long", "solidus_tshirt_back", "solidus_womens_tshirt"])
def test_other_white_garment_packshots_match_their_coloured_twins(name):
    w, c = cut_out(packshot(f"{name}_white.jpg")), cut_out(packshot(f"{name}_blue.jpg"))
    assert abs(w.area_ratio - c.area_ratio) < 0.03
    a, b = _fg(w.mask), _fg(c.mask)
    assert (a & b).sum() / (a | b).sum() > 0.92


@pytest.mark.parametrize("kind", ["tee_white", "box"])
def test_synthetic_white_on_white_products_are_kept(kind):
    case = gt_case("white_sweep", kind)
    assert g.iou(cut_out(case.photo).mask, case.alpha) >= 0.96


# --- frame edge, thin parts -------------------------------------------------------------------------------------------

def test_product_cut_by_the_frame():
    case = gt_case("white_sweep", "bottle", seed=5)
    ys, xs = np.nonzero(case.alpha > 127)
    # crop the photo through the bottle: the frame cuts it on the right and at the bottom
    y_cut, x_cut = ys.max() - (ys.max() - ys.min()) // 4, (xs.min() + xs.max()) // 2
    photo = case.photo.crop((0, 0, x_cut, y_cut))
    alpha = case.alpha[:y_cut, :x_cut]
    res = cut_out(photo)
    assert res.touches_edge and "touches_edge" in res.flags
    assert set(res.edges_touched) == {"right", "bottom"}
    # the product along the frame's bottom row is product, not background
    bottom = alpha[-1] == 255
    assert bottom.sum() > 30
    assert (res.mask[-1][bottom] == 255).mean() > 0.98
    assert g.iou(res.mask, alpha) >= 0.95


@pytest.mark.parametrize("seed", [0, 2])
def test_model_shot_cropped_by_the_frame_is_flagged(seed):
    case = gt_case("varied", "model_shot", seed)
    res = cut_out(case.photo)
    assert res.touches_edge and "touches_edge" in res.flags
    assert "bottom" in res.edges_touched
    bottom = case.alpha[-1] == 255
    assert (res.mask[-1][bottom] > 127).mean() > 0.97  # the cut edge is product, not background
    assert g.iou(res.mask, case.alpha) > 0.96


def test_no_edge_touch_when_centred():
    res = cut_out(gt_case("white_sweep", "cap").photo)
    assert not res.touches_edge and res.edges_touched == () and "touches_edge" not in res.flags


@pytest.mark.parametrize("kind,seed", [("tote", 2), ("headphones", 0), ("speaker", 0)])
def test_thin_straps_cords_and_antennas_survive(kind, seed):
    case = gt_case("white_sweep", kind, seed)
    res = cut_out(case.photo)
    thin = thin_parts(case.alpha)
    assert thin.sum() > 300  # straps, the head band, the cord, the antenna
    assert (res.mask[thin] > 127).mean() > 0.85
    assert g.iou(res.mask, case.alpha) >= 0.95


def test_thin_parts_are_flagged():
    assert "thin_parts" in cut_out(gt_case("white_sweep", "speaker").photo).flags
    assert "thin_parts" not in cut_out(gt_case("white_sweep", "ball").photo).flags


def test_tote_handles_and_their_holes():
    case = gt_case("white_sweep", "tote", seed=2)
    res = cut_out(case.photo)
    assert g.iou(res.mask, case.alpha) >= 0.95
    rows = np.nonzero((case.alpha > 127).sum(1) > 0.6 * (case.alpha > 127).sum(1).max())[0]
    handles = np.zeros_like(case.alpha, bool)
    handles[:rows.min()] = True  # above the bag's body: handles and their loops
    assert (res.mask[handles & (case.alpha == 255)] > 127).mean() > 0.9
    assert (res.mask[handles & enclosed_background(case.alpha)] == 0).mean() > 0.99
