"""The catalog source: a local file or an s3:// object, plus the ingestion rules users tune."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field


def _default_catalog() -> str:
    if os.environ.get("SKUSTUDIO_CATALOG"):
        return os.environ["SKUSTUDIO_CATALOG"]
    from skucore.catalog.sample import sample_catalog_path

    return str(sample_catalog_path())


class CatalogSource(dg.ConfigurableResource):
    """Where the catalog comes from and how strict ingestion is."""

    location: str = Field(default_factory=_default_catalog, description="catalog file path or s3://bucket/key")
    mapping: str | None = Field(default=None, description="column-mapping file (YAML/JSON) for other layouts")
    unknown_category: str = Field(default="default", description='"default" (map) or "reject"')
    min_side: int = 400
    max_pixels: int = 40_000_000
    price_min: float = 0.01
    price_max: float = 1_000_000.0
    max_reject_ratio: float = Field(default=0.2, description="the catalog gate closes above this share of rejects")
    photo_root: str | None = Field(
        default=None, description="where relative photo paths start (default: the catalog's own folder or S3 prefix)"
    )
    allowed_photo_locations: list[str] = Field(
        default_factory=list,
        description="folders or s3://bucket/prefix that photos may come from besides photo_root; anything else is "
        "refused, so a catalog row cannot make the pipeline read (and publish) an arbitrary file or object",
    )
    s3: S3Resource | None = None

    def _read_s3(self, uri: str) -> bytes:
        if self.s3 is None:
            raise ValueError(f"{uri}: an s3:// location needs CatalogSource.s3 configured")
        parsed = urlparse(uri)
        obj = self.s3.get_client().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
        return obj["Body"].read()

    def _default_root(self) -> str:
        if self.photo_root:
            return self.photo_root
        if self.location.startswith("s3://"):
            return self.location.rsplit("/", 1)[0]
        return str(Path(self.location).resolve().parent)

    def _allowed(self) -> list[str]:
        return [self._default_root(), *self.allowed_photo_locations]

    def check_photo_location(self, uri: str) -> None:
        """Refuse a photo outside the allowed folders/prefixes, before touching it (so a refusal says nothing
        about whether the file exists)."""
        if uri.startswith("s3://"):
            segments = uri[len("s3://"):].split("/")
            ok = not any(seg in ("", ".", "..") for seg in segments) and any(
                a.startswith("s3://") and uri.startswith(a.rstrip("/") + "/") for a in self._allowed()
            )
        elif "://" in uri:
            ok = False
        else:
            real = os.path.realpath(uri)  # symlinks and ".." resolved
            ok = any(
                "://" not in a and (real + os.sep).startswith(os.path.realpath(a).rstrip(os.sep) + os.sep)
                for a in self._allowed()
            )
        if not ok:
            raise PermissionError(
                f"photo {uri!r} is outside the allowed photo locations (photo_root and allowed_photo_locations)"
            )

    def read_photo(self, uri: str) -> bytes:
        self.check_photo_location(uri)
        if uri.startswith("s3://"):
            return self._read_s3(uri)
        return Path(uri).read_bytes()

    def load(self, known_categories):
        from skucore.catalog.loader import load_catalog

        kwargs = dict(
            mapping=self.mapping,
            known_categories=tuple(known_categories),
            unknown_category=self.unknown_category,
            min_side=self.min_side,
            max_pixels=self.max_pixels,
            photo_root=self._default_root(),
        )
        if self.location.startswith("s3://"):
            suffix = Path(urlparse(self.location).path).suffix
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / f"catalog{suffix}"
                local.write_bytes(self._read_s3(self.location))
                return load_catalog(local, read_photo=self.read_photo, **kwargs)
        return load_catalog(self.location, read_photo=self.read_photo, **kwargs)
