"""Hard cases of skucore.imaging.cutout.cut_out, on composed images, the synthetic ground truth and the shared packshots."""
import cv2
import numpy as np
import pytest
from PIL import Image

from tests.helpers import cutout_groundtruth as g
from tests.helpers.cutout import packshot
from skucore.imaging.cutout import cut_out
from skucore.base.types import CutoutRejected


def _fg(mask):
    return mask > 127


# --- source alpha ---------------------------------------------------------------------------------------------------

def test_transparent_png_alpha_used_as_is():
    rgba = g.make_product("mug_red", size=400, seed=3)
    res = cut_out(Image.fromarray(rgba, "RGBA"))
    assert "alpha_from_source" in res.flags
    assert np.array_equal(res.mask, rgba[..., 3])
    assert np.array_equal(res.rgba, rgba)
    ys, xs = np.nonzero(rgba[..., 3])
    assert res.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert res.area_ratio == pytest.approx(float((rgba[..., 3] > 127).mean()))


def test_opaque_rgba_is_cut_like_a_photo(gt_case):
    case = gt_case("mug_black")
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


def test_off_white_background_accepted_and_flagged():
    res = cut_out(_product_on((238, 238, 238)))
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

def test_white_logo_on_black_mug_stays_opaque_and_handle_hole_is_background(gt_case):
    case = gt_case("mug_black")
    res = cut_out(case.photo)
    photo = np.asarray(case.photo)
    light_inside = (case.alpha == 255) & (photo.min(2) > 200)  # the logo
    assert light_inside.sum() > 500
    assert (res.mask[light_inside] == 255).mean() > 0.98
    # the handle's hole: background pixels enclosed by the handle (not connected to the frame border in the truth)
    n, lab = cv2.connectedComponents((case.alpha < 128).astype(np.uint8), connectivity=4)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
    hole = np.isin(lab, [i for i in range(1, n) if i not in border])
    hole_big = cv2.erode(hole.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert hole_big.sum() > 2000
    assert (res.mask[hole_big] == 0).mean() > 0.98
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


@pytest.mark.parametrize("name", ["solidus_long_white.jpg", "solidus_tshirt_back_white.jpg",
                                  "solidus_womens_tshirt_white.jpg"])
def test_other_white_garment_packshots(name):
    coloured = name.replace("_white", "_blue")
    w, c = cut_out(packshot(name)), cut_out(packshot(coloured))
    assert abs(w.area_ratio - c.area_ratio) < 0.03


def test_synthetic_white_tee_iou(gt_case):
    case = gt_case("tee_white")
    assert g.iou(cut_out(case.photo).mask, case.alpha) >= 0.95


# --- shadows, dark products -----------------------------------------------------------------------------------------

def test_soft_floor_shadow_is_not_product(gt_case):
    case = gt_case("cap")
    res = cut_out(case.photo)
    photo = np.asarray(case.photo).astype(int)
    far = cv2.distanceTransform((case.alpha == 0).astype(np.uint8), cv2.DIST_L2, 3) > 6
    shadow = far & (photo.min(2) < 245)  # visibly darkened backdrop, away from the product's edge
    assert shadow.sum() > 3000
    assert (res.mask[shadow] == 0).mean() > 0.97
    assert "shadow_removed" in res.flags


def test_black_and_grey_products_are_not_shadows(gt_case):
    for kind in ("tee_black", "grey_speaker"):
        case = gt_case(kind)
        res = cut_out(case.photo)
        assert (res.mask[case.alpha == 255] == 255).mean() > 0.995, kind
        assert g.iou(res.mask, case.alpha) >= 0.97, kind


# --- frame edge, thin parts -------------------------------------------------------------------------------------------

def test_product_cut_by_the_frame(gt_case):
    case = gt_case("bottle_at_edge")
    res = cut_out(case.photo)
    assert res.touches_edge and "touches_edge" in res.flags
    assert set(res.edges_touched) == {"right", "bottom"}
    # the product along the frame's bottom row is product, not background
    bottom = case.alpha[-1] == 255
    assert bottom.sum() > 100
    assert (res.mask[-1][bottom] == 255).mean() > 0.98
    assert g.iou(res.mask, case.alpha) >= 0.95


def test_no_edge_touch_when_centred(gt_case):
    res = cut_out(gt_case("cap").photo)
    assert not res.touches_edge and res.edges_touched == () and "touches_edge" not in res.flags


def test_thin_parts_survive(gt_case):
    for kind, band in (("grey_speaker", (0, 0.34)), ("bottle_at_edge", (0.25, 0.55))):
        case = gt_case(kind)
        res = cut_out(case.photo)
        h, w = case.alpha.shape
        thin = np.zeros_like(case.alpha, bool)
        thin[int(band[0] * h):int(band[1] * h)] = True
        if kind == "bottle_at_edge":  # the cord, left of the cap and the body
            xs = np.nonzero(case.alpha[int(0.3 * h)] > 127)[0]
            thin[:, xs.min() + 20 * w // 1200 + 10:] = False
        thin &= case.alpha > 127
        assert thin.sum() > 50, kind
        assert (res.mask[thin] > 127).mean() > 0.85, kind
    assert "thin_parts" in cut_out(gt_case("grey_speaker").photo).flags


def test_tote_handles_and_their_holes(gt_case):
    case = gt_case("tote")
    res = cut_out(case.photo)
    assert g.iou(res.mask, case.alpha) >= 0.95
    handles = np.zeros_like(case.alpha, bool)
    handles[:int(0.39 * case.alpha.shape[0])] = True  # above the bag's body: handles and their loops
    assert (res.mask[handles & (case.alpha == 255)] > 127).mean() > 0.9
    assert (res.mask[handles & (case.alpha == 0)] == 0).mean() > 0.99
