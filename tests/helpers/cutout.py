"""Real product photos for the cutout tests: the sample packshots shipped in data/samples/packshots (BSD-3)."""
from pathlib import Path

from PIL import Image

PACKSHOTS = Path(__file__).resolve().parents[2] / "data" / "samples" / "packshots"


def packshot(name: str) -> Image.Image:
    """A sample packshot, decoded. A missing file is an error, never a skip: the photos ship with the repo."""
    with Image.open(PACKSHOTS / name) as im:
        im.load()
        return im.copy()
