"""Marketplace image presets, in one place.

Every rule an export must meet lives here: canvas size and aspect, the background rule of the main image, the
product's fill ratio, file format and the file-size limit. The numbers come from
`shared/reference/platforms.md`; where that file marks a figure as third-party or unconfirmed, the value below is a
*default* (commented as such) that users override through `preset_with_overrides(...)`, never a rule of law.

Fill ratio, everywhere in this project's imaging code, is measured on the product's bounding box against the canvas
along the binding dimension: ``fill = max(box_w / canvas_w, box_h / canvas_h)``. (A tall bottle on a square canvas can
never cover 85% of the *area* without being cropped, so "fills 85% of the frame" is read as its longer extent.)
`bbox_area_ratio` is reported beside it where a caller wants the area figure.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

MAIN_BACKGROUNDS = ("pure_white", "white_except_apparel", "any")
FORMATS = ("JPEG", "PNG")

MB = 1024 * 1024


@dataclass(frozen=True)
class PlatformPreset:
    """One marketplace's image rules. `size` is the export canvas (w, h) in pixels."""

    id: str
    label: str
    size: tuple[int, int]
    min_side: int
    max_side: int
    aspect: float  # width / height
    main_background: str  # "pure_white" | "white_except_apparel" | "any"
    min_fill: float  # main-slot minimum fill ratio (0 = no rule)
    target_fill: float  # fill the studio aims at on the main slot (>= min_fill, leaves room for rounding)
    margin: float  # minimum gap between the product box and the canvas edge, as a fraction of the canvas side
    format: str  # "JPEG" | "PNG"
    max_bytes: int
    allow_text_on_main: bool = False
    allow_text_on_secondary: bool = True
    colour_space: str = "sRGB"
    quality_range: tuple[int, int] = (60, 95)  # JPEG quality search bounds (floor, ceiling)
    max_images: int | None = None
    confirmed: bool = False  # True only where platforms.md cites the platform's own rules
    notes: str = ""

    def __post_init__(self) -> None:
        problems = []
        if self.main_background not in MAIN_BACKGROUNDS:
            problems.append(f"main_background={self.main_background!r} (valid: {', '.join(MAIN_BACKGROUNDS)})")
        if self.format not in FORMATS:
            problems.append(f"format={self.format!r} (valid: {', '.join(FORMATS)})")
        w, h = self.size
        if not (self.min_side <= min(w, h) and max(w, h) <= self.max_side):
            problems.append(f"size={self.size} outside min_side={self.min_side}..max_side={self.max_side}")
        if abs(w / h - self.aspect) > 0.01:
            problems.append(f"size={self.size} does not match aspect={self.aspect}")
        if not (0.0 <= self.min_fill <= self.target_fill <= 1.0):
            problems.append(f"need 0 <= min_fill ({self.min_fill}) <= target_fill ({self.target_fill}) <= 1")
        if not (0.0 <= self.margin < 0.5):
            problems.append(f"margin={self.margin} must be in [0, 0.5)")
        if self.target_fill > 1.0 - 2 * self.margin + 1e-9:
            problems.append(f"target_fill={self.target_fill} leaves less than margin={self.margin} each side")
        lo, hi = self.quality_range
        if not (1 <= lo <= hi <= 100):
            problems.append(f"quality_range={self.quality_range} must satisfy 1 <= floor <= ceiling <= 100")
        if self.max_bytes <= 0:
            problems.append(f"max_bytes={self.max_bytes} must be positive")
        if problems:
            raise ValueError(f"platform preset {self.id!r}: " + "; ".join(problems))

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# References are to shared/reference/platforms.md ("Marketplace image rules").
PLATFORM_PRESETS: dict[str, PlatformPreset] = {
    p.id: p
    for p in (
        PlatformPreset(
            id="amazon_main",
            label="Amazon (main image)",
            size=(1600, 1600),  # 1000+ px longest side enables zoom; 1600 recommended (platforms.md)
            min_side=1000,  # 500 px is the hard minimum; 1000 keeps zoom, so the default asks for it
            max_side=10000,
            aspect=1.0,  # not a rule on Amazon; square is the convention the rest of the pipeline uses
            main_background="pure_white",  # RGB 255,255,255 checked on pixels
            min_fill=0.85,
            target_fill=0.88,
            margin=0.05,
            format="JPEG",
            max_bytes=10 * MB,  # default: conservative; platforms.md quotes no byte limit for Amazon
            allow_text_on_main=False,  # no text, logos, watermarks or props on the main image
            notes="third-party summaries of Seller Central rules; sRGB, no WebP",
        ),
        PlatformPreset(
            id="taobao",
            label="Taobao",
            size=(800, 800),  # convention, unconfirmed (platforms.md); 1500 x 1500 for high-resolution zoom
            min_side=800,
            max_side=1500,
            aspect=1.0,
            main_background="any",  # unconfirmed: no official white-background rule found
            min_fill=0.0,
            target_fill=0.80,
            margin=0.06,
            format="JPEG",
            max_bytes=3 * MB,  # default, unconfirmed (platforms.md lists no figure)
            allow_text_on_main=False,  # default: keep main images clean like the marketplaces that forbid text
            notes="unconfirmed convention",
        ),
        PlatformPreset(
            id="pinduoduo",
            label="Pinduoduo (carousel)",
            size=(800, 800),  # square, at least 480 px (platforms.md, third-party); 800 is our default
            min_side=480,
            max_side=1500,  # default: detail images are quoted up to 1200 wide; nothing found for carousel
            aspect=1.0,
            main_background="white_except_apparel",
            min_fill=0.0,
            target_fill=0.80,
            margin=0.06,
            format="JPEG",
            max_bytes=1 * MB,  # at most 1 MB (third-party)
            allow_text_on_main=False,  # no text on carousel images (third-party)
            max_images=10,
            notes="third-party; home banner 750 x 352 at most 100 KB is a different slot",
        ),
        PlatformPreset(
            id="shopify",
            label="Shopify",
            size=(2048, 2048),  # 2048 x 2048 recommended, square
            min_side=800,  # default: no minimum quoted
            max_side=4472,  # guides conflict (4472 or 5000 / 25 MP): take the smaller
            aspect=1.0,
            main_background="any",
            min_fill=0.0,
            target_fill=0.80,
            margin=0.06,
            format="JPEG",
            max_bytes=20 * MB,  # 20 MB per file
            allow_text_on_main=False,  # default: product images stay clean; override per store
            notes="guides conflict on maximum size",
        ),
        PlatformPreset(
            id="lazada",
            label="Lazada",
            size=(1000, 1000),  # 500..2000 px, 850+ recommended, 1:1
            min_side=500,
            max_side=2000,
            aspect=1.0,
            main_background="pure_white",
            min_fill=0.80,  # product at least 80% of the canvas (2017 guideline)
            target_fill=0.84,
            margin=0.05,
            format="JPEG",
            max_bytes=3 * MB,  # default, unconfirmed
            allow_text_on_main=False,  # no text or logos
            notes="2017 seller guideline",
        ),
        PlatformPreset(
            id="tiktok_shop",
            label="TikTok Shop",
            size=(1080, 1080),  # at least 800 x 800, 1080 recommended (third-party)
            min_side=800,
            max_side=4000,  # default, unconfirmed
            aspect=1.0,
            main_background="any",
            min_fill=0.0,
            target_fill=0.80,
            margin=0.06,
            format="JPEG",
            max_bytes=5 * MB,  # at most 5 MB (third-party)
            allow_text_on_main=False,  # default
            max_images=9,
            notes="third-party",
        ),
    )
}

# Tmall and JD follow the same unconfirmed 800 x 800 convention as Taobao (platforms.md): one definition.
PLATFORM_PRESETS["tmall"] = dataclasses.replace(PLATFORM_PRESETS["taobao"], id="tmall", label="Tmall")
PLATFORM_PRESETS["jd"] = dataclasses.replace(PLATFORM_PRESETS["taobao"], id="jd", label="JD.com")


def get_preset(platform_id: str) -> PlatformPreset:
    """The preset for `platform_id`; a `KeyError` names the valid ids."""
    try:
        return PLATFORM_PRESETS[platform_id]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(PLATFORM_PRESETS))
        raise KeyError(f"unknown platform {platform_id!r}; valid platform ids: {valid}") from None


def preset_with_overrides(platform_id: str | PlatformPreset, **overrides: Any) -> PlatformPreset:
    """A copy of a preset with some fields replaced (user configuration). Unknown field names raise `KeyError`;
    values are validated by the preset itself (`ValueError` names the field). Lists become tuples."""
    base = platform_id if isinstance(platform_id, PlatformPreset) else get_preset(platform_id)
    fields = {f.name for f in dataclasses.fields(PlatformPreset)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise KeyError(f"unknown preset field(s) {unknown} for platform {base.id!r}; valid: {sorted(fields)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(base, **clean)


def resolve_preset(preset: str | PlatformPreset) -> PlatformPreset:
    return preset if isinstance(preset, PlatformPreset) else get_preset(preset)


# Categories exempt from "white_except_apparel". Exact (case-folded) match, the same set as
# skucore.quality.score.QualityConfig.apparel_categories, so rendering and grading agree on which SKUs are apparel.
APPAREL_CATEGORIES = frozenset({"apparel", "clothing", "fashion", "garment", "garments", "服装", "服饰"})


def is_apparel(category: object) -> bool:
    """Whether a catalog category counts as apparel for the `white_except_apparel` background rule."""
    return isinstance(category, str) and category.strip().lower() in APPAREL_CATEGORIES


def main_needs_pure_white(preset: PlatformPreset, category: object = None) -> bool:
    if preset.main_background == "pure_white":
        return True
    if preset.main_background == "white_except_apparel":
        return not is_apparel(category)
    return False
