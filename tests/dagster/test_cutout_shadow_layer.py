"""product_cutouts keeps each photo's own floor shadow beside the cutout, so a template with `shadow: original`
gets it back from the store in later runs (load_cutout)."""
from pathlib import Path

import dagster as dg
import numpy as np

from skucore import tables as T
from assets.cutouts import load_cutout
from assets.partitions import SKUS
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from orchestration.resources import local_resources
from tests.helpers.cutout import far_from_product, gt_case


def test_the_photos_own_shadow_is_stored_and_reloaded_with_its_cutout(tmp_path, small_catalog):
    defs = build_definitions(local_resources(home=str(tmp_path / "home"), catalog=str(small_catalog)))
    store = defs.resources["store"]
    with dg.instance_for_test() as instance:
        assert run_stage(defs, "catalog_sync", instance).success
        skus = instance.get_dynamic_partitions(SKUS)
        rows = {r["sku"]: r for r in store.read_table(T.CATALOG).to_pylist()}
        case = gt_case("white_sweep", "cap", 0)  # a cap on a sweep with a soft floor shadow
        shadowed = skus[0]
        case.photo.convert("RGB").save(Path(rows[shadowed]["image"]), "PNG")
        assert run_stage(defs, "catalog_sync", instance).success  # the new photo's sha256
        assert run_stage(defs, "sku_cutouts", instance, start=skus[0], end=skus[-1]).success

        cutout, _ = load_cutout(store, shadowed)
        assert cutout.shadow is not None and cutout.shadow.shape == cutout.mask.shape
        strong = (case.shadow > 60) & far_from_product(case.alpha, 4)
        assert np.median(cutout.shadow[strong]) > 30 and (cutout.mask[strong] == 0).all()
