"""Floor shadows, contact shadows and glossy-floor reflections are background in skucore.imaging.cutout's mask; the
photo's own shadow can be kept as a separate layer. On the unkind ground truth and the shipped packshots."""
import numpy as np
import pytest

from skucore.imaging.cutout import cut_out
from tests.helpers import cutout_groundtruth as g
from tests.helpers.cutout import far_from_product, gt_case, inside_product, packshot


@pytest.mark.parametrize("kind,seed", [("cap", 0), ("ball", 0), ("speaker", 0), ("tee", 0), ("mug", 0)])
def test_floor_shadow_is_background(kind, seed):
    """Soft floor shadows: blurred ellipses, cast shadows (the mug's, the speaker's), a flat lay's drop shadow."""
    case = gt_case("white_sweep", kind, seed)
    res = cut_out(case.photo)
    shadow = (case.shadow > 25) & far_from_product(case.alpha, 6)  # visibly darkened floor, off the product's edge
    assert shadow.sum() > 500, case.meta
    assert (res.mask[shadow] == 0).mean() > 0.97
    assert "shadow_removed" in res.flags
    assert g.iou(res.mask, case.alpha) > 0.96


def test_soft_shadow_fringe_along_the_edges_is_not_kept():
    """A flat lay's shadow hugs its outline: a pale fringe all round that the old cutout kept as product."""
    case = gt_case("white_sweep", "tee", 2)  # a black tee: any fringe kept would show as a grey outline
    res = cut_out(case.photo)
    fringe = (case.shadow > 10) & far_from_product(case.alpha, 2)
    assert fringe.sum() > 2000
    assert (res.mask[fringe] > 127).mean() < 0.01
    assert g.boundary_f(res.mask, case.alpha) > 0.9


@pytest.mark.parametrize("seed", [1, 7, 8])
def test_contact_shadow_and_reflection_on_a_glossy_off_white_sweep_are_background(seed):
    case = gt_case("falloff_reflection", "bottle", seed)
    assert case.meta.get("reflection") and "contact" in case.meta["shadows"]
    res = cut_out(case.photo)
    assert "reflection_removed" in res.flags and "background_off_white" in res.flags
    base = np.nonzero((case.alpha > 127).any(1))[0].max()
    below = np.zeros_like(case.alpha, bool)
    below[base + 4:] = True
    assert (res.mask[below] > 127).mean() < 0.005  # nothing kept under the product's base
    assert g.iou(res.mask, case.alpha) > 0.93


def test_sweep_falloff_and_vignette_are_background():
    """A sweep brighter at the top and darker in the corners is one backdrop, not product."""
    case = gt_case("falloff_reflection", "box", 0)
    assert case.meta["vignette"] > 0.03 and case.meta["level"] < 248
    res = cut_out(case.photo)
    far = far_from_product(case.alpha, 10) & (case.shadow == 0)
    assert (res.mask[far] == 0).mean() > 0.999
    assert g.iou(res.mask, case.alpha) > 0.97


def test_keep_shadow_returns_the_photos_shadow_as_a_separate_layer():
    case = gt_case("white_sweep", "cap", 0)
    res = cut_out(case.photo, keep_shadow=True)
    assert res.shadow is not None and res.shadow.shape == case.alpha.shape and res.shadow.dtype == np.uint8
    strong = (case.shadow > 60) & far_from_product(case.alpha, 4)
    assert strong.sum() > 300
    assert np.median(res.shadow[strong]) > 30  # the shadow is in the layer...
    assert (res.mask[strong] == 0).all()  # ...and not in the mask
    assert (res.shadow[inside_product(case.alpha, 3)] == 0).mean() > 0.99  # nothing under the product
    plain = far_from_product(case.alpha, 20) & (case.shadow == 0)
    assert (res.shadow[plain] == 0).mean() > 0.99  # the plain sweep carries no shadow
    assert cut_out(case.photo).shadow is None  # only when asked for


# --- real packshots ---------------------------------------------------------------------------------------------------

def test_real_mug_keeps_no_shadow_smear_under_its_handle():
    im = packshot("ruby_mug.jpg")
    res = cut_out(im)
    photo = np.asarray(im.convert("RGB")).astype(int)
    grey = (photo.min(2) < 250) & (photo.max(2) - photo.min(2) < 14)  # the grey floor shadow, not the red mug
    floor = np.zeros_like(grey)
    floor[800:1000, 150:700] = True  # under and left of the handle, down to the floor
    smear = grey & floor
    assert smear.sum() > 15000
    assert (res.mask[smear] > 127).mean() < 0.005  # the previous cut_out kept 26 %
    assert (res.mask[photo[..., 0] - photo[..., 1] > 120] == 255).mean() > 0.97  # the red body is kept


@pytest.mark.parametrize("name", ["tote_bag_ruby.jpg", "solidus_snapback_cap.jpg", "solidus_tshirt_blue.jpg"])
def test_no_pale_base_left_under_real_products(name):
    im = packshot(name)
    res = cut_out(im)
    photo = np.asarray(im.convert("RGB")).astype(int)
    pale = (photo.min(2) >= 200) & (photo.max(2) - photo.min(2) <= 10)  # light grey floor or shadow
    kept = pale & (res.mask > 127)
    # the product's own light parts are inside its outline; a pale base is a band under it
    x0, y0, x1, y1 = res.bbox
    base = np.zeros_like(pale)
    base[y1 - max(4, (y1 - y0) // 40):y1, x0:x1] = True
    assert (kept & base).sum() < 0.25 * base.sum()


@pytest.mark.parametrize("kind,seed", [("tee", 2), ("speaker", 0)])
def test_black_and_grey_products_are_not_shadows(kind, seed):
    case = gt_case("white_sweep", kind, seed)  # a black tee, a grey speaker: as dark and neutral as a shadow
    res = cut_out(case.photo)
    inner = inside_product(case.alpha, 2)
    assert (res.mask[inner] == 255).mean() > 0.995
    assert g.iou(res.mask, case.alpha) >= 0.97
