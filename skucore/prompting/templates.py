"""The scene-template library: category -> scene role -> `SceneTemplate`, kept as data in YAML.

The shipped library is ``skucore/data/templates.yaml``; a user passes their own file (same format) to
`load_template_library(path)`. Loading validates everything and raises `TemplateLibraryError` naming the file, the
template ("fashion/lifestyle") and the field. `resolve_template(category, role)` never raises for a missing role:
it falls back category/role -> default/role -> default/studio and records where it fell back from.

Backdrop dicts (what the `studio` renderer draws; the GPU backends paint their own scene from `prompt`):
- ``{kind: white}``: pure #FFFFFF (the marketplace main image).
- ``{kind: gradient, colours: [c1, c2, ...], direction: vertical|horizontal|radial}``.
- ``{kind: brand, colour: primary|secondary|accent, tint: 0..1}`` (tint mixes toward white, 0 = the colour itself).
- ``{kind: surface, surface: marble|wood|linen|concrete, colours: [wall colour, ...]}`` (optional colours).
Colours are "#RRGGBB" or a brand-kit token "brand.primary" / "brand.secondary" / "brand.accent" / "brand.text",
which `skucore.prompting.prompts` resolves against the promotion's brand kit.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from jinja2 import TemplateSyntaxError, meta

from skucore.base.yamlio import load_yaml_strict, short_repr
from skucore.prompting.sandbox import make_environment  # the same sandbox that renders, so syntax checks agree

__all__ = [
    "BACKENDS", "BACKDROP_KINDS", "SURFACES", "OVERLAYS", "PROMPT_VARIABLES", "DEFAULT_LIBRARY_PATH",
    "SceneTemplate", "TemplateLibrary", "TemplateLibraryError",
    "load_template_library", "default_library", "resolve_template", "parse_template_library",
]

BACKENDS = ("studio", "diffusers", "server")
BACKDROP_KINDS = ("white", "gradient", "brand", "surface")
SURFACES = ("marble", "wood", "linen", "concrete")
OVERLAYS = ("price", "badge", "selling_points")
GRADIENT_DIRECTIONS = ("vertical", "horizontal", "radial")
BRAND_TOKENS = ("brand.primary", "brand.secondary", "brand.accent", "brand.text")
MAIN_IMAGE_ROLE = "studio"

# The variables a prompt template may use (what `skucore.prompting.prompts` puts in the render context). A field that is
# null in a catalog row is absent from that row's context, so `{{ color }}` fails for that row (StrictUndefined);
# write `{% if color is defined %}...{% endif %}` or `{{ color | default('') }}` for optional fields.
PROMPT_VARIABLES = frozenset({
    "sku", "name", "category", "color", "material", "brand", "selling_points", "attributes",
    "price", "promo_price", "currency", "role", "promotion",
})

DEFAULT_LIBRARY_PATH = Path(__file__).resolve().parents[1] / "data" / "templates.yaml"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_TEMPLATE_KEYS = {"backend", "backdrop", "prompt", "negative_prompt", "overlays", "shadow", "reflection", "fill",
                  "description", "cut_edges"}
_TOP_KEYS = {"version", "defaults", "categories"}
_DEFAULTABLE = {"backend", "negative_prompt", "overlays", "shadow", "reflection", "fill", "cut_edges"}
SHADOW_VALUES = ("drawn", "original", "none")  # besides true (= drawn) and false (= none)
CUT_EDGE_MODES = ("flush", "ignore")


class TemplateLibraryError(Exception):
    """A template library that cannot be used; the message names file, template id and field."""

    def __init__(self, path: str | Path, template: str, field: str, message: str):
        self.path, self.template, self.field, self.message = str(path), template, field, message
        where = ": ".join(x for x in (self.path, template, field) if x)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class SceneTemplate:
    """One scene: how to build the image for (category, role). `prompt` is Jinja2 source (sandboxed at render).

    `fallback_from` is set only on templates returned by `resolve_template` when the requested "category/role"
    was not in the library (it holds the requested id; `id` is the template actually used).

    `shadow` says whether the product gets a shadow and `shadow_source` which one: "drawn" (a contact shadow
    consistent with the scene's light) or "original" (the photo's own shadow layer, for brands that want it; a
    cutout without one gets the drawn shadow). The YAML field `shadow` takes true, false, drawn, original or none.
    `cut_edges` says what a product cut at its photo's frame does: "flush" (its cut sides meet the frame, see
    `skucore.imaging.placement`) or "ignore" (centred as if whole).
    """

    id: str
    category: str
    role: str
    backend: str
    backdrop: Mapping[str, Any] = field(hash=False)
    prompt: str
    negative_prompt: str = ""
    overlays: tuple[str, ...] = ()
    shadow: bool = True
    reflection: bool = False
    fill: float = 0.8
    description: str = ""
    fallback_from: str | None = None
    shadow_source: str = "drawn"
    cut_edges: str = "flush"


@dataclass(frozen=True)
class TemplateLibrary:
    templates: Mapping[str, Mapping[str, SceneTemplate]] = field(hash=False)  # category -> role -> template
    source: str = "<memory>"

    def get(self, category: str, role: str) -> SceneTemplate | None:
        return self.templates.get(category, {}).get(role)

    def categories(self) -> list[str]:
        return list(self.templates)

    def roles(self, category: str) -> list[str]:
        return list(self.templates.get(category, {}))

    def all(self) -> list[SceneTemplate]:
        return [t for roles in self.templates.values() for t in roles.values()]

    def resolve(self, category: str | None, role: str) -> SceneTemplate:
        return resolve_template(category, role, self)


# --------------------------------------------------------------------------------------------------- validation
def _validate_colour(err, value: Any, fld: str) -> str:
    if isinstance(value, str) and (value in BRAND_TOKENS or _COLOUR_RE.match(value)):
        return value.upper() if value.startswith("#") else value
    raise err(fld, f"{short_repr(value)} is not a #RRGGBB colour or one of {', '.join(BRAND_TOKENS)}")


def _validate_backdrop(err, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise err("backdrop", f"must be a mapping with a kind, got {short_repr(data)}")
    kind = data.get("kind")
    if kind not in BACKDROP_KINDS:
        raise err("backdrop.kind", f"{short_repr(kind)} is not one of {', '.join(BACKDROP_KINDS)}")
    allowed = {"white": {"kind"}, "gradient": {"kind", "colours", "direction"},
               "brand": {"kind", "colour", "tint"}, "surface": {"kind", "surface", "colours"}}[kind]
    for key in data:
        if key not in allowed:
            raise err(f"backdrop.{key}", f"unknown key for kind {kind} (allowed: {', '.join(sorted(allowed))})")
    out: dict[str, Any] = {"kind": kind}
    if kind == "gradient":
        colours = data.get("colours")
        if not isinstance(colours, list) or len(colours) < 2:
            raise err("backdrop.colours", f"a gradient needs a list of at least 2 colours, got {short_repr(colours)}")
        out["colours"] = [_validate_colour(err, c, f"backdrop.colours[{i}]") for i, c in enumerate(colours)]
        direction = data.get("direction", "vertical")
        if direction not in GRADIENT_DIRECTIONS:
            raise err("backdrop.direction", f"{short_repr(direction)} is not one of {', '.join(GRADIENT_DIRECTIONS)}")
        out["direction"] = direction
    elif kind == "brand":
        colour = data.get("colour", "primary")
        if colour not in ("primary", "secondary", "accent"):
            raise err("backdrop.colour", f"{short_repr(colour)} is not one of primary, secondary, accent")
        tint = data.get("tint", 0.0)
        if isinstance(tint, bool) or not isinstance(tint, (int, float)) or not 0 <= tint <= 1:
            raise err("backdrop.tint", f"must be a number from 0 to 1, got {short_repr(tint)}")
        out.update(colour=colour, tint=float(tint))
    elif kind == "surface":
        surface = data.get("surface")
        if surface not in SURFACES:
            raise err("backdrop.surface", f"{short_repr(surface)} is not one of {', '.join(SURFACES)}")
        out["surface"] = surface
        if "colours" in data:
            colours = data["colours"]
            if not isinstance(colours, list) or not colours:
                raise err("backdrop.colours", f"must be a non-empty list of colours, got {short_repr(colours)}")
            out["colours"] = [_validate_colour(err, c, f"backdrop.colours[{i}]") for i, c in enumerate(colours)]
    return out


def _validate_prompt_source(err, env, source: Any) -> str:
    if not isinstance(source, str) or not source.strip():
        raise err("prompt", f"must be non-empty Jinja2 text, got {short_repr(source)}")
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise err("prompt", f"Jinja2 syntax error on line {exc.lineno}: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(ast) - PROMPT_VARIABLES)
    if unknown:
        raise err("prompt", f"unknown variable(s) {', '.join(unknown)} "
                            f"(available: {', '.join(sorted(PROMPT_VARIABLES))})")
    return source


def _validate_template(path: str, category: str, role: str, data: Any, defaults: Mapping[str, Any], env
                       ) -> SceneTemplate:
    tid = f"{category}/{role}"

    def err(fld: str, msg: str) -> TemplateLibraryError:
        return TemplateLibraryError(path, tid, fld, msg)

    if not isinstance(data, Mapping):
        raise err("", f"must be a mapping of template fields, got {type(data).__name__}")
    for key in data:
        if key not in _TEMPLATE_KEYS:
            raise err(str(key), f"unknown key (allowed: {', '.join(sorted(_TEMPLATE_KEYS))})")
    merged = {**defaults, **data}
    for key in ("backdrop", "prompt"):
        if key not in merged:
            raise err(key, "required field missing")
    backend = merged.get("backend", "studio")
    if backend not in BACKENDS:
        raise err("backend", f"{short_repr(backend)} is not one of {', '.join(BACKENDS)}")
    backdrop = _validate_backdrop(err, merged["backdrop"])
    prompt = _validate_prompt_source(err, env, merged["prompt"])
    negative = merged.get("negative_prompt", "")
    if not isinstance(negative, str):
        raise err("negative_prompt", f"must be text, got {short_repr(negative)}")
    if "{{" in negative or "{%" in negative:
        raise err("negative_prompt", "is plain text, not a template (remove {{ }} / {% %})")
    overlays = merged.get("overlays", [])
    if not isinstance(overlays, list):
        raise err("overlays", f"must be a list drawn from {', '.join(OVERLAYS)}, got {short_repr(overlays)}")
    for i, o in enumerate(overlays):
        if o not in OVERLAYS:
            raise err(f"overlays[{i}]", f"{short_repr(o)} is not one of {', '.join(OVERLAYS)}")
    if len(set(overlays)) != len(overlays):
        raise err("overlays", "lists an overlay twice")
    shadow_value = merged.get("shadow", True)
    if isinstance(shadow_value, bool):
        shadow, shadow_source = shadow_value, "drawn"
    elif shadow_value in SHADOW_VALUES:
        shadow, shadow_source = shadow_value != "none", "original" if shadow_value == "original" else "drawn"
    else:
        raise err("shadow", f"must be true or false, or one of {', '.join(SHADOW_VALUES)}, got {short_repr(shadow_value)}")
    reflection = merged.get("reflection", False)
    if not isinstance(reflection, bool):
        raise err("reflection", f"must be true or false, got {short_repr(reflection)}")
    cut_edges = merged.get("cut_edges", "flush")
    if cut_edges not in CUT_EDGE_MODES:
        raise err("cut_edges", f"{short_repr(cut_edges)} is not one of {', '.join(CUT_EDGE_MODES)}")
    fill = merged.get("fill", 0.8)
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not 0.05 <= fill <= 1.0:
        raise err("fill", f"must be a product fill ratio between 0.05 and 1, got {short_repr(fill)}")
    description = merged.get("description", "")
    if not isinstance(description, str):
        raise err("description", f"must be text, got {short_repr(description)}")
    if role == MAIN_IMAGE_ROLE:
        if backdrop["kind"] != "white":
            raise err("backdrop.kind", "the studio role is the marketplace main image: backdrop must be white")
        if overlays:
            raise err("overlays", "the studio role is the marketplace main image: no overlays allowed")
    return SceneTemplate(
        id=tid, category=category, role=role, backend=backend, backdrop=backdrop, prompt=prompt,
        negative_prompt=" ".join(negative.split()), overlays=tuple(overlays), shadow=shadow,
        reflection=reflection, fill=float(fill), description=description.strip(), shadow_source=shadow_source,
        cut_edges=cut_edges,
    )


def parse_template_library(data: Any, path: str | Path = "<memory>") -> TemplateLibrary:
    """Validate an already-parsed library mapping (see `load_template_library`)."""
    path = str(path)
    env = make_environment()

    def err(fld: str, msg: str) -> TemplateLibraryError:
        return TemplateLibraryError(path, "", fld, msg)

    if not isinstance(data, Mapping):
        raise err("", f"the file must hold a mapping with 'categories', got {type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise err(str(key), f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    version = data.get("version", 1)
    if version != 1:
        raise err("version", f"unsupported library version {short_repr(version)} (this code reads version 1)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise err("defaults", "must be a mapping")
    for key in defaults:
        if key not in _DEFAULTABLE:
            raise err(f"defaults.{key}", f"cannot be defaulted (allowed: {', '.join(sorted(_DEFAULTABLE))})")
    categories = data.get("categories")
    if not isinstance(categories, Mapping) or not categories:
        raise err("categories", "required: a mapping of category -> role -> template")
    templates: dict[str, dict[str, SceneTemplate]] = {}
    for cat, roles in categories.items():
        if not isinstance(cat, str) or not _NAME_RE.match(cat):
            raise err(f"categories.{cat}", f"{short_repr(cat)} is not a category name (lower case, digits, _)")
        if not isinstance(roles, Mapping) or not roles:
            raise TemplateLibraryError(path, cat, "", "must map at least one role to a template")
        templates[cat] = {}
        for role, tdata in roles.items():
            if not isinstance(role, str) or not _NAME_RE.match(role):
                raise TemplateLibraryError(path, f"{cat}/{role}", "", f"{short_repr(role)} is not a role name")
            templates[cat][role] = _validate_template(path, cat, role, tdata, defaults, env)
    if "default" not in templates:
        raise err("categories.default", "required: the fallback category")
    if MAIN_IMAGE_ROLE not in templates["default"]:
        raise TemplateLibraryError(path, f"default/{MAIN_IMAGE_ROLE}", "", "required: the last-resort fallback")
    return TemplateLibrary(templates=templates, source=path)


def load_template_library(path: str | Path | None = None) -> TemplateLibrary:
    """Load and validate a template library file (the shipped one when `path` is None)."""
    if path is None:
        return default_library()
    return _load_file(Path(path))


def _load_file(path: Path) -> TemplateLibrary:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateLibraryError(path, "", "", f"cannot read: {exc}") from exc
    try:
        data = load_yaml_strict(text)
    except yaml.YAMLError as exc:
        raise TemplateLibraryError(path, "", "", f"invalid YAML: {exc}") from exc
    return parse_template_library(data, path)


@functools.lru_cache(maxsize=1)
def default_library() -> TemplateLibrary:
    """The shipped library (parsed once per process)."""
    return _load_file(DEFAULT_LIBRARY_PATH)


def as_library(library: TemplateLibrary | str | Path | None) -> TemplateLibrary:
    if library is None:
        return default_library()
    if isinstance(library, TemplateLibrary):
        return library
    return load_template_library(library)


def resolve_template(category: str | None, role: str, library: TemplateLibrary | str | Path | None = None
                     ) -> SceneTemplate:
    """The template for (category, role), falling back category/role -> default/role -> default/studio.

    Never raises for a missing category or role: a fallback result has `fallback_from` set to the requested
    "category/role" (category None reads as "default").
    """
    lib = as_library(library)
    cat = category if isinstance(category, str) and category else "default"
    requested = f"{cat}/{role}"
    for c, r in ((cat, role), ("default", role), ("default", MAIN_IMAGE_ROLE)):
        t = lib.get(c, r)
        if t is not None:
            if (c, r) == (cat, role):
                return t
            return dataclasses.replace(t, fallback_from=requested)
    raise TemplateLibraryError(lib.source, f"default/{MAIN_IMAGE_ROLE}", "", "missing: the library is invalid")
