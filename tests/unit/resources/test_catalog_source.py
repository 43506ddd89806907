"""CatalogSource reads photos only from where the catalog says photos live: a catalog row cannot make the
pipeline read (and then publish) an arbitrary file or object."""
import csv
import shutil


from resources.catalog import CatalogSource
from tests.helpers.catalogs import write_small_catalog
from tests.helpers.s3_server import DUMMY_CREDENTIALS, MotoS3Server


def _add_row(catalog, sku, image):
    with open(catalog, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, fields = list(reader), reader.fieldnames
    rows.append(dict(rows[0], sku=sku, image=image))
    with open(catalog, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _rejects(load):
    return {r["sku"]: r for r in load.rejects.to_pylist()}


def test_photos_outside_the_catalog_folder_are_refused(tmp_path):
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    outside = tmp_path / "private"
    outside.mkdir()
    secret = outside / "id_scan.jpg"
    shutil.copy(next((tmp_path / "catalog" / "photos").iterdir()), secret)
    _add_row(catalog, "ABS-1", str(secret))
    _add_row(catalog, "DOTDOT-1", "../private/id_scan.jpg")
    _add_row(catalog, "MISSING-1", str(outside / "does_not_exist.jpg"))

    load = CatalogSource(location=str(catalog)).load(["fashion", "home_decor", "default"])
    assert load.table.num_rows == 2
    rejects = _rejects(load)
    for sku in ("ABS-1", "DOTDOT-1", "MISSING-1"):
        assert "outside the allowed photo locations" in rejects[sku]["message"]
    # Refused before it is read: a missing file and an existing one get the same reason.
    assert rejects["ABS-1"]["reason"] == rejects["MISSING-1"]["reason"]

    allowed = CatalogSource(location=str(catalog), allowed_photo_locations=[str(outside)]).load(["fashion", "home_decor", "default"])
    assert "ABS-1" in allowed.table.column("sku").to_pylist()
    assert "DOTDOT-1" in allowed.table.column("sku").to_pylist()


def test_catalog_in_s3_resolves_relative_photos_under_its_prefix(tmp_path, monkeypatch):
    from dagster_aws.s3 import S3Resource

    for k, v in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    _add_row(catalog, "OTHER-BUCKET-1", "s3://someone-elses-bucket/photo.jpg")
    with MotoS3Server() as server:
        server.create_bucket("catalogs")
        server.create_bucket("someone-elses-bucket")
        client = server.client()
        client.put_object(Bucket="catalogs", Key="spring/catalog.csv", Body=catalog.read_bytes())
        for photo in (tmp_path / "catalog" / "photos").iterdir():
            client.put_object(Bucket="catalogs", Key=f"spring/photos/{photo.name}", Body=photo.read_bytes())
        client.put_object(Bucket="someone-elses-bucket", Key="photo.jpg", Body=photo.read_bytes())
        source = CatalogSource(location="s3://catalogs/spring/catalog.csv", s3=S3Resource(endpoint_url=server.endpoint_url))
        load = source.load(["fashion", "home_decor", "default"])
    assert load.table.num_rows == 2
    assert all(uri.startswith("s3://catalogs/spring/photos/") for uri in load.table.column("image").to_pylist())
    assert "outside the allowed photo locations" in _rejects(load)["OTHER-BUCKET-1"]["message"]
