"""Shared pieces of the generation backends: the protocol the renderer calls, errors, request checks."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from PIL import Image

from skucore.base.types import SceneRequest

MODES = ("inpaint", "text2img")


class ModelNotFoundError(FileNotFoundError):
    """The model's weights are not where the configuration points (or not in the local hub cache)."""


@runtime_checkable
class SceneGenerator(Protocol):
    """What `skucore.imaging.render` calls. Returns one RGB image per request, in request order, each of the
    request's width x height, with the product pixels (mask black) pasted back exactly."""

    backend_name: str
    model_id: str

    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]: ...


def validate_request(req: SceneRequest) -> None:
    """Raise ValueError naming the field when a request cannot be rendered."""
    where = f"SceneRequest(key={req.key!r})"
    if req.mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {MODES}, got {req.mode!r}")
    if int(req.width) <= 0 or int(req.height) <= 0:
        raise ValueError(f"{where}: width/height must be positive, got {req.width}x{req.height}")
    if req.mode == "inpaint" and (req.init_image is None or req.mask is None):
        raise ValueError(f"{where}: mode 'inpaint' needs init_image and mask")
    if (req.init_image is None) != (req.mask is None):
        raise ValueError(f"{where}: init_image and mask go together (got only one)")
    for name in ("init_image", "mask"):
        im = getattr(req, name)
        if im is not None and im.size != (req.width, req.height):
            raise ValueError(f"{where}: {name} is {im.size[0]}x{im.size[1]}, request is {req.width}x{req.height}")
    if not 0 <= int(req.seed) < 2**64:
        raise ValueError(f"{where}: seed must be in [0, 2**64), got {req.seed}")


def group_requests(requests: list[SceneRequest], max_batch: int) -> list[list[int]]:
    """Indices of `requests` grouped by (mode, width, height) in first-seen order, chunked to `max_batch`."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((r.mode, int(r.width), int(r.height)), []).append(i)
    batches: list[list[int]] = []
    for idx in groups.values():
        for k in range(0, len(idx), max_batch):
            batches.append(idx[k : k + max_batch])
    return batches
