"""Product fidelity: studio outputs keep the product's own pixels; altered products are caught."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skucore.imaging.exports import export_image
from skucore.imaging.fidelity import product_fidelity
from skucore.base.platforms import preset_with_overrides
from skucore.imaging.scene import render_scene

PNG_PRESET = preset_with_overrides("taobao", format="PNG")


def scene_for(cutout, backdrop=None):
    return render_scene(cutout, backdrop or {"kind": "surface", "surface": "wood"}, (800, 800), fill=0.7, seed=4,
                        shadow=True, reflection=True)


def alter(data_rgb: np.ndarray, box, dx=20) -> np.ndarray:
    """Recolour a 24 x 24 patch in the middle of the product."""
    out = data_rgb.copy()
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    out[cy - 12:cy + 12, cx - 12:cx + 12] = np.clip(out[cy - 12:cy + 12, cx - 12:cx + 12].astype(int) + dx, 0, 255)
    return out


@pytest.mark.parametrize("backdrop", [{"kind": "white"}, {"kind": "gradient"}, {"kind": "surface", "surface": "marble"}])
def test_studio_png_is_exact(bottle, backdrop):
    scene = scene_for(bottle, backdrop)
    e = export_image(scene, PNG_PRESET, slot="secondary")
    f = product_fidelity(e.data, e.product_box, scene.scaled_product, fmt="PNG")
    assert f["passed"] and f["exact"] and f["max_abs_diff"] == 0 and f["changed_fraction"] == 0
    assert f["pixels_compared"] > 0.5 * scene.scaled_product.width * scene.scaled_product.height * 0.4


def test_altered_product_detected_png(bottle):
    scene = scene_for(bottle)
    bad = alter(np.asarray(scene.image), scene.product_box, dx=3)
    f = product_fidelity(bad, scene.product_box, scene.scaled_product, fmt="PNG")
    assert not f["passed"] and f["max_abs_diff"] == 3 and f["changed_fraction"] > 0
    assert f["reason"]


def test_jpeg_tolerance_passes_real_product_and_catches_edits(packshot):
    scene = render_scene(packshot, {"kind": "gradient"}, (800, 800), fill=0.8, seed=1)
    for q in (60, 95):
        e = export_image(scene, preset_with_overrides("taobao", quality_range=(q, q)), slot="secondary")
        f = product_fidelity(e.data, e.product_box, scene.scaled_product, fmt="JPEG")
        assert f["passed"], (q, f)
        assert f["psnr_db"] >= 35 and f["psnr"] == f["psnr_db"]
    # a local edit survives JPEG and is caught by the block rule even when the overall PSNR stays high
    edited = Image.fromarray(alter(np.asarray(scene.image), scene.product_box, dx=60))
    e = export_image(edited, preset_with_overrides("taobao", quality_range=(95, 95)), slot="secondary",
                     product_box=scene.product_box)
    f = product_fidelity(e.data, e.product_box, scene.scaled_product, fmt="JPEG")
    assert not f["passed"] and f["worst_block_mad"] > 24


def test_wrong_product_detected(bottle, packshot):
    scene = scene_for(bottle)
    other = render_scene(packshot, {"kind": "white"}, (800, 800), fill=0.7, seed=4)
    f = product_fidelity(other.image, scene.product_box, scene.scaled_product, fmt="JPEG")
    assert not f["passed"] and f["psnr_db"] < 35


def test_box_outside_image_is_an_error(bottle):
    scene = scene_for(bottle)
    with pytest.raises(ValueError, match="inside"):
        product_fidelity(scene.image.crop((0, 0, 100, 100)), scene.product_box, scene.scaled_product)
