"""Where catalog photos may come from: the photo root plus `allowed_photo_locations`, each entry a folder, an
s3://bucket/prefix, an http(s)://host (a photo server on a private address) or a network (10.0.0.0/8).

A local path is allowed when it lies under an allowed folder after every symbolic link is resolved, so a row's
"../../etc/passwd" or a link planted in the photo folder cannot read elsewhere. A mounted photo library reached
through a link inside the photo folder is therefore refused, with the setting that allows it in the message.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from skucore.catalog.photos import PhotoLocationRefused

ALLOW_SETTING = "--allow-photos-from / SKUSTUDIO_ALLOW_PHOTOS_FROM / CatalogSource.allowed_photo_locations"


@dataclass
class PhotoLocations:
    folders: list[str] = field(default_factory=list)
    s3_prefixes: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, roots: list[str], allowed: list[str]) -> "PhotoLocations":
        out = cls()
        for entry in [*roots, *allowed]:
            entry = str(entry).strip()
            if not entry:
                continue
            if entry.startswith("s3://"):
                out.s3_prefixes.append(entry.rstrip("/") + "/")
            elif entry.lower().startswith(("http://", "https://")):
                host = urlsplit(entry).hostname
                if not host:
                    raise ValueError(f"allowed photo location {entry!r}: no host in the URL")
                out.hosts.append(host)
            elif _is_network(entry):
                out.networks.append(entry)
            else:
                out.folders.append(os.path.abspath(os.path.expanduser(entry)))
        return out

    def check(self, uri: str) -> None:
        """Refuse a photo outside the allowed folders/prefixes, before touching it (so a refusal says nothing
        about whether the file exists). URLs are checked by the fetcher's address policy, not here."""
        if uri.startswith("s3://"):
            segments = uri[len("s3://"):].split("/")
            if any(seg in ("", ".", "..") for seg in segments) or not any(
                    uri.startswith(prefix) for prefix in self.s3_prefixes):
                raise PhotoLocationRefused(f"photo {uri!r} is outside the allowed photo locations (photo_root and "
                                           f"allowed_photo_locations)")
            return
        if "://" in uri and not uri.startswith("file://"):
            raise PhotoLocationRefused(f"photo {uri!r}: {uri.split('://')[0]}:// is not a photo location")
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        real = os.path.realpath(path)
        if any(_under(real, os.path.realpath(folder)) for folder in self.folders):
            return
        lexical = os.path.abspath(path)
        inside = next((f for f in self.folders if _under(lexical, f) or _under(lexical, os.path.realpath(f))), None)
        if inside is not None:
            link = _first_link(lexical)
            target = os.path.realpath(link) if link else os.path.dirname(real)
            raise PhotoLocationRefused(
                f"photo {uri!r} is under {inside}, but the symbolic link {link or lexical} leads it to {real}, "
                f"outside the allowed photo locations; if {target} is your photo library, allow it with "
                f"{ALLOW_SETTING} (e.g. --allow-photos-from {target})")
        raise PhotoLocationRefused(f"photo {uri!r} is outside the allowed photo locations (photo_root and "
                                   f"allowed_photo_locations; {ALLOW_SETTING})")


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _under(path: str, folder: str) -> bool:
    return (path + os.sep).startswith(folder.rstrip(os.sep) + os.sep)


def _first_link(path: str) -> str | None:
    """The outermost symbolic link on the way to `path`, if any."""
    current = os.sep
    for part in path.strip(os.sep).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            return current
    return None
