"""Small value types shared across skucore modules and the generation backends."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image


class RejectedInput(Exception):
    """An input we refuse: `reason` is a snake_case code for a rejects table or a failure's metadata, `message`
    says what is wrong in words."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class CutoutRejected(RejectedInput):
    """A photo that cannot be cut out reliably."""


@dataclass
class Cutout:
    """A product cut out of its photo. `rgba` holds the photo's own pixels (colours decontaminated only where
    alpha < 255); `mask` is the alpha as uint8 0..255; `bbox` is (x0, y0, x1, y1), exclusive end. `shadow` is
    optional: the photo's own floor shadow as a uint8 HxW opacity (0 under the product), present only when the
    cutout was asked to keep it (`cut_out(..., keep_shadow=True)`), for a scene that reuses the original shadow."""

    rgba: np.ndarray
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    area_ratio: float
    touches_edge: bool
    edges_touched: tuple[str, ...] = ()
    flags: list[str] = field(default_factory=list)
    shadow: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.mask.shape[:2]
        return (w, h)

    def cropped_rgba(self) -> Image.Image:
        """The product's bounding box as an RGBA image (what scene rendering places)."""
        x0, y0, x1, y1 = self.bbox
        return Image.fromarray(self.rgba[y0:y1, x0:x1], "RGBA")


@dataclass(frozen=True)
class TextRegion:
    """Text our code drew: `kind` is "price" | "badge" | "selling_point" | ...; `box` is (x0, y0, x1, y1)
    in the pixels of the image it was drawn on; `text` is exactly what a shopper should read."""

    kind: str
    text: str
    box: tuple[int, int, int, int]


@dataclass
class SceneRequest:
    """One generated scene. `init_image` is the canvas with the product already placed (RGB); `mask` is "L",
    white = regenerate (background), black = keep (product). `mode` is "inpaint" or "text2img"."""

    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    init_image: Image.Image | None = None
    mask: Image.Image | None = None
    mode: str = "inpaint"
    key: str = ""  # the partition key or other id, for logging and device choice
