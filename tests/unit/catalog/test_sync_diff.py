import pyarrow as pa

from skucore.catalog.sync import diff_catalog


def _t(pairs):
    return pa.table({"sku": [p[0] for p in pairs], "content_hash": [p[1] for p in pairs]})


def test_first_sync_marks_everything_new():
    changes = diff_catalog(None, _t([("A", "1"), ("B", "2")]))
    assert changes.new == ["A", "B"] and changes.changed == [] and changes.delisted == []


def test_changed_delisted_and_unchanged_are_told_apart():
    changes = diff_catalog(_t([("A", "1"), ("B", "2"), ("C", "3")]), _t([("A", "1"), ("B", "2x"), ("D", "4")]))
    assert changes.new == ["D"]
    assert changes.changed == ["B"]
    assert changes.delisted == ["C"]
    assert changes.unchanged == ["A"]
    assert changes.to_generate == ["B", "D"]
    kinds = dict(zip(changes.table.column("sku").to_pylist(), changes.table.column("change").to_pylist()))
    assert kinds == {"A": "unchanged", "B": "changed", "C": "delisted", "D": "new"}
