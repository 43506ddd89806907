"""The store on S3 (production): a dagster-aws S3Resource is accepted, and bytes, tables and listings round-trip
through a real S3 API (moto's server on loopback)."""
import pyarrow as pa
from dagster_aws.s3 import S3Resource

from resources.storage import StudioStore
from tests.helpers.s3_server import moto_s3_server_fixture

s3_server = moto_s3_server_fixture(scope="module")


def test_store_on_s3_round_trips_bytes_tables_and_listings(s3_server, monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    s3_server.create_bucket("store")
    store = StudioStore(kind="s3", bucket="store", prefix="prod",
                        s3=S3Resource(endpoint_url=s3_server.endpoint_url, region_name="us-east-1"))
    assert store.put_bytes("images/p/a.png", b"png") == "s3://store/prod/images/p/a.png"
    store.write_table("tables/t.parquet", pa.table({"sku": ["A", "B"]}))
    assert store.get_bytes("images/p/a.png") == b"png"
    assert store.read_table("tables/t.parquet").column("sku").to_pylist() == ["A", "B"]
    assert store.exists("images/p/a.png") and not store.exists("images/p/missing.png")
    assert store.list_keys("images/") == ["images/p/a.png"]
    assert s3_server.client().get_object(Bucket="store", Key="prod/tables/t.parquet")["ContentLength"] > 0
    store.delete("images/p/a.png")
    assert store.list_keys("images/") == []
