"""The catalog sync through Dagster on a temporary instance: tables written, gate evaluated, partitions synced."""
import shutil

import dagster as dg
import pytest

from skucore import tables as T
from assets.partitions import PROMOTIONS, SKUS
from skucore.catalog.sample import sample_catalog_path


@pytest.fixture
def sample_copy(tmp_path):
    src = sample_catalog_path().parent
    dst = tmp_path / "catalog"
    shutil.copytree(src, dst)
    return dst / "catalog.csv"


def _defs(store_root, catalog_path):
    from assets.catalog import catalog, catalog_gate, catalog_partitions
    from resources.catalog import CatalogSource
    from resources.cdn import CdnResource
    from resources.promotions import PromotionLibrary
    from resources.storage import StudioStore

    return dg.Definitions(
        assets=[catalog, catalog_partitions],
        asset_checks=[catalog_gate],
        resources={
            "store": StudioStore(root=str(store_root)),
            "catalog_source": CatalogSource(location=str(catalog_path)),
            "promotions": PromotionLibrary(),
            "cdn": CdnResource(kind="local", local_root=str(store_root.parent / "cdn")),
        },
    )


def _sync(defs, instance):
    return dg.materialize(
        [*defs.assets, *defs.asset_checks], resources=defs.resources, instance=instance, raise_on_error=False
    )


def test_sync_registers_skus_and_promotions_and_gate_passes(tmp_path, sample_copy):
    with dg.instance_for_test() as instance:
        defs = _defs(tmp_path / "store", sample_copy)
        result = _sync(defs, instance)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert [c.passed for c in checks] == [True]
        skus = instance.get_dynamic_partitions(SKUS)
        assert len(skus) == 30
        assert "double11" in instance.get_dynamic_partitions(PROMOTIONS)
        assert (tmp_path / "store" / T.CATALOG).is_file()


def test_sync_removes_delisted_and_reports_changed(tmp_path, sample_copy):
    with dg.instance_for_test() as instance:
        defs = _defs(tmp_path / "store", sample_copy)
        assert _sync(defs, instance).success
        lines = sample_copy.read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], lines[1:]
        delisted_sku = rows[0].split(",")[0]
        changed = rows[1].replace("Solidus", "Solidus Pro", 1) if "Solidus" in rows[1] else rows[1] + " "
        sample_copy.write_text("\n".join([header, changed] + rows[2:]) + "\n", encoding="utf-8")
        result = _sync(defs, instance)
        assert result.success
        skus = instance.get_dynamic_partitions(SKUS)
        assert delisted_sku not in skus and len(skus) == 29
        md = result.asset_materializations_for_node("catalog_partitions")[0].metadata
        assert md["skus_removed"].value == 1
        assert md["skus_changed"].value == 1


def test_gate_closes_on_too_many_rejects_and_blocks_the_partition_sync(tmp_path, sample_copy):
    # Point half the rows at a missing photo: they are rejected, and the reject ratio closes the gate.
    lines = sample_copy.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    broken = [r.replace(".jpg", "_missing.jpg") if i % 2 == 0 else r for i, r in enumerate(rows)]
    sample_copy.write_text("\n".join([header] + broken) + "\n", encoding="utf-8")
    with dg.instance_for_test() as instance:
        defs = _defs(tmp_path / "store", sample_copy)
        result = _sync(defs, instance)
        assert not result.success
        (check,) = result.get_asset_check_evaluations()
        assert not check.passed
        assert check.metadata["rejected_rows"].value == 15
        assert instance.get_dynamic_partitions(SKUS) == []  # blocked: nothing registered
