"""The sample demo's studio exports carry no leftover shadow from the source photo: the mugs (data/samples/packshots)
go through cut_out and the studio render, and the floor beside and under the handle comes out as the backdrop.

The region checked is the photo's own floor shadow: inside a hand-set box under and left of the handle (rows
820-930, columns 120-620 of the 1200 x 1200 photos), the pixels that are neutral grey (channel spread < 14) and
visibly darker than the white sweep (mean 120-248), at least 3 px away from the mug itself. It is mapped into the
rendered scene through the placement (the cutout's bbox to the scene's product box). The scene is rendered on
pure white without its own shadow, so any grey there can only be the photo's shadow carried by the cutout.
"""
import cv2
import numpy as np
import pytest

from skucore.imaging.cutout import cut_out
from skucore.imaging.scene import render_scene
from tests.helpers.cutout import packshot

MUG_IS = {"ruby_mug.jpg": lambda p: (p[..., 0] - p[..., 1]) > 60,  # the red glaze
          "solidus_mug.jpg": lambda p: p.mean(2) < 100}  # the black glaze


def photo_shadow_region(photo: np.ndarray, name: str) -> np.ndarray:
    lum = photo.mean(2)
    neutral = (photo.max(2) - photo.min(2)) < 14
    mug = MUG_IS[name](photo) | ~neutral
    away = cv2.distanceTransform((~mug).astype(np.uint8), cv2.DIST_L2, 3) > 3
    box = np.zeros(lum.shape, bool)
    box[820:930, 120:620] = True
    return box & neutral & (lum > 120) & (lum < 248) & away


@pytest.mark.parametrize("name", sorted(MUG_IS))
def test_studio_export_of_the_sample_mug_has_no_shadow_smear(name):
    im = packshot(name)
    photo = np.asarray(im.convert("RGB")).astype(int)
    region = photo_shadow_region(photo, name)
    assert region.sum() > 12000  # the photo does have a broad grey floor shadow there
    assert np.percentile(photo.mean(2)[region], 10) < 215  # and a dark one

    cut = cut_out(im)
    scene = render_scene(cut, {"kind": "white"}, (1000, 1000), fill=0.8, seed=1, shadow=False)
    out = np.asarray(scene.image).astype(int)
    x0, y0, x1, y1 = cut.bbox
    X0, Y0, X1, Y1 = scene.product_box
    sx, sy = (X1 - X0) / (x1 - x0), (Y1 - Y0) / (y1 - y0)
    ys, xs = np.nonzero(region)
    cy = np.clip(np.round(Y0 + (ys - y0 + 0.5) * sy - 0.5).astype(int), 0, out.shape[0] - 1)
    cx = np.clip(np.round(X0 + (xs - x0 + 0.5) * sx - 0.5).astype(int), 0, out.shape[1] - 1)
    inside_box = (cx >= X0) & (cx < X1) & (cy >= Y0) & (cy < Y1)
    assert inside_box.sum() > 2000  # part of the shadow lies inside the product's box: the smear's old place
    darkening = 255 - out[cy, cx].min(1)  # how far each exported pixel is from the white backdrop
    assert np.percentile(darkening, 99) <= 8  # no grey smear...
    assert (darkening > 40).sum() <= 20  # ...and not even a few dark specks left of the photo's shadow
    assert float(np.mean(darkening)) < 1.0
