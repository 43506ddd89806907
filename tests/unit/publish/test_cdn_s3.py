"""CDN publish against a REAL S3 API: moto's standalone server in its own process on 127.0.0.1.

The fault tests SIGKILL that process in the middle of a publish. Restart semantics (see tests/s3_server.py):
- `durable_s3_server` runs moto with its request recorder on and replays it on restart, so the objects that
  reached the server before the crash are there again (a durable store coming back): the rerun must skip them,
  upload only the rest, and leave exactly one object per manifest entry;
- `fresh_s3_server` comes back empty (moto's default in-memory state): the bucket is re-created and the rerun
  republishes everything, again with a consistent manifest.
"""
from __future__ import annotations

import hashlib
import json
import time

import pytest
from dagster import EnvVar, asset, materialize
from dagster_aws.s3 import S3Resource

from resources.cdn import CdnResource, S3CdnTarget
from skucore.publish.manifest import read_manifest, remove_sku, write_manifest
from skucore.publish.publishing import manifest_key, publish_images
from skucore.publish.targets import IMAGE_CACHE_CONTROL, MANIFEST_CACHE_CONTROL, CdnError, CdnIntegrityError, CdnUnavailableError, ManifestIntegrityError
from tests.helpers.cdn import FAKE_KEY_ID, FAKE_SECRET, image_bytes, make_image, sku_images

GEN1 = "2025-11-01T00:00:00+00:00"
GEN2 = "2025-11-11T00:00:00+00:00"


def resource_for(server, bucket: str, **kw) -> CdnResource:
    # No credentials here: boto3 reads the (dummy) ones the autouse fixture put in the environment.
    return CdnResource(kind="s3", bucket=bucket,
                       s3=S3Resource(endpoint_url=server.endpoint_url, region_name="us-east-1", max_attempts=1),
                       **kw)


def count_puts(target: S3CdnTarget) -> list:
    calls: list = []
    target.client.meta.events.register("before-call.s3.PutObject", lambda **kw: calls.append(1))
    return calls


def publish_promotion(target, promotion: str, catalog: dict[str, list[dict]], generated_at: str,
                      write_csv: bool = False):
    rows, uploaded, unchanged = [], 0, 0
    for sku, images in catalog.items():
        res = publish_images(target, promotion, sku, images)
        rows += list(res)
        uploaded += res.uploaded
        unchanged += res.unchanged
    key = write_manifest(target, promotion, rows, generated_at=generated_at, write_csv=write_csv)
    return rows, uploaded, unchanged, key


def catalog_of(n_skus: int, start: int = 0, roles=("main", "lifestyle"), platforms=("tmall",)):
    return {f"SKU-{i:03d}": sku_images(i, roles=roles, platforms=platforms) for i in range(start, start + n_skus)}


def assert_consistent(server, bucket: str, target, promotion: str, expected_entries: int):
    """Every manifest entry exists once with the right bytes; the bucket holds nothing else for the promotion."""
    doc = read_manifest(target, promotion)
    assert doc is not None and doc["count"] == expected_entries == len(doc["entries"])
    listing = [o["Key"] for page in server.client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"promotions/{promotion}/") for o in page.get("Contents", [])]
    assert len(listing) == len(set(listing))
    image_keys = sorted(k for k in listing if "/skus/" in k)
    assert image_keys == sorted(e["key"] for e in doc["entries"])
    slots = [(e["sku"], e["role"], e["platform"]) for e in doc["entries"]]
    assert len(slots) == len(set(slots))  # no duplicates per slot
    for e in doc["entries"]:
        data = target.get(e["key"])
        assert hashlib.sha256(data).hexdigest() == e["sha256"]
    return doc


def test_publish_republish_headers_and_manifest(s3_server, bucket_name):
    s3_server.create_bucket(bucket_name)
    target = resource_for(s3_server, bucket_name).target()
    puts = count_puts(target)
    catalog = catalog_of(3, roles=("main", "lifestyle"), platforms=("tmall", "jd"))
    catalog["SKU-000"].append(make_image(77, role="detail", fmt="jpeg"))
    catalog["SKU-001"].append(make_image(78, role="scene", grade="C"))
    rows, uploaded, unchanged, key = publish_promotion(target, "double11", catalog, GEN1)
    assert (uploaded, unchanged) == (13, 0) and len(puts) == 14  # 13 images + manifest

    client = s3_server.client()
    for r in rows:
        head = client.head_object(Bucket=bucket_name, Key=r.key)
        assert head["ContentType"] == ("image/jpeg" if r.key.endswith(".jpg") else "image/png")
        assert head["CacheControl"] == IMAGE_CACHE_CONTROL
        assert head["Metadata"]["sha256"] == r.sha256
        assert head["ContentLength"] == r.bytes
    mhead = client.head_object(Bucket=bucket_name, Key=key)
    assert mhead["CacheControl"] == MANIFEST_CACHE_CONTROL and mhead["ContentType"].startswith("application/json")
    assert_consistent(s3_server, bucket_name, target, "double11", 13)
    last_modified = {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=bucket_name)["Contents"]}

    time.sleep(1.1)  # LastModified has one-second resolution: a re-upload would show
    puts.clear()
    rows2, uploaded2, unchanged2, _ = publish_promotion(target, "double11", catalog, GEN2)
    assert (uploaded2, unchanged2) == (0, 13) and puts == []
    assert {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=bucket_name)["Contents"]} \
        == last_modified
    assert [r.key for r in rows2] == [r.key for r in rows]
    assert json.loads(target.get(key))["generated_at"] == GEN1  # unchanged manifest not rewritten


def test_two_promotions_in_one_bucket_do_not_overwrite(s3_server, bucket_name):
    s3_server.create_bucket(bucket_name)
    target = resource_for(s3_server, bucket_name, base_url="https://cdn.example.com").target()
    catalog = catalog_of(2)
    rows_a, *_ = publish_promotion(target, "double11", catalog, GEN1)
    before = {k: target.get(k) for k in target.list("promotions/double11/")}
    rows_b, up_b, _, _ = publish_promotion(target, "618", catalog, GEN2)
    assert up_b == 4
    assert {k: target.get(k) for k in target.list("promotions/double11/")} == before
    assert not {r.key for r in rows_a} & {r.key for r in rows_b}
    assert all(r.url.startswith("https://cdn.example.com/promotions/618/") for r in rows_b)
    assert_consistent(s3_server, bucket_name, target, "double11", 4)
    assert_consistent(s3_server, bucket_name, target, "618", 4)


def test_remove_sku_on_s3(s3_server, bucket_name):
    s3_server.create_bucket(bucket_name)
    target = resource_for(s3_server, bucket_name).target()
    publish_promotion(target, "p", catalog_of(3), GEN1)
    res = remove_sku(target, "p", "SKU-001", delete_objects=True, generated_at=GEN2)
    assert res.manifest_entries_removed == 2 and len(res.objects_deleted) == 2
    doc = assert_consistent(s3_server, bucket_name, target, "p", 4)
    assert {e["sku"] for e in doc["entries"]} == {"SKU-000", "SKU-002"} and doc["generated_at"] == GEN2


def test_prefix_and_manifest_integrity_on_s3(s3_server, bucket_name):
    s3_server.create_bucket(bucket_name)
    target = resource_for(s3_server, bucket_name, prefix="/prod/").target()
    rows = list(publish_images(target, "p", "S1", sku_images(1)))
    assert all(k.startswith("prod/promotions/p/") for k in
               [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket_name)["Contents"]])
    assert target.list("promotions/p/") == sorted(r.key for r in rows)
    s3_server.client().delete_object(Bucket=bucket_name, Key=f"prod/{rows[0].key}")
    with pytest.raises(ManifestIntegrityError) as ei:
        write_manifest(target, "p", rows, generated_at=GEN1)
    assert ei.value.missing == [rows[0].key]
    assert target.head(manifest_key("p")) is None


def test_corrupted_upload_is_detected(s3_server, bucket_name):
    """Flip bytes of the body after our checksums were computed (a corrupting proxy). moto 5.2.5 does not verify
    Content-MD5 / x-amz-checksum-sha256 itself (real S3 answers BadDigest), so this exercises our ETag check."""
    s3_server.create_bucket(bucket_name)
    target = resource_for(s3_server, bucket_name).target()

    def corrupt(request, **kw):
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        request.body = body[:-1] + bytes([body[-1] ^ 0xFF])

    target.client.meta.events.register("before-send.s3.PutObject", corrupt)
    with pytest.raises(CdnIntegrityError, match="corrupt"):
        publish_images(target, "p", "S1", [make_image(1)])


def test_unreachable_endpoint_and_missing_bucket_give_clear_errors(s3_server, bucket_name):
    from tests.helpers.s3_server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    target = CdnResource(kind="s3", bucket=bucket_name,
                         s3=S3Resource(endpoint_url=dead, region_name="us-east-1", max_attempts=1)).target()
    with pytest.raises(CdnUnavailableError) as ei:
        publish_images(target, "p", "S1", [make_image(1)])
    msg = str(ei.value)
    assert dead in msg and "promotions/p/skus/S1/" in msg and ei.value.endpoint == dead
    assert FAKE_SECRET not in msg and FAKE_KEY_ID not in msg
    # bucket does not exist: a configuration error, not "unavailable"
    target = resource_for(s3_server, bucket_name).target()
    with pytest.raises(CdnError) as ei2:
        publish_images(target, "p", "S1", [make_image(1)])
    assert not isinstance(ei2.value, CdnUnavailableError) and "NoSuchBucket" in str(ei2.value)
    with pytest.raises(CdnError):
        target.check()


class KillAfterPuts:
    """A CdnTarget wrapper that SIGKILLs the S3 server process just before its n-th PUT is sent."""

    def __init__(self, inner, server, n: int):
        self.inner, self.server, self.n, self.puts = inner, server, n, 0

    def put(self, *a, **kw):
        self.puts += 1
        if self.puts == self.n:
            self.server.kill()
        return self.inner.put(*a, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_server_killed_mid_publish_then_restarted_durable(durable_s3_server, bucket_name):
    server = durable_s3_server
    server.create_bucket(bucket_name)
    resource = resource_for(server, bucket_name, base_url="https://cdn.example.com")

    # 1. first publish of the promotion dies after 4 objects: no manifest at all
    v1 = catalog_of(4)  # 8 images
    with pytest.raises(CdnUnavailableError) as ei:
        publish_promotion(KillAfterPuts(resource.target(), server, 5), "double11", v1, GEN1)
    assert server.endpoint_url in str(ei.value) and "promotions/double11/skus/" in str(ei.value)
    assert FAKE_SECRET not in str(ei.value)
    server.restart()  # replays the 4 PUTs that reached it
    target = resource.target()
    assert target.head(manifest_key("double11")) is None
    assert len(target.list("promotions/double11/")) == 4
    rows, uploaded, unchanged, _ = publish_promotion(target, "double11", v1, GEN1, write_csv=True)
    assert (uploaded, unchanged) == (4, 4)
    assert_consistent(server, bucket_name, target, "double11", 8)
    manifest_v1 = target.get(manifest_key("double11"))

    # 2. the next version (4 old SKUs unchanged + 4 new) dies mid-publish: the old manifest stays as it was
    v2 = {**v1, **catalog_of(4, start=10, roles=("main", "lifestyle", "detail"))}  # + 12 images
    with pytest.raises(CdnUnavailableError):
        publish_promotion(KillAfterPuts(resource.target(), server, 7), "double11", v2, GEN2, write_csv=True)
    server.restart()
    target = resource.target()
    assert target.get(manifest_key("double11")) == manifest_v1
    rows, uploaded, unchanged, _ = publish_promotion(target, "double11", v2, GEN2, write_csv=True)
    assert (uploaded, unchanged) == (12 - 6, 8 + 6)
    doc = assert_consistent(server, bucket_name, target, "double11", 20)
    assert doc["generated_at"] == GEN2
    assert len(target.get("promotions/double11/manifest.csv").decode().splitlines()) == 21

    # 3. a rerun after success uploads nothing at all
    puts = count_puts(target)
    _, uploaded, unchanged, _ = publish_promotion(target, "double11", v2, GEN2, write_csv=True)
    assert (uploaded, unchanged, puts) == (0, 20, [])


def test_server_killed_mid_publish_then_restarted_empty(fresh_s3_server, bucket_name):
    server = fresh_s3_server
    server.create_bucket(bucket_name)
    resource = resource_for(server, bucket_name)
    catalog = catalog_of(5)  # 10 images
    with pytest.raises(CdnUnavailableError):
        publish_promotion(KillAfterPuts(resource.target(), server, 6), "p", catalog, GEN1)
    server.restart()  # moto's memory is gone: no bucket, no objects, no manifest
    with pytest.raises(CdnError, match="NoSuchBucket"):
        publish_promotion(resource.target(), "p", catalog, GEN1)
    server.create_bucket(bucket_name)
    target = resource.target()
    _, uploaded, unchanged, _ = publish_promotion(target, "p", catalog, GEN1)
    assert (uploaded, unchanged) == (10, 0)
    assert_consistent(server, bucket_name, target, "p", 10)


def test_through_a_dagster_asset_with_env_configured_endpoint(s3_server, bucket_name, monkeypatch):
    s3_server.create_bucket(bucket_name)
    monkeypatch.setenv("CDN_TEST_S3_ENDPOINT", s3_server.endpoint_url)

    @asset
    def published(cdn: CdnResource) -> dict:
        target = cdn.target()
        res = publish_images(target, "p", "S1", [make_image(1), make_image(2, role="detail", fmt="jpeg")])
        key = write_manifest(target, "p", res, generated_at=GEN1)
        return {"manifest": key, **res.counts}

    resource = CdnResource(kind="s3", bucket=bucket_name,
                           s3=S3Resource(endpoint_url=EnvVar("CDN_TEST_S3_ENDPOINT"), region_name="us-east-1",
                                         max_attempts=1))
    result = materialize([published], resources={"cdn": resource})
    assert result.success
    out = result.output_for_node("published")
    assert out["uploaded"] == 2 and out["manifest"] == "promotions/p/manifest.json"
    body = s3_server.client().get_object(Bucket=bucket_name, Key="promotions/p/manifest.json")["Body"].read()
    assert json.loads(body)["count"] == 2
    assert image_bytes(1) in [s3_server.client().get_object(Bucket=bucket_name, Key=e["key"])["Body"].read()
                              for e in json.loads(body)["entries"]]
