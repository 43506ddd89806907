"""Promotions: one YAML file per promotion in `promotions/` (format: `promotions/README.md`).

`load_promotion(path)` parses and validates one file strictly: every error raises `PromotionError` whose message
names the file and the field (``promotions/double11.yaml: brand_kit.primary: '#12' is not a #RRGGBB colour``).
Unknown keys and duplicate keys are errors too, so a typo never silently falls back to a default.
`discover_promotions(folder)` loads every ``*.yaml``/``*.yml`` in a folder; one bad file never hides the good ones.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from skucore.base.safety import is_safe_sku
from skucore.base.yamlio import load_yaml_strict, short_repr
from skucore.prompting.look import Look, parse_look

__all__ = [
    "KNOWN_PLATFORMS",
    "PRICE_RULE_KINDS",
    "LOGO_PLACEMENTS",
    "ROUNDING_MODES",
    "PromotionError",
    "PriceRule",
    "BrandKit",
    "Promotion",
    "load_promotion",
    "parse_promotion",
    "discover_promotions",
]

KNOWN_PLATFORMS: tuple[str, ...] = ("amazon_main", "taobao", "tmall", "jd", "pinduoduo", "shopify")


def _known_platforms() -> tuple[str, ...]:
    """Every platform with an export preset (skucore.base.platforms holds them, in one place)."""
    from skucore.base.platforms import PLATFORM_PRESETS

    return tuple(PLATFORM_PRESETS) or KNOWN_PLATFORMS
PRICE_RULE_KINDS: tuple[str, ...] = ("percent_off", "amount_off", "fixed", "none")
LOGO_PLACEMENTS: tuple[str, ...] = ("top_left", "top_right", "bottom_left", "bottom_right", "none")
ROUNDING_MODES: tuple[str, ...] = ("half_up", "down", "up")
DEFAULT_FONT = "Noto Sans CJK SC"

_COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # categories and roles
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_MAX_SEED = 2**63 - 1

_TOP_KEYS = {
    "id", "title", "badge_text", "price_rule", "scene_roles", "platforms", "brand_kit", "seed_base",
    "main_role", "start", "end", "look",
}
_REQUIRED_TOP = ("id", "title", "badge_text", "price_rule", "scene_roles", "platforms", "brand_kit", "seed_base")
_PRICE_KEYS = {"kind", "value", "round_to", "currency", "rounding"}
_BRAND_KEYS = {"primary", "secondary", "accent", "text", "font", "logo", "logo_placement"}


class PromotionError(Exception):
    """A promotion file that cannot be used. `path` is the file, `field` the dotted field ("" for the whole file)."""

    def __init__(self, path: str | Path, field: str, message: str):
        self.path = str(path)
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: {field}: {message}" if field else f"{self.path}: {message}")


# --------------------------------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class PriceRule:
    """How the promotion price is derived from the catalog price.

    kind: "percent_off" (value = percent, 0 < value < 100), "amount_off" (value = money off, > 0), "fixed"
    (value = the promotion price), "none" (the catalog price). The result is rounded to a multiple of `round_to`
    (1 = whole yuan, 0.01 = fen) with `rounding` ("half_up", "down" = never above the exact figure, "up").
    `currency` is the currency of `value` for amount_off/fixed (and of the rounded result).
    """

    kind: str = "none"
    value: float = 0.0
    round_to: float = 0.01
    currency: str = "CNY"
    rounding: str = "half_up"

    def apply(self, price: float) -> float:
        """The promotion price for `price`. Raises ValueError for a price that is not a positive finite number or a
        rule that would take the price to zero or below (e.g. 50 off a 30 yuan item)."""
        if isinstance(price, bool) or not isinstance(price, (int, float, Decimal)):
            raise ValueError(f"price must be a number, got {short_repr(price)}")
        p = Decimal(str(price))
        if not p.is_finite() or p <= 0:
            raise ValueError(f"price must be positive, got {short_repr(price)}")
        v = Decimal(str(self.value))
        if self.kind == "percent_off":
            raw = p * (Decimal(100) - v) / Decimal(100)
        elif self.kind == "amount_off":
            raw = p - v
        elif self.kind == "fixed":
            raw = v
        elif self.kind == "none":
            raw = p
        else:  # pragma: no cover - validated at load
            raise ValueError(f"unknown price rule kind {short_repr(self.kind)}")
        step = Decimal(str(self.round_to))
        mode = {"half_up": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}[self.rounding]
        result = (raw / step).quantize(Decimal(1), rounding=mode) * step
        if result <= 0:
            raise ValueError(f"{self.kind} {self.value} takes price {price} to {result}, not a positive price")
        return float(result)

    @property
    def decimals(self) -> int:
        """Decimal places a price under this rule needs (0 for whole yuan, 2 for 0.01)."""
        exp = Decimal(str(self.round_to)).normalize().as_tuple().exponent
        return max(0, -int(exp))


@dataclass(frozen=True)
class BrandKit:
    """Colours as "#RRGGBB" (upper case after loading); `font` is a font family name or a font file path; `logo`
    an optional image path (resolved against the promotion file's folder and checked to exist at load)."""

    primary: str
    secondary: str
    accent: str
    text: str
    font: str = DEFAULT_FONT
    logo: str | None = None
    logo_placement: str = "none"

    @property
    def colours(self) -> dict[str, str]:
        return {"primary": self.primary, "secondary": self.secondary, "accent": self.accent, "text": self.text}


@dataclass(frozen=True)
class Promotion:
    """One promotion. `scene_roles` maps a catalog category (or "default") to the roles every SKU of that category
    gets; `platforms` is a tuple of platform ids; `main_role` is the role exported as the marketplace main image."""

    id: str
    title: str
    badge_text: str
    price_rule: PriceRule
    scene_roles: Mapping[str, tuple[str, ...]] = field(hash=False)
    platforms: tuple[str, ...]
    brand_kit: BrandKit
    seed_base: int
    main_role: str = "studio"
    start: _dt.date | None = None
    end: _dt.date | None = None
    source_path: str | None = field(default=None, compare=False)
    look: Look = field(default_factory=Look, hash=False)  # the tone generated backgrounds match (prompting.look)

    def promo_price(self, price: float) -> float:
        return self.price_rule.apply(price)

    def roles_for(self, category: str | None) -> list[str]:
        """The roles for `category`; a category without its own entry (or None) gets the "default" roles."""
        roles = self.scene_roles.get(category) if isinstance(category, str) else None
        if roles is None:
            roles = self.scene_roles["default"]
        return list(roles)

    def all_roles(self) -> list[str]:
        """Every role any category of this promotion uses, in first-seen order."""
        seen: dict[str, None] = {}
        for roles in self.scene_roles.values():
            for r in roles:
                seen.setdefault(r, None)
        return list(seen)


class _Ctx:
    def __init__(self, path: str):
        self.path = path

    def err(self, fld: str, msg: str) -> PromotionError:
        return PromotionError(self.path, fld, msg)


def _check_keys(ctx: _Ctx, data: Mapping, allowed: set[str], prefix: str) -> None:
    for key in data:
        if not isinstance(key, str) or key not in allowed:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ctx.err(where, f"unknown key {short_repr(key)} (allowed: {', '.join(sorted(allowed))})")


def _req_str(ctx: _Ctx, data: Mapping, key: str, fld: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ctx.err(fld, f"must be a non-empty string, got {short_repr(value)}")
    return value.strip()


def _number(ctx: _Ctx, value: Any, fld: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ctx.err(fld, f"must be a number, got {short_repr(value)}")
    return float(value)


def _colour(ctx: _Ctx, value: Any, fld: str) -> str:
    if value is None:
        raise ctx.err(fld, 'missing colour (write it quoted, "#RRGGBB": an unquoted # starts a YAML comment)')
    if not isinstance(value, str) or not _COLOUR_RE.match(value):
        raise ctx.err(fld, f"{short_repr(value)} is not a #RRGGBB colour")
    return value.upper()


def _date(ctx: _Ctx, value: Any, fld: str) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ctx.err(fld, f"{short_repr(value)} is not a date (YYYY-MM-DD)")


def _price_rule(ctx: _Ctx, data: Any) -> PriceRule:
    if not isinstance(data, Mapping):
        raise ctx.err("price_rule", f"must be a mapping, got {type(data).__name__}")
    _check_keys(ctx, data, _PRICE_KEYS, "price_rule")
    kind = data.get("kind")
    if kind not in PRICE_RULE_KINDS:
        raise ctx.err("price_rule.kind", f"{short_repr(kind)} is not one of {', '.join(PRICE_RULE_KINDS)}")
    if kind == "none":
        value = _number(ctx, data.get("value", 0), "price_rule.value")
        if value != 0:
            raise ctx.err("price_rule.value", f"kind none takes no value, got {short_repr(value)}")
    else:
        if "value" not in data:
            raise ctx.err("price_rule.value", f"required for kind {kind}")
        value = _number(ctx, data["value"], "price_rule.value")
        if kind == "percent_off" and not 0 < value < 100:
            raise ctx.err("price_rule.value", f"percent_off must be between 0 and 100 (exclusive), got {short_repr(value)}")
        if kind in ("amount_off", "fixed") and value <= 0:
            raise ctx.err("price_rule.value", f"{kind} must be positive, got {short_repr(value)}")
    round_to = _number(ctx, data.get("round_to", 0.01), "price_rule.round_to")
    if round_to <= 0:
        raise ctx.err("price_rule.round_to", f"must be positive (e.g. 1 or 0.01), got {short_repr(round_to)}")
    try:
        exp = Decimal(str(round_to)).normalize().as_tuple().exponent
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        exp = 0
    if -int(exp) > 4:
        raise ctx.err("price_rule.round_to", f"{short_repr(round_to)} has more than 4 decimal places")
    currency = data.get("currency", "CNY")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise ctx.err("price_rule.currency", f"{short_repr(currency)} is not an ISO 4217 code such as CNY")
    rounding = data.get("rounding", "half_up")
    if rounding not in ROUNDING_MODES:
        raise ctx.err("price_rule.rounding", f"{short_repr(rounding)} is not one of {', '.join(ROUNDING_MODES)}")
    return PriceRule(kind=kind, value=value, round_to=round_to, currency=currency, rounding=rounding)


def _brand_kit(ctx: _Ctx, data: Any, base_dir: Path) -> BrandKit:
    if not isinstance(data, Mapping):
        raise ctx.err("brand_kit", f"must be a mapping, got {type(data).__name__}")
    _check_keys(ctx, data, _BRAND_KEYS, "brand_kit")
    colours = {k: _colour(ctx, data.get(k), f"brand_kit.{k}") for k in ("primary", "secondary", "accent", "text")}
    font = data.get("font", DEFAULT_FONT)
    if not isinstance(font, str) or not font.strip():
        raise ctx.err("brand_kit.font", f"must be a font name or path, got {short_repr(font)}")
    logo = data.get("logo")
    logo_path: str | None = None
    if logo is not None:
        if not isinstance(logo, str) or not logo.strip():
            raise ctx.err("brand_kit.logo", f"must be a file path or null, got {short_repr(logo)}")
        p = Path(logo)
        if not p.is_absolute():
            p = base_dir / p
        if not p.is_file():
            raise ctx.err("brand_kit.logo", f"file not found: {p}")
        logo_path = str(p)
    placement = data.get("logo_placement", "top_right" if logo_path else "none")
    if placement not in LOGO_PLACEMENTS:
        raise ctx.err("brand_kit.logo_placement", f"{short_repr(placement)} is not one of {', '.join(LOGO_PLACEMENTS)}")
    return BrandKit(**colours, font=font.strip(), logo=logo_path, logo_placement=placement)


def _scene_roles(ctx: _Ctx, data: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(data, Mapping) or not data:
        raise ctx.err("scene_roles", "must be a non-empty mapping of category -> list of roles")
    out: dict[str, tuple[str, ...]] = {}
    for cat, roles in data.items():
        if not isinstance(cat, str) or not _NAME_RE.match(cat):
            raise ctx.err(f"scene_roles.{cat}", f"{short_repr(cat)} is not a category name (lower case, digits, _)")
        fld = f"scene_roles.{cat}"
        if not isinstance(roles, list) or not roles:
            raise ctx.err(fld, f"must be a non-empty list of roles, got {short_repr(roles)}")
        seen: list[str] = []
        for i, role in enumerate(roles):
            if not isinstance(role, str) or not _NAME_RE.match(role):
                raise ctx.err(f"{fld}[{i}]", f"{short_repr(role)} is not a role name (lower case, digits, _)")
            if role in seen:
                raise ctx.err(f"{fld}[{i}]", f"role {short_repr(role)} listed twice")
            seen.append(role)
        out[cat] = tuple(seen)
    if "default" not in out:
        raise ctx.err("scene_roles.default", "required: the roles of every category without its own entry")
    return out


def _platforms(ctx: _Ctx, data: Any, known: Iterable[str]) -> tuple[str, ...]:
    known = tuple(known)
    if not isinstance(data, list) or not data:
        raise ctx.err("platforms", f"must be a non-empty list of platform ids, got {short_repr(data)}")
    out: list[str] = []
    for i, p in enumerate(data):
        if p not in known:
            raise ctx.err(f"platforms[{i}]", f"unknown platform {short_repr(p)} (known: {', '.join(known)})")
        if p in out:
            raise ctx.err(f"platforms[{i}]", f"platform {short_repr(p)} listed twice")
        out.append(p)
    return tuple(out)


def parse_promotion(data: Any, path: str | Path = "<promotion>", *,
                    known_platforms: Iterable[str] | None = None) -> Promotion:
    """Validate an already-parsed mapping (what `load_promotion` does after reading the YAML)."""
    ctx = _Ctx(str(path))
    if not isinstance(data, Mapping):
        raise ctx.err("", f"the file must hold a mapping of promotion fields, got {type(data).__name__}")
    _check_keys(ctx, data, _TOP_KEYS, "")
    for key in _REQUIRED_TOP:
        if key not in data:
            raise ctx.err(key, "required field missing")
    pid = data["id"]
    if not is_safe_sku(pid):
        raise ctx.err("id", f"{short_repr(pid)} is not a safe id (letters, digits, . _ -, starting with a letter or digit)")
    title = _req_str(ctx, data, "title", "title")
    badge = _req_str(ctx, data, "badge_text", "badge_text")
    base_dir = Path(path).parent if str(path) != "<promotion>" else Path(".")
    price_rule = _price_rule(ctx, data["price_rule"])
    scene_roles = _scene_roles(ctx, data["scene_roles"])
    platforms = _platforms(ctx, data["platforms"], _known_platforms() if known_platforms is None else known_platforms)
    brand_kit = _brand_kit(ctx, data["brand_kit"], base_dir)
    seed_base = data["seed_base"]
    if isinstance(seed_base, bool) or not isinstance(seed_base, int) or not 0 <= seed_base <= _MAX_SEED:
        raise ctx.err("seed_base", f"must be an integer between 0 and 2**63-1, got {short_repr(seed_base)}")
    main_role = data.get("main_role", "studio")
    if not isinstance(main_role, str) or not _NAME_RE.match(main_role):
        raise ctx.err("main_role", f"{short_repr(main_role)} is not a role name")
    for cat, roles in scene_roles.items():
        if main_role not in roles:
            raise ctx.err(f"scene_roles.{cat}", f"must include the main role {short_repr(main_role)} "
                                                 "(every SKU needs its marketplace main image)")
    start = _date(ctx, data.get("start"), "start")
    end = _date(ctx, data.get("end"), "end")
    if start and end and end < start:
        raise ctx.err("end", f"{end.isoformat()} is before start {start.isoformat()}")
    return Promotion(
        id=pid, title=title, badge_text=badge, price_rule=price_rule, scene_roles=scene_roles,
        platforms=platforms, brand_kit=brand_kit, seed_base=seed_base, main_role=main_role,
        start=start, end=end, source_path=str(path), look=parse_look(data.get("look"), ctx.err, base_dir),
    )


def load_promotion(path: str | Path, *, known_platforms: Iterable[str] | None = None) -> Promotion:
    """Read and validate one promotion file. Raises `PromotionError` naming the file and the field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromotionError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromotionError(path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        data = load_yaml_strict(text)
    except yaml.YAMLError as exc:
        raise PromotionError(path, "", f"invalid YAML: {exc}") from exc
    return parse_promotion(data, path, known_platforms=known_platforms)


def discover_promotions(folder: str | Path, *, known_platforms: Iterable[str] | None = None
                        ) -> tuple[dict[str, Promotion], list[PromotionError]]:
    """Load every ``*.yaml``/``*.yml`` file in `folder` (not recursive, sorted by name).

    Returns (promotions by id, errors). A bad file becomes one error and the others still load. Two files that
    declare the same id are ambiguous: that id is left out and each of those files gets an error naming the other
    (picking one silently would publish whichever file sorts first).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}, [PromotionError(folder, "", "promotions folder not found")]
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
    loaded: dict[str, list[Promotion]] = {}
    errors: list[PromotionError] = []
    for f in files:
        try:
            promo = load_promotion(f, known_platforms=known_platforms)
        except PromotionError as exc:
            errors.append(exc)
            continue
        loaded.setdefault(promo.id, []).append(promo)
    result: dict[str, Promotion] = {}
    for pid, promos in loaded.items():
        if len(promos) == 1:
            result[pid] = promos[0]
            continue
        paths = [p.source_path for p in promos]
        for p in promos:
            others = ", ".join(x for x in paths if x != p.source_path)
            errors.append(PromotionError(p.source_path or "?", "id", f"duplicate id {short_repr(pid)} (also in {others})"))
    return result, errors
