"""Image bytes for the pages, served only for keys the queue knows: a queued image by its key (the key must be a
queue row's image_key), and the source photo, cutout and earlier attempts of a queued item by the item's id and
the item's own table rows. Nothing in a URL becomes a path or a store key. Thumbnails and previews are made once
and cached in the store (`skucore.tables.review_thumbnail`), keyed by the hash of the content they show."""
from __future__ import annotations

import hashlib
import io

from PIL import Image
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skucore import tables as T

from orchestration.review_desk import data
from orchestration.review_desk.web import blocking, desk

_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
_CACHE = "private, max-age=604800, immutable"  # every URL here names fixed content (keys carry a content hash)


def preview(store, content_sha256: str, side: int, load, keep_alpha: bool = False) -> tuple[bytes, str]:
    """A cached preview no larger than side x side of the image `load()` returns (made on first request)."""
    ext = "png" if keep_alpha else "jpg"
    key = T.review_thumbnail(content_sha256, side, ext)
    if store.exists(key):
        return store.get_bytes(key), _TYPES[f".{ext}"]
    with Image.open(io.BytesIO(load())) as im:
        im.load()
        if keep_alpha:
            im = im.convert("RGBA")
        elif im.mode in ("RGBA", "LA", "P"):
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size, (255, 255, 255))
            im.paste(rgba, mask=rgba.getchannel("A"))
        else:
            im = im.convert("RGB")
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, "PNG", optimize=True) if keep_alpha else im.save(buf, "JPEG", quality=82)
    store.put_bytes(key, buf.getvalue())
    return buf.getvalue(), _TYPES[f".{ext}"]


def _image_response(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Cache-Control": _CACHE})


async def queued_image(request: Request) -> Response:
    """GET /image/{key}?size=thumb|full: a queued image; any key the queue does not hold is 404."""
    cfg = desk(request)
    key = request.path_params["key"]
    item = await blocking(cfg.queue.find, key)
    if item is None:
        raise HTTPException(404, "no such image in the review queue")
    size = request.query_params.get("size", "full")
    if size not in ("thumb", "preview"):
        ext = "." + item["image_key"].rsplit(".", 1)[-1].lower()
        body = await blocking(cfg.store.get_bytes, item["image_key"])
        return _image_response(body, _TYPES.get(ext, "application/octet-stream"))
    side = cfg.thumb_side if size == "thumb" else cfg.preview_side
    body, media_type = await blocking(preview, cfg.store, item["sha256"], side,
                                      lambda: cfg.store.get_bytes(item["image_key"]))
    return _image_response(body, media_type)


async def _item(request: Request) -> dict:
    from skucore.publish.review import UnknownReviewItem

    try:
        return await blocking(desk(request).queue.get, int(request.path_params["item_id"]))
    except UnknownReviewItem:
        raise HTTPException(404, "no such review item") from None


async def source_photo(request: Request) -> Response:
    """GET /item/{id}/source: a preview of the catalog photo the item's SKU was made from."""
    cfg = desk(request)
    item = await _item(request)
    row = await blocking(request.app.state.catalog.row, item["sku"])
    if row is None or cfg.catalog_source is None:
        raise HTTPException(404, "the SKU is not in the synced catalog")

    def load():
        return cfg.catalog_source.read_photo(row["image"])

    try:
        body, media_type = await blocking(preview, cfg.store, row["photo_sha256"], cfg.preview_side, load)
    except (OSError, ValueError, PermissionError) as exc:
        raise HTTPException(404, f"the source photo cannot be read: {type(exc).__name__}") from None
    return _image_response(body, media_type)


async def cutout(request: Request) -> Response:
    """GET /item/{id}/cutout: a preview of the SKU's cutout (transparent PNG)."""
    cfg = desk(request)
    item = await _item(request)
    meta_key, key = T.cutout_meta(item["sku"]), T.cutout(item["sku"])
    meta = await blocking(cfg.store.read_table_or_none, meta_key)
    if meta is None or not await blocking(cfg.store.exists, key):
        raise HTTPException(404, "the SKU has no cutout")
    content = hashlib.sha256(f"cutout\0{meta.to_pylist()[0]['photo_sha256']}".encode()).hexdigest()
    body, media_type = await blocking(preview, cfg.store, content, cfg.preview_side,
                                      lambda: cfg.store.get_bytes(key), True)
    return _image_response(body, media_type)


async def attempt_image(request: Request) -> Response:
    """GET /item/{id}/attempt/{n}: a thumbnail of an earlier attempt of the item's scene."""
    cfg = desk(request)
    item = await _item(request)
    row = await blocking(data.attempt_row, cfg.store, item, int(request.path_params["attempt"]))
    if row is None or not row.get("sha256"):
        raise HTTPException(404, "no such attempt of this scene")
    body, media_type = await blocking(preview, cfg.store, row["sha256"], cfg.thumb_side,
                                      lambda: cfg.store.get_bytes(row["image_key"]))
    return _image_response(body, media_type)


ROUTES = [
    Route("/image/{key:path}", queued_image, methods=["GET"]),
    Route("/item/{item_id:int}/source", source_photo, methods=["GET"]),
    Route("/item/{item_id:int}/cutout", cutout, methods=["GET"]),
    Route("/item/{item_id:int}/attempt/{attempt:int}", attempt_image, methods=["GET"]),
]
