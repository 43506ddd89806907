"""CatalogSource reads photos only from where the catalog says photos live: a catalog row cannot make the
pipeline read (and then publish) an arbitrary file or object."""
import csv
import shutil

import pytest

from skucore.catalog.mapping import CatalogMapping

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
        assert rejects[sku]["reason"] == "photo_location_refused"
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


def test_symlinked_photo_folder_is_refused_with_the_setting_that_allows_it(tmp_path):
    # A mounted photo library: the catalog's photos/ folder is a link to it.
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    library = tmp_path / "mnt" / "library"
    shutil.move(str(tmp_path / "catalog" / "photos"), library)
    (tmp_path / "catalog" / "photos").symlink_to(library, target_is_directory=True)

    load = CatalogSource(location=str(catalog)).load(["fashion", "home_decor", "default"])
    assert load.table.num_rows == 0
    reject = load.rejects.to_pylist()[0]
    assert reject["reason"] == "photo_location_refused"
    assert f"--allow-photos-from {library}" in reject["message"] and "symbolic link" in reject["message"]

    allowed = CatalogSource(location=str(catalog), allowed_photo_locations=[str(library)])
    assert allowed.load(["fashion", "home_decor", "default"]).table.num_rows == 2
    # Or name the link as the photo root: it is resolved like any allowed folder.
    rooted = CatalogSource(location=str(catalog), photo_root=str(tmp_path / "catalog"),
                           allowed_photo_locations=[str(tmp_path / "catalog" / "photos")])
    assert rooted.load(["fashion", "home_decor", "default"]).table.num_rows == 2


def test_a_link_planted_among_the_photos_cannot_read_elsewhere(tmp_path):
    catalog = write_small_catalog(tmp_path / "catalog", 2)
    secret = tmp_path / "secret.jpg"
    shutil.copy(next((tmp_path / "catalog" / "photos").iterdir()), secret)
    (tmp_path / "catalog" / "photos" / "innocent.jpg").symlink_to(secret)
    _add_row(catalog, "LINK-1", "photos/innocent.jpg")
    load = CatalogSource(location=str(catalog)).load(["fashion", "home_decor", "default"])
    assert _rejects(load)["LINK-1"]["reason"] == "photo_location_refused"


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKUSTUDIO_CATALOG", str(tmp_path / "c.csv"))
    monkeypatch.setenv("SKUSTUDIO_CATALOG_FORMAT", "woocommerce")
    monkeypatch.setenv("SKUSTUDIO_CATALOG_MAPPING", str(tmp_path / "m.yaml"))
    monkeypatch.setenv("SKUSTUDIO_CATALOG_CURRENCY", "SEK")
    monkeypatch.setenv("SKUSTUDIO_PHOTO_ROOT", "https://cdn.example.com/media")
    monkeypatch.setenv("SKUSTUDIO_ALLOW_PHOTOS_FROM", "/mnt/library, 10.0.0.0/8,https://photos.internal")
    monkeypatch.setenv("SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS", "true")
    monkeypatch.setenv("SKUSTUDIO_MAX_REJECT_RATIO", "0.05")
    monkeypatch.setenv("SKUSTUDIO_PHOTO_READ_TIMEOUT_S", "2.5")
    source = CatalogSource()
    assert (source.location, source.format, source.currency, source.photo_root) == (
        str(tmp_path / "c.csv"), "woocommerce", "SEK", "https://cdn.example.com/media")
    assert source.allowed_photo_locations == ["/mnt/library", "10.0.0.0/8", "https://photos.internal"]
    assert source.allow_private_photo_networks and source.max_reject_ratio == 0.05
    assert source.photo_read_timeout_s == 2.5
    locations = source.locations(mapping=CatalogMapping())
    assert locations.folders == ["/mnt/library"] and locations.networks == ["10.0.0.0/8"]
    assert locations.hosts == ["cdn.example.com", "photos.internal"]  # the photo root URL is allowed too
    monkeypatch.setenv("SKUSTUDIO_MAX_REJECT_RATIO", "lots")
    with pytest.raises(ValueError, match="SKUSTUDIO_MAX_REJECT_RATIO"):
        CatalogSource()
