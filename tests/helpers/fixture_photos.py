"""The photo side of the catalog fixtures: how a loopback PhotoServer answers the fixtures' photo URLs.

Fixture photo URLs are {{PHOTO_BASE}}/<any path>/<file name>; a test substitutes the server's base URL. Packshot
file names are served from the packshot folder (with ETags, so a second sync downloads nothing). The names below
are the hostile endpoints; each fixture's .expected.json names the outcome its rows should get.
"""
from __future__ import annotations

from pathlib import Path

from tests.helpers.photo_server import Flaky, Photo, PhotoServer, Redirect, Slow, Stream

PHOTO_BASE = "{{PHOTO_BASE}}"
# Where relative Magento media paths (base_image "/r/u/ruby_hoodie.jpg") live, before substitution.
MAGENTO_MEDIA_BASE = f"{PHOTO_BASE}/media/catalog/product"

# File name -> the reason code fetching it must give (None: fetched fine, however hostile the way there).
SPECIAL_PHOTOS: dict[str, tuple[str | None, str]] = {
    "tote_bag_ruby.jpg": (None, "two redirects (301, then 302) before the photo"),
    "tote_bag_solidus.jpg": (None, "a JPEG served as text/plain"),
    "ruby_mug.jpg": (None, "HTTP 500 once, then the photo (a retry gets it)"),
    "T-shirt-blå.jpg": (None, "a non-ASCII file name (percent-encoded on the wire)"),
    "discontinued-mug.jpg": ("photo_http_404", "not on the server"),
    "woocommerce-placeholder.png": ("photo_not_an_image", "an HTML error page served as image/jpeg"),
    "lifestyle_banner.jpg": ("photo_too_large", "an endless stream with no Content-Length"),
    "slow-snapback.jpg": ("photo_timeout", "answers after the read timeout"),
    "moved-forever.jpg": ("photo_too_many_redirects", "redirects to itself"),
}


def serve_fixture_photos(server: PhotoServer, packshots: Path, *, slow_s: float = 1.0,
                         oversized_bytes: int = 8_000_000) -> None:
    """Route the hostile names on `server` (whose folder should be the packshot folder). slow_s must exceed the
    fetcher's read timeout and oversized_bytes its byte limit."""
    def photo(name: str, content_type: str = "image/jpeg") -> Photo:
        return Photo((packshots / name).read_bytes(), content_type, etag=f'"{name}-v1"')

    server.route_name("tote_bag_ruby.jpg", Redirect("/cdn-redirect/hop2/tote_bag_ruby.jpg", 301))
    server.route("/cdn-redirect/hop2/tote_bag_ruby.jpg", Redirect("/cdn-final/tote_bag_ruby.jpg", 302))
    server.route("/cdn-final/tote_bag_ruby.jpg", photo("tote_bag_ruby.jpg"))
    server.route_name("tote_bag_solidus.jpg", photo("tote_bag_solidus.jpg", "text/plain"))
    server.route_name("ruby_mug.jpg", Flaky(1, photo("ruby_mug.jpg")))
    server.route_name("T-shirt-blå.jpg", photo("solidus_tshirt_blue.jpg"))
    server.route_name("woocommerce-placeholder.png",
                      Photo(b"<!DOCTYPE html><html><body><h1>404</h1>Image not found</body></html>", "image/jpeg"))
    server.route_name("lifestyle_banner.jpg", Stream(oversized_bytes, declare_length=False))
    server.route_name("slow-snapback.jpg", Slow(slow_s, photo("solidus_snapback_cap.jpg")))
    server.route_name("moved-forever.jpg", Redirect("/moved/moved-forever.jpg", 301))


def expected_photo_reason(url: str) -> str | None:
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    return SPECIAL_PHOTOS.get(name, (None, ""))[0]
