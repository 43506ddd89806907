"""CDN publish logic on the local folder target: keys, grades, idempotence, manifest integrity and atomicity."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skucore.publish import targets as cdn
from skucore.publish.manifest import read_manifest, remove_sku, write_manifest
from skucore.publish.publishing import image_key, manifest_key, publish_images
from skucore.publish.targets import IMAGE_CACHE_CONTROL, MANIFEST_CACHE_CONTROL, LocalFolderCdn, ManifestIntegrityError
from tests.helpers.cdn import image_bytes, make_image, sku_images

GEN = "2025-11-11T00:00:00+00:00"
SHA = "ab" * 32


def test_image_key_shape_and_content_addressing():
    assert image_key("double11", "SKU-1", "main", "tmall", SHA, "png") == \
        f"promotions/double11/skus/SKU-1/main-tmall-{SHA[:16]}.png"
    with pytest.raises(ValueError):
        image_key("p", "s", "main", "tmall", "XYZ", "png")
    with pytest.raises(ValueError):
        image_key("p", "s", "main", "tmall", SHA, "exe")


@pytest.mark.parametrize("hostile", ["../../etc", "a/b", "..", ".hidden", "a\\b", "x/../../y", "%2e%2e"])
def test_hostile_sku_is_escaped_into_one_segment(tmp_path, hostile):
    key = image_key("promo", hostile, "main", "tmall", SHA, "png")
    segs = key.split("/")
    assert len(segs) == 5 and segs[:2] == ["promotions", "promo"] and segs[2] == "skus"
    assert segs[3] not in ("", ".", "..") and "/" not in segs[3] and not segs[3].startswith(".")
    # and publishing with that sku stays inside the CDN root, under the promotion
    root = tmp_path / "cdn"
    target = LocalFolderCdn(root)
    res = publish_images(target, "promo", hostile, [make_image(1)])
    assert res.uploaded == 1
    path = (root / res[0].key).resolve()
    assert (root / "promotions" / "promo" / "skus").resolve() in path.parents
    assert path.read_bytes() == image_bytes(1)
    assert not (tmp_path / "etc").exists()
    # hostile role / platform / promotion are escaped too
    k2 = image_key("../p", "s", "a/b", "../x", SHA, "png")
    assert k2.split("/")[1] != ".." and len(k2.split("/")) == 5


def test_only_a_and_approved_b_are_published(tmp_path):
    target = LocalFolderCdn(tmp_path)
    images = [
        make_image(1, role="main", grade="A"),
        make_image(2, role="lifestyle", grade="B", approved=True),
        make_image(3, role="detail", grade="B"),
        make_image(4, role="detail2", grade="B", approved=False),
        make_image(5, role="scene", grade="C"),
        make_image(6, role="scene2", grade=None),
        make_image(7, role="scene3", grade="Z"),
    ]
    res = publish_images(target, "p", "s1", images)
    assert sorted(r.role for r in res) == ["lifestyle", "main"]
    reasons = {s.role: s.reason for s in res.skipped}
    assert reasons == {"detail": "b_not_approved", "detail2": "b_not_approved", "scene": "grade_c",
                       "scene2": "grade_invalid", "scene3": "grade_invalid"}
    assert res.counts == {"published": 2, "uploaded": 2, "unchanged": 0, "skipped": 5}
    assert len(target.list("promotions/p/")) == 2
    assert res.to_table().num_rows == 2 and res.skipped_table().num_rows == 5


def test_bad_rows_are_skipped_not_raised(tmp_path):
    target = LocalFolderCdn(tmp_path)
    good = make_image(1)
    images = [
        {**make_image(2, role="x"), "sha256": "0" * 64},                    # hash does not match bytes
        {**make_image(3, role="y"), "format": "gif"},                         # unsupported format
        {"role": "z", "platform": "tmall", "format": "png", "grade": "A"},  # no data
        {**make_image(4, role="w"), "data": None, "path": str(tmp_path / "missing.png")},
        good,
        {**make_image(5), "role": "main"},                                    # second image for main/tmall
    ]
    res = publish_images(target, "p", "s1", images)
    assert [r.role for r in res] == ["main"]
    assert [s.reason for s in res.skipped] == ["sha256_mismatch", "bad_format", "missing_data",
                                              "unreadable_path", "duplicate_slot"]


def test_content_types_cache_control_path_input_and_size(tmp_path):
    src = tmp_path / "src.jpg"
    src.write_bytes(image_bytes(9, "jpeg"))
    target = LocalFolderCdn(tmp_path / "cdn", base_url="https://cdn.example.com/")
    res = publish_images(target, "p", "s1", [
        make_image(1, role="main", fmt="png"),
        {"role": "detail", "platform": "jd", "path": str(src), "format": "jpeg", "grade": "A"},
    ])
    by_role = {r.role: r for r in res}
    assert by_role["main"].key.endswith(".png") and by_role["main"].content_type == "image/png"
    assert by_role["detail"].key.endswith(".jpg") and by_role["detail"].content_type == "image/jpeg"
    assert (by_role["detail"].width, by_role["detail"].height) == (48, 32)  # read from the bytes
    for r in res:
        head = target.head(r.key)
        assert head["content_type"] == r.content_type
        assert head["cache_control"] == IMAGE_CACHE_CONTROL
        assert head["sha256"] == r.sha256
        assert r.url == f"https://cdn.example.com/{r.key}"
    key = write_manifest(target, "p", res, generated_at=GEN)
    assert target.head(key)["cache_control"] == MANIFEST_CACHE_CONTROL
    assert "immutable" not in MANIFEST_CACHE_CONTROL


def test_url_quotes_escaped_keys(tmp_path):
    target = LocalFolderCdn(tmp_path, base_url="https://cdn.example.com")
    res = publish_images(target, "p", "a/b", [make_image(1)])
    assert "/skus/a%2Fb/" in res[0].key
    assert "/skus/a%252Fb/" in res[0].url  # the URL names the object whose key contains "%2F"
    assert LocalFolderCdn(tmp_path).url_for(res[0].key).startswith("file://")


def test_republish_unchanged_uploads_nothing(tmp_path):
    target = LocalFolderCdn(tmp_path)
    images = sku_images(1, roles=("main", "lifestyle", "detail"), platforms=("tmall", "jd"))
    first = publish_images(target, "p", "s1", images)
    assert (first.uploaded, first.unchanged) == (6, 0)
    mtimes = {r.key: os.stat(tmp_path / r.key).st_mtime_ns for r in first}
    puts = target.puts
    second = publish_images(target, "p", "s1", images)
    assert (second.uploaded, second.unchanged) == (0, 6)
    assert target.puts == puts
    assert {r.key: os.stat(tmp_path / r.key).st_mtime_ns for r in second} == mtimes
    assert [r.key for r in first] == [r.key for r in second]
    # a changed image gets a new key; the old one stays (immutable) until a delist
    changed = [dict(images[0], data=image_bytes(999))] + images[1:]
    third = publish_images(target, "p", "s1", changed)
    assert (third.uploaded, third.unchanged) == (1, 5)
    assert third[0].key != first[0].key


def test_object_without_sidecar_is_repaired(tmp_path):
    target = LocalFolderCdn(tmp_path)
    res = publish_images(target, "p", "s1", [make_image(1)])
    (tmp_path / ".cdn-meta" / f"{res[0].key}.json").unlink()  # crash between object and sidecar
    again = publish_images(target, "p", "s1", [make_image(1)])
    assert again[0].action == "repaired" and again.uploaded == 1
    assert target.head(res[0].key)["sha256"] == res[0].sha256


def test_list_hides_sidecars_and_temp_files(tmp_path):
    target = LocalFolderCdn(tmp_path)
    res = publish_images(target, "p", "s1", [make_image(1)])
    (tmp_path / "promotions" / "p" / ".manifest.json.abc.tmp").write_bytes(b"half")
    assert target.list("") == [res[0].key]
    for bad in ("../x", "promotions/../../x", ".cdn-meta/x", "/abs", "a//b"):
        with pytest.raises(cdn.CdnIntegrityError):
            target.put(bad, b"x", "text/plain", "no-cache", {})


def test_manifest_contents_and_determinism(tmp_path):
    target = LocalFolderCdn(tmp_path, base_url="https://cdn.example.com")
    rows = []
    for i, sku in enumerate(["S2", "S1"]):
        rows += list(publish_images(target, "p", sku, sku_images(i, platforms=("tmall", "jd"))))
    key = write_manifest(target, "p", rows, generated_at=GEN, write_csv=True)
    assert key == manifest_key("p") == "promotions/p/manifest.json"
    raw = target.get(key)
    doc = json.loads(raw)
    assert doc["schema_version"] == 1 and doc["promotion"] == "p" and doc["generated_at"] == GEN
    assert doc["count"] == 8 == len(doc["entries"])
    assert [(e["sku"], e["platform"], e["role"]) for e in doc["entries"]] == sorted(
        (e["sku"], e["platform"], e["role"]) for e in doc["entries"])
    e = doc["entries"][0]
    assert set(e) >= {"sku", "platform", "scene", "url", "key", "sha256", "width", "height", "grade"}
    assert e["url"] == f"https://cdn.example.com/{e['key']}" and e["grade"] == "A" and e["width"] == 48
    csv_text = target.get("promotions/p/manifest.csv").decode()
    assert csv_text.splitlines()[0].startswith("sku,platform,scene") and len(csv_text.splitlines()) == 9
    # same inputs, other target folder: same bytes
    other = LocalFolderCdn(tmp_path / "other", base_url="https://cdn.example.com")
    for i, sku in enumerate(["S2", "S1"]):
        publish_images(other, "p", sku, sku_images(i, platforms=("tmall", "jd")))
    write_manifest(other, "p", reversed(rows), generated_at=GEN)
    assert other.get(key) == raw
    # unchanged entries: not rewritten
    puts = target.puts
    write_manifest(target, "p", rows, generated_at="2030-01-01T00:00:00Z", write_csv=True)
    assert target.puts == puts and json.loads(target.get(key))["generated_at"] == GEN


def test_manifest_refuses_missing_objects_and_keeps_the_old_one(tmp_path):
    target = LocalFolderCdn(tmp_path)
    rows = list(publish_images(target, "p", "s1", sku_images(1)))
    write_manifest(target, "p", rows, generated_at=GEN)
    before = target.get(manifest_key("p"))
    more = list(publish_images(target, "p", "s2", sku_images(2)))
    target.delete(more[1].key)  # an object vanished before the manifest step
    with pytest.raises(ManifestIntegrityError) as ei:
        write_manifest(target, "p", rows + more, generated_at="2025-11-12T00:00:00Z")
    assert ei.value.missing == [more[1].key] and more[1].key in str(ei.value)
    assert target.get(manifest_key("p")) == before
    # first manifest of a promotion: none at all is written
    with pytest.raises(ManifestIntegrityError):
        write_manifest(target, "q", [dict(rows[0].manifest_entry(), key="promotions/q/skus/s/x.png")],
                       generated_at=GEN)
    assert target.head(manifest_key("q")) is None


def test_manifest_write_is_atomic_when_the_process_dies_mid_write(tmp_path, monkeypatch):
    target = LocalFolderCdn(tmp_path)
    rows = list(publish_images(target, "p", "s1", sku_images(1)))
    write_manifest(target, "p", rows, generated_at=GEN)
    before = target.get(manifest_key("p"))
    more = list(publish_images(target, "p", "s2", sku_images(2)))

    def dying_replace(src, dst):
        raise KeyboardInterrupt("killed during rename")

    monkeypatch.setattr("skucore.base.storage.os.replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        write_manifest(target, "p", rows + more, generated_at="2025-11-12T00:00:00Z")
    monkeypatch.undo()
    assert target.get(manifest_key("p")) == before
    assert not [p for p in (tmp_path / "promotions" / "p").iterdir() if p.name.endswith(".tmp")]


def test_two_promotions_never_overwrite_each_other(tmp_path):
    target = LocalFolderCdn(tmp_path)
    images = sku_images(1)
    a = publish_images(target, "double11", "S1", images)
    b = publish_images(target, "618", "S1", images)
    assert b.uploaded == len(images)  # same bytes, still its own objects under its own prefix
    assert not set(r.key for r in a) & set(r.key for r in b)
    write_manifest(target, "double11", a, generated_at=GEN)
    write_manifest(target, "618", b, generated_at=GEN)
    assert {e["key"] for e in read_manifest(target, "double11")["entries"]} == {r.key for r in a}
    assert {e["key"] for e in read_manifest(target, "618")["entries"]} == {r.key for r in b}
    remove_sku(target, "618", "S1", delete_objects=True, generated_at=GEN)
    for r in a:
        assert target.get(r.key) == next(i["data"] for i in images if i["role"] == r.role)
    assert len(read_manifest(target, "double11")["entries"]) == len(images)
    with pytest.raises(ValueError, match="promotion"):
        write_manifest(target, "618", a, generated_at=GEN)  # rows of another promotion
    with pytest.raises(ValueError, match="outside promotion prefix"):
        write_manifest(target, "618", [r.manifest_entry() for r in a], generated_at=GEN)


def test_remove_sku_rewrites_manifest_before_deleting(tmp_path):
    inner = LocalFolderCdn(tmp_path)
    calls = []

    class Recording:
        def __getattr__(self, name):
            attr = getattr(inner, name)
            if name in ("put", "delete"):
                def wrapped(key, *a, **k):
                    calls.append((name, key))
                    return attr(key, *a, **k)
                return wrapped
            return attr

    target = Recording()
    r1 = list(publish_images(target, "p", "S1", sku_images(1)))
    r2 = list(publish_images(target, "p", "S2", sku_images(2)))
    write_manifest(target, "p", r1 + r2, generated_at=GEN)
    calls.clear()

    kept = remove_sku(target, "p", "S2", delete_objects=False)
    assert kept.manifest_entries_removed == 2 and kept.objects_deleted == []
    doc = read_manifest(target, "p")
    assert {e["sku"] for e in doc["entries"]} == {"S1"} and doc["generated_at"] == GEN
    assert all(inner.head(r.key) for r in r2)

    write_manifest(target, "p", r1 + r2, generated_at=GEN)
    calls.clear()
    gone = remove_sku(target, "p", "S2", delete_objects=True, generated_at="2025-11-13T00:00:00Z")
    assert sorted(gone.objects_deleted) == sorted(r.key for r in r2)
    assert calls[0] == ("put", manifest_key("p")) and all(c[0] == "delete" for c in calls[1:])
    assert all(inner.head(r.key) is None for r in r2) and all(inner.head(r.key) for r in r1)
    assert read_manifest(target, "p")["generated_at"] == "2025-11-13T00:00:00Z"
    # no manifest yet: objects can still be removed
    publish_images(target, "q", "S9", sku_images(9))
    res = remove_sku(target, "q", "S9", delete_objects=True)
    assert res.manifest_key is None and len(res.objects_deleted) == 2


def test_cdn_resource_local(tmp_path):
    from resources.cdn import CdnResource

    target = CdnResource(kind="local", local_root=str(tmp_path), base_url="https://cdn.test").target()
    assert isinstance(target, LocalFolderCdn) and isinstance(target, cdn.CdnTarget)
    res = publish_images(target, "p", "s", [make_image(1)])
    assert res[0].url.startswith("https://cdn.test/promotions/p/")
    with pytest.raises(cdn.CdnError, match="local_root"):
        CdnResource(kind="local").target()
    with pytest.raises(cdn.CdnError, match="bucket"):
        CdnResource(kind="s3").target()
    assert Path(tmp_path, res[0].key).exists()
