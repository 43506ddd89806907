"""The catalog source: a local file or an s3:// object, the export format and mapping file that say how to read
it, its currency, where its photos may come from and how they are fetched, and the ingestion rules users tune.

Every setting has an environment variable (read when the resource is built, so `skustudio sync` flags, which set
them, and a deployment's environment configure the same thing): SKUSTUDIO_CATALOG, SKUSTUDIO_CATALOG_FORMAT,
SKUSTUDIO_CATALOG_MAPPING, SKUSTUDIO_CATALOG_CURRENCY, SKUSTUDIO_PHOTO_ROOT, SKUSTUDIO_ALLOW_PHOTOS_FROM (comma
separated), SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS, SKUSTUDIO_PHOTO_CACHE, SKUSTUDIO_MAX_REJECT_RATIO.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from resources.photo_locations import PhotoLocations
from skucore.base.settings import env_number


def _env(name: str, default=None):
    value = os.environ.get(name, "").strip()
    return value or default


def _default_catalog() -> str:
    if _env("SKUSTUDIO_CATALOG"):
        return os.environ["SKUSTUDIO_CATALOG"].strip()
    from skucore.catalog.sample import sample_catalog_path

    return str(sample_catalog_path())


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _env_number(name: str, default: float, kind=float):
    """A numeric setting from the environment, read when the resource is built (operations tune fetching
    without code)."""
    return lambda: env_number(name, default, kind=kind)


def _env_ratio() -> float:
    value = _env("SKUSTUDIO_MAX_REJECT_RATIO", "0.2")
    try:
        ratio = float(value)
    except ValueError:
        raise ValueError(f"SKUSTUDIO_MAX_REJECT_RATIO must be a number between 0 and 1, got {value!r}") from None
    if not 0 <= ratio <= 1:
        raise ValueError(f"SKUSTUDIO_MAX_REJECT_RATIO must be between 0 and 1, got {value!r}")
    return ratio


class CatalogSource(dg.ConfigurableResource):
    """Where the catalog comes from, how it is read, and how strict ingestion is."""

    location: str = Field(default_factory=_default_catalog, description="catalog file path or s3://bucket/key")
    format: str | None = Field(default_factory=lambda: _env("SKUSTUDIO_CATALOG_FORMAT"),
                               description="export format; detected when unambiguous (see README)")
    mapping: str | None = Field(default_factory=lambda: _env("SKUSTUDIO_CATALOG_MAPPING"),
                                description="mapping file (YAML/JSON): renames, constants, photo join, categories")
    currency: str | None = Field(default_factory=lambda: _env("SKUSTUDIO_CATALOG_CURRENCY"),
                                 description="the catalog currency, for prices that name none (ISO 4217)")
    unknown_category: str = Field(default="default", description='"default" (map) or "reject"')
    min_side: int = 400
    max_pixels: int = 40_000_000
    price_min: float = 0.01
    price_max: float = 1_000_000.0
    max_reject_ratio: float = Field(default_factory=_env_ratio,
                                    description="the catalog gate closes above this share of rejected rows")
    photo_root: str | None = Field(
        default_factory=lambda: _env("SKUSTUDIO_PHOTO_ROOT"),
        description="where relative photo paths start: a folder, s3:// prefix or http(s) URL prefix (default: the "
        "mapping file's photos.prefix, else the catalog's own folder or S3 prefix)",
    )
    allowed_photo_locations: list[str] = Field(
        default_factory=lambda: _env_list("SKUSTUDIO_ALLOW_PHOTOS_FROM"),
        description="folders, s3://bucket/prefix, http(s)://hosts or networks (CIDR) photos may come from besides "
        "the photo root; other paths and objects are refused, so a catalog row cannot make the pipeline read (and "
        "publish) an arbitrary file, object or internal service. Public http(s) hosts need no entry.",
    )
    allow_private_photo_networks: bool = Field(
        default_factory=lambda: _env("SKUSTUDIO_ALLOW_PRIVATE_PHOTO_NETWORKS", "").lower() in ("1", "true", "yes"),
        description="fetch photo URLs on private, loopback and CGNAT addresses (an in-house photo server); "
        "link-local (cloud metadata) stays refused unless a network names it",
    )
    photo_cache: str | None = Field(
        default_factory=lambda: _env("SKUSTUDIO_PHOTO_CACHE"),
        description="where fetched photos are kept by content hash: a folder or s3://bucket/prefix (default "
        "$SKUSTUDIO_HOME/store/photo-cache)",
    )
    animated_photos: str = Field(default_factory=lambda: _env("SKUSTUDIO_ANIMATED_PHOTOS", "first_frame"),
                                 description='"first_frame" or "reject"')
    # Fetching photo URLs; each also from SKUSTUDIO_<NAME upper-cased>, e.g. SKUSTUDIO_PHOTO_READ_TIMEOUT_S.
    photo_fetch_workers: int = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_FETCH_WORKERS", 16, int))
    photo_per_host_limit: int = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_PER_HOST_LIMIT", 4, int))
    photo_max_bytes: int = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_MAX_BYTES", 25 * 1024 * 1024, int))
    photo_connect_timeout_s: float = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_CONNECT_TIMEOUT_S", 5.0))
    photo_read_timeout_s: float = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_READ_TIMEOUT_S", 15.0))
    photo_total_timeout_s: float = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_TOTAL_TIMEOUT_S", 60.0))
    photo_retries: int = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_RETRIES", 3, int))
    photo_max_redirects: int = Field(default_factory=_env_number("SKUSTUDIO_PHOTO_MAX_REDIRECTS", 5, int))
    photo_ca_bundle: str | None = None
    s3: S3Resource | None = None

    # ---- where photos come from ------------------------------------------------------------------------------
    def _read_s3(self, uri: str) -> bytes:
        if self.s3 is None:
            raise ValueError(f"{uri}: an s3:// location needs CatalogSource.s3 configured")
        parsed = urlparse(uri)
        obj = self.s3.get_client().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
        return obj["Body"].read()

    def catalog_mapping(self):
        from skucore.catalog.mapping import load_mapping

        return load_mapping(self.mapping)

    def effective_photo_root(self, mapping=None) -> str:
        if self.photo_root:
            return self.photo_root
        prefix = (mapping or self.catalog_mapping()).photo_prefix
        if prefix:
            return prefix
        if self.location.startswith("s3://"):
            return self.location.rsplit("/", 1)[0]
        return str(Path(self.location).resolve().parent)

    def locations(self, mapping=None) -> PhotoLocations:
        return PhotoLocations.parse([self.effective_photo_root(mapping)], self.allowed_photo_locations)

    def check_photo_location(self, uri: str, locations: PhotoLocations | None = None) -> None:
        (locations or self.locations()).check(uri)

    def read_photo(self, uri: str, locations: PhotoLocations | None = None) -> bytes:
        self.check_photo_location(uri, locations)
        if uri.startswith("s3://"):
            return self._read_s3(uri)
        return Path(uri[len("file://"):] if uri.startswith("file://") else uri).read_bytes()

    # ---- fetched photos --------------------------------------------------------------------------------------
    def blob_cache(self):
        from skucore.catalog.blob_cache import LocalFolderCache, S3BlobCache

        location = self.photo_cache or os.path.join(
            os.environ.get("SKUSTUDIO_HOME", os.path.abspath("var")), "store", "photo-cache")
        if location.startswith("s3://"):
            if self.s3 is None:
                raise ValueError(f"photo cache {location}: an s3:// cache needs CatalogSource.s3 configured")
            parsed = urlparse(location)
            return S3BlobCache(self.s3.get_client(), parsed.netloc, parsed.path.strip("/"))
        return LocalFolderCache(location)

    def fetcher(self, mapping=None):
        from skucore.catalog.address_policy import AddressPolicy
        from skucore.catalog.photo_fetch import FetchSettings, PhotoFetcher

        locations = self.locations(mapping)
        policy = AddressPolicy(allow_private_networks=self.allow_private_photo_networks,
                               allowed_networks=tuple(locations.networks), allowed_hosts=tuple(locations.hosts))
        settings = FetchSettings(
            max_bytes=self.photo_max_bytes, connect_timeout_s=self.photo_connect_timeout_s,
            read_timeout_s=self.photo_read_timeout_s, total_timeout_s=self.photo_total_timeout_s,
            retries=self.photo_retries, max_redirects=self.photo_max_redirects,
            per_host_limit=self.photo_per_host_limit, ca_bundle=self.photo_ca_bundle, policy=policy)
        return PhotoFetcher(self.blob_cache(), settings)

    def photo_bytes(self, row: dict) -> bytes:
        """The bytes of a synced catalog row's photo, exactly those the sync validated: URL photos from the cache
        by their sha256 (never fetched again), files and objects read and checked against it."""
        from skucore.catalog.blob_cache import photo_key

        sha = row["photo_sha256"]
        if str(row["image"]).lower().startswith(("http://", "https://")):
            data = self.blob_cache().get(photo_key(sha))
            if data is None:
                raise FileNotFoundError(f"photo {sha[:12]} of {row['sku']} is not in the photo cache "
                                        f"({self.photo_cache or 'default'}); run the catalog sync again")
            return data
        data = self.read_photo(row["image"])
        if hashlib.sha256(data).hexdigest() != sha:
            raise ValueError(f"the photo of {row['sku']} changed since the catalog sync ({row['image']}); run the "
                             f"catalog sync again")
        return data

    # ---- ingestion -------------------------------------------------------------------------------------------
    def _kwargs(self, known_categories) -> tuple[dict, object]:
        from skucore.catalog.formats import CatalogError

        if self.animated_photos not in ("first_frame", "reject"):
            raise CatalogError(f"animated_photos (SKUSTUDIO_ANIMATED_PHOTOS) must be first_frame or reject, got "
                               f"{self.animated_photos!r}")
        mapping = self.catalog_mapping()
        locations = self.locations(mapping)
        return dict(
            mapping=mapping, fmt=self.format, currency=self.currency, known_categories=tuple(known_categories),
            unknown_category=self.unknown_category, min_side=self.min_side, max_pixels=self.max_pixels,
            # Unset: the loader looks beside the catalog, or asks for a root when the format's paths need one
            # (Magento's media folder). An S3 catalog is read from a local copy, so its prefix is said here.
            photo_root=self.photo_root or mapping.photo_prefix or (
                self.effective_photo_root(mapping) if self.location.startswith("s3://") else None),
            animated_photos=self.animated_photos,
            photo_fetch_workers=self.photo_fetch_workers,
            read_photo=lambda uri: self.read_photo(uri, locations),
        ), mapping

    def _local_copy(self, tmp: str) -> Path:
        suffix = Path(urlparse(self.location).path).suffix
        local = Path(tmp) / f"catalog{suffix}"
        local.write_bytes(self._read_s3(self.location))
        return local

    def preflight(self, known_categories) -> dict:
        """What the sync checks before any photo: the file reads as its format, the mapping is valid, every price
        has a currency. Raises skucore's CatalogError (a configuration error)."""
        from skucore.catalog.loader import preflight_catalog

        kwargs, _ = self._kwargs(known_categories)
        keep = {k: kwargs[k] for k in ("mapping", "fmt", "currency", "known_categories", "photo_root")}
        if self.location.startswith("s3://"):
            with tempfile.TemporaryDirectory() as tmp:
                return preflight_catalog(self._local_copy(tmp), **keep)
        return preflight_catalog(self.location, **keep)

    def load(self, known_categories):
        from skucore.catalog.loader import load_catalog

        kwargs, mapping = self._kwargs(known_categories)
        fetcher = self.fetcher(mapping)
        try:
            if self.location.startswith("s3://"):
                with tempfile.TemporaryDirectory() as tmp:
                    return load_catalog(self._local_copy(tmp), fetcher=fetcher, **kwargs)
            return load_catalog(self.location, fetcher=fetcher, **kwargs)
        finally:
            fetcher.close()
