"""Shared pieces of the generation backends: the protocol the renderer calls, per-scene results and failures,
request checks and grouping.

Two ways to call a generator:
- `generate(requests) -> list[Image]`: every image or an exception. When some scenes fail (CUDA out of memory
  after the retry, a server that cannot do what the template asks), it raises `SceneGenerationError`, which
  carries every request's `SceneResult`: the images that did come out and, for the others, why not.
- `generate_scenes(requests) -> list[SceneResult]`: never raises for a scene's own failure; each result has
  the image or the failure, and `generation`: what made the scene, for the image's lineage (backend, method
  such as "inpaint" or "text2img+composite", model, device class, dtype, attention backend, steps, batch size).

A worker that batches scenes of several SKUs reads `SceneGenerationError.failed_keys` (request keys are
"promotion|sku|role|platform") and fails only those SKUs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from skucore.base.types import SceneRequest  # the one import of the request type in gpu_ops

MODES = ("inpaint", "text2img")

# Reason codes of a scene that did not come out (SceneFailure.reason).
CUDA_OUT_OF_MEMORY = "cuda_out_of_memory"
SERVER_CANNOT_INPAINT = "server_cannot_inpaint"
SERVER_FAILED = "server_failed"
GENERATION_ERROR = "generation_error"

# Methods a scene was made with (SceneResult.generation["method"]).
METHOD_INPAINT = "inpaint"
METHOD_CONTROLNET_INPAINT = "controlnet_inpaint"
METHOD_TEXT2IMG_COMPOSITE = "text2img+composite"
METHOD_TEXT2IMG = "text2img"

__all__ = [
    "SceneRequest", "SceneGenerator", "DetailedSceneGenerator", "SceneResult", "SceneFailure",
    "SceneGenerationError", "ModelNotFoundError", "validate_request", "group_requests", "images_or_raise",
    "round_up", "MODES",
]


class ModelNotFoundError(FileNotFoundError):
    """The model's weights are not where the configuration points (or not in the local hub cache)."""


@runtime_checkable
class SceneGenerator(Protocol):
    """What `skucore.imaging.render` calls. Returns one RGB image per request, in request order, each of the
    request's width x height, with the product pixels (mask black) pasted back exactly."""

    backend_name: str
    model_id: str

    def generate(self, requests: list[SceneRequest]) -> list[Image.Image]: ...


@runtime_checkable
class DetailedSceneGenerator(SceneGenerator, Protocol):
    """A generator that also reports, per scene, how it was made or why it failed."""

    def generate_scenes(self, requests: list[SceneRequest]) -> list["SceneResult"]: ...


@dataclass(frozen=True)
class SceneFailure:
    """Why one scene did not come out: `reason` is a code (CUDA_OUT_OF_MEMORY, SERVER_CANNOT_INPAINT, ...),
    `message` says it for a person."""

    key: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.key or 'a scene'}: {self.reason}: {self.message}"


@dataclass
class SceneResult:
    """One request's outcome: the image (RGB, the request's size) or the failure; `generation` describes how
    the image was made (goes into the image's lineage; empty for a failure)."""

    key: str
    image: Image.Image | None = None
    generation: dict = field(default_factory=dict)
    error: SceneFailure | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None


class SceneGenerationError(RuntimeError):
    """Some scenes of a `generate` call failed. `results` has every request's SceneResult (in request order),
    `failures` the failed ones' SceneFailure, `failed_keys` their request keys."""

    def __init__(self, results: list[SceneResult]):
        self.results = list(results)
        self.failures = [r.error for r in self.results if r.error is not None]
        reasons = sorted({f.reason for f in self.failures})
        shown = "; ".join(str(f) for f in self.failures[:5])
        more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        super().__init__(f"{len(self.failures)} of {len(self.results)} scenes failed ({', '.join(reasons)}): "
                         f"{shown}{more}")

    @property
    def failed_keys(self) -> list[str]:
        return [f.key for f in self.failures]

    @property
    def reasons(self) -> set[str]:
        return {f.reason for f in self.failures}


def images_or_raise(results: list[SceneResult]) -> list[Image.Image]:
    """The images of `results` in order, or SceneGenerationError when any scene failed."""
    if any(not r.ok for r in results):
        raise SceneGenerationError(results)
    return [r.image for r in results]  # type: ignore[misc]


def round_up(value: int, multiple: int) -> int:
    """`value` rounded up to a multiple of `multiple` (sizes the model accepts: multiples of 16 for Z-Image)."""
    return max(multiple, math.ceil(int(value) / multiple) * multiple)


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


def group_requests(requests: list[SceneRequest], max_batch: int, keys: list | None = None) -> list[list[int]]:
    """Indices of `requests` grouped by (mode, width, height) (or by `keys[i]` when given) in first-seen
    order, chunked to `max_batch`."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        k = keys[i] if keys is not None else (r.mode, int(r.width), int(r.height))
        groups.setdefault(k, []).append(i)
    batches: list[list[int]] = []
    for idx in groups.values():
        for k in range(0, len(idx), max_batch):
            batches.append(idx[k : k + max_batch])
    return batches
