"""Writes are atomic: a write that dies half way leaves the previous file whole and no temporary behind."""
import os

import pytest

from skucore.base.storage import atomic_write_bytes


def test_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "b" / "manifest.json"
    atomic_write_bytes(target, b"v1")
    atomic_write_bytes(target, b"v2")
    assert target.read_bytes() == b"v2"
    assert sorted(p.name for p in target.parent.iterdir()) == ["manifest.json"]


def test_a_crash_before_the_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "image.jpg"
    atomic_write_bytes(target, b"old image")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new image, half written")
    assert target.read_bytes() == b"old image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.jpg"]
