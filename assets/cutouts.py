"""`product_cutouts[sku]`: RGBA cutout, mask and measurements of each SKU's source photo."""
import io
import json
import os
import socket

import dagster as dg
import numpy as np
import pyarrow as pa
from PIL import Image

from skucore import tables as T
from assets.key_pool import FORKSERVER_PRELOAD, pooled_key_events
from assets.partition_loop import UpstreamMissing, materialize_events, raise_if_failed
from assets.chunks import CPU_STEP_TAGS, chunked_backfill_policy
from assets.metadata import thumbnail_md
from assets.partitions import skus_partitions
from resources.catalog import CatalogSource
from resources.execution import ExecutionSettings
from resources.storage import StudioStore


def catalog_rows_by_sku(store: StudioStore) -> dict[str, dict]:
    return {row["sku"]: row for row in store.read_table(T.CATALOG).to_pylist()}


def catalog_photo(catalog_source: CatalogSource, row: dict) -> Image.Image:
    """A synced catalog row's photo as a person sees it: the bytes the sync validated (URL photos from the photo
    cache by their sha256, never fetched again) decoded upright, 8-bit sRGB, RGB or RGBA (see
    `skucore.catalog.photo_decode`). `Image.open(...).convert("RGB")` would publish EXIF-rotated photos sideways
    and binarise 16-bit ones."""
    from skucore.catalog.photo_decode import decode_photo

    data = catalog_source.photo_bytes(row)
    return decode_photo(data, animated=catalog_source.animated_photos, max_pixels=catalog_source.max_pixels).to_image()


def load_cutout(store: StudioStore, sku: str):
    """The stored cutout of `sku` as a `skucore.base.types.Cutout`, and its metadata row."""
    from skucore.base.types import Cutout

    if not store.exists(T.cutout_meta(sku)):
        raise UpstreamMissing(f"product_cutouts[{sku}] has not been materialized")
    meta = store.read_table(T.cutout_meta(sku)).to_pylist()[0]
    with Image.open(io.BytesIO(store.get_bytes(T.cutout(sku)))) as im:
        rgba = np.asarray(im.convert("RGBA")).copy()
    cutout = Cutout(
        rgba=rgba,
        mask=rgba[:, :, 3].copy(),
        bbox=tuple(meta["bbox"]),
        area_ratio=meta["area_ratio"],
        touches_edge=meta["touches_edge"],
        edges_touched=tuple(meta["edges_touched"] or ()),
        flags=list(meta["flags"] or []),
        shadow=_load_shadow(store, sku, rgba.shape[:2]),
    )
    return cutout, meta


def _load_shadow(store: StudioStore, sku: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The photo's own shadow layer when the cutout kept one (a photo without a floor shadow has none)."""
    if not store.exists(T.cutout_shadow(sku)):
        return None
    with Image.open(io.BytesIO(store.get_bytes(T.cutout_shadow(sku)))) as im:
        layer = np.asarray(im.convert("L")).copy()
    return layer if layer.shape == tuple(shape) else None  # a stale layer from an older photo is not used


def cutout_files(job: tuple[str, Image.Image]) -> dict:
    """The CPU part of a cutout, in a worker process: (sku, photo) -> the photo cut out (its own shadow kept, for
    templates with `shadow: original`; cheap next to the cutout itself), encoded as the PNGs the store keeps, its
    measurements and the preview the UI shows."""
    from skucore.imaging.cutout import cut_out

    sku, photo = job

    cutout = cut_out(photo, keep_shadow=True)
    png = io.BytesIO()
    Image.fromarray(cutout.rgba, "RGBA").save(png, "PNG", compress_level=1)
    shadow_png = None
    if cutout.shadow is not None and cutout.shadow.any():
        layer = io.BytesIO()
        Image.fromarray(cutout.shadow, "L").save(layer, "PNG", compress_level=1)
        shadow_png = layer.getvalue()
    h, w = cutout.mask.shape[:2]
    meta = {"width": w, "height": h, "bbox": list(map(int, cutout.bbox)), "area_ratio": float(cutout.area_ratio),
            "touches_edge": bool(cutout.touches_edge), "edges_touched": list(cutout.edges_touched),
            "flags": list(cutout.flags)}
    return {"rgba_png": png.getvalue(), "shadow_png": shadow_png, "meta": meta,
            "preview_md": thumbnail_md([(sku, png.getvalue())])}


@dg.asset(
    partitions_def=skus_partitions,
    deps=["catalog_partitions"],
    group_name="imaging",
    backfill_policy=chunked_backfill_policy(),
    op_tags=CPU_STEP_TAGS,
    output_required=False,
    description="Each SKU's product cut out of its white-background photo: RGBA, mask and measurements.",
)
def product_cutouts(context: dg.AssetExecutionContext, store: StudioStore, catalog_source: CatalogSource,
                    execution: ExecutionSettings):
    rows = catalog_rows_by_sku(store)

    def prepare(sku: str) -> tuple[str, Image.Image]:
        row = rows.get(sku)
        if row is None:
            raise KeyError(f"SKU {sku!r} is not in the current catalog (delisted?)")
        return sku, catalog_photo(catalog_source, row)

    def finish(sku: str, files: dict) -> dict:
        row = rows[sku]
        store.put_bytes(T.cutout(sku), files["rgba_png"])
        if files["shadow_png"] is not None:
            store.put_bytes(T.cutout_shadow(sku), files["shadow_png"])
        elif store.exists(T.cutout_shadow(sku)):
            store.delete(T.cutout_shadow(sku))
        meta = {"sku": sku, "photo_sha256": row["photo_sha256"], **files["meta"]}
        store.write_table(T.cutout_meta(sku), pa.Table.from_pylist([meta], schema=T.CUTOUT_META_SCHEMA))
        return {
            "area_ratio": round(meta["area_ratio"], 4),
            "bbox": dg.MetadataValue.json(meta["bbox"]),
            "touches_edge": meta["touches_edge"],
            "own_shadow": files["shadow_png"] is not None,
            "flags": dg.MetadataValue.json(meta["flags"]),
            "photo": dg.MetadataValue.json(json.loads(row.get("photo_facts") or "{}")),
            "cutout": dg.MetadataValue.path(store.uri(T.cutout(sku))),
            "preview": dg.MetadataValue.md(files["preview_md"]),
        }

    keys = [str(k) for k in context.partition_keys]
    workers = execution.cpu_workers(len(keys))
    context.log.info(f"worker {os.environ.get('SKUSTUDIO_WORKER_NAME') or socket.gethostname()} (pid {os.getpid()}): "
                     f"{len(keys)} partitions, {workers} cutout processes")
    failures: dict[str, str] = {}
    events = pooled_key_events(keys, "product_cutouts", prepare=prepare, compute=cutout_files, finish=finish,
                               workers=workers, start_method=execution.method(), preload=FORKSERVER_PRELOAD)
    yield from materialize_events(context, events, failures, len(keys), every_s=execution.progress_every_s)
    raise_if_failed(failures, len(keys))
