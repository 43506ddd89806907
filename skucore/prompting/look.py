"""A promotion's `look`: the one tone its generated backgrounds are matched to, so the promotion looks like one shoot.

```yaml
look:
  reference_tone: "#F2EEE8"        # the background tone of every generated scene (a quoted #RRGGBB), or
  reference_image: look/ref.jpg    # a photo of the shoot: its median colour is the tone (path beside this file)
  templates:                       # per template id, overrides reference_tone for that template's scenes
    default/lifestyle: "#EDE6DC"
  strength: 1.0                    # share of the way from a scene's tone to the reference, 0..1
  max_shift: 20                    # largest colour shift applied (CIE L*a*b* distance); further scenes go to review
  max_delta_e: 6                   # tone_consistency: CIEDE2000 a background may stay from its reference
```

Everything is optional. Without a reference the target of a template's scenes is the tone of that template's own
backdrop (what the studio renderer draws and the generator starts from), so one template's scenes agree across the
promotion whatever order its SKUs render in. The transfer itself is `skucore.imaging.tone`; the metric is
`skucore.quality.tone`. A reference image is read once, when the promotion loads (its median colour is kept), so
workers never need the file.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LOOK_KEYS = {"reference_tone", "reference_image", "templates", "strength", "max_shift", "max_delta_e"}
DEFAULT_MAX_SHIFT = 20.0
DEFAULT_MAX_DELTA_E = 6.0
_COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class Look:
    reference_tone: str | None = None  # "#RRGGBB" (from reference_tone, or the reference image's median colour)
    reference_image: str | None = None  # the image it came from, for the record
    templates: Mapping[str, str] = field(default_factory=dict, hash=False)  # template id -> "#RRGGBB"
    strength: float = 1.0
    max_shift: float = DEFAULT_MAX_SHIFT
    max_delta_e: float = DEFAULT_MAX_DELTA_E

    def tone_for(self, template_id: str | None) -> str | None:
        """The reference colour of a template's generated scenes, or None (then: the template backdrop's tone)."""
        return self.templates.get(template_id or "") or self.reference_tone


def median_colour(path: Path) -> str:
    """The median colour of an image file, "#RRGGBB" (read at 256 px; raises OSError / ValueError)."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (256, 256))
        im = im.convert("RGB")
        im.thumbnail((256, 256))
        rgb = np.median(np.asarray(im).reshape(-1, 3), axis=0)
    return "#%02X%02X%02X" % tuple(int(round(v)) for v in rgb)


def parse_look(data: Any, err: Callable[[str, str], Exception], base_dir: Path) -> Look:
    """Validate a promotion's `look` mapping; `err(field, message)` builds the error to raise."""
    if data is None:
        return Look()
    if not isinstance(data, Mapping):
        raise err("look", f"must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in LOOK_KEYS:
            raise err(f"look.{key}", f"unknown key {key!r} (allowed: {', '.join(sorted(LOOK_KEYS))})")

    def colour(value: Any, fld: str) -> str:
        if not isinstance(value, str) or not _COLOUR_RE.match(value):
            raise err(fld, f"{value!r} is not a quoted \"#RRGGBB\" colour")
        return value.upper()

    def number(key: str, default: float, lo: float, hi: float) -> float:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise err(f"look.{key}", f"must be a number from {lo:g} to {hi:g}, got {v!r}")
        return float(v)

    tone = colour(data["reference_tone"], "look.reference_tone") if data.get("reference_tone") is not None else None
    image = data.get("reference_image")
    if image is not None:
        if tone is not None:
            raise err("look.reference_image", "give reference_tone or reference_image, not both")
        if not isinstance(image, str) or not image.strip():
            raise err("look.reference_image", f"must be a file path, got {image!r}")
        p = Path(image) if Path(image).is_absolute() else base_dir / image
        try:
            tone = median_colour(p)
        except (OSError, ValueError) as exc:
            raise err("look.reference_image", f"cannot read image {p}: {exc}") from None
        image = str(p)
    templates = data.get("templates") or {}
    if not isinstance(templates, Mapping):
        raise err("look.templates", f"must map template ids to colours, got {templates!r}")
    per_template = {str(k): colour(v, f"look.templates.{k}") for k, v in templates.items()}
    return Look(reference_tone=tone, reference_image=image, templates=per_template,
                strength=number("strength", 1.0, 0.0, 1.0),
                max_shift=number("max_shift", DEFAULT_MAX_SHIFT, 0.0, 100.0),
                max_delta_e=number("max_delta_e", DEFAULT_MAX_DELTA_E, 0.1, 100.0))
