"""The scene-template library: shipped content, validation errors (file + template + field), fallback."""
from __future__ import annotations

import copy

import pytest
import yaml

from skucore.prompting.templates import (
    DEFAULT_LIBRARY_PATH,
    SceneTemplate,
    TemplateLibraryError,
    default_library,
    load_template_library,
    resolve_template,
)

CATEGORIES = ["electronics", "fashion", "home_decor", "beauty", "default"]


@pytest.fixture
def lib_data() -> dict:
    return yaml.safe_load(DEFAULT_LIBRARY_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def write_lib(tmp_path):
    def _write(data, name="templates.yaml"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True),
                        encoding="utf-8")
        return path
    return _write


def test_shipped_library_has_categories_and_core_roles():
    lib = default_library()
    assert set(CATEGORIES) <= set(lib.categories())
    for cat in CATEGORIES:
        for role in ("studio", "lifestyle", "detail"):
            t = lib.get(cat, role)
            assert isinstance(t, SceneTemplate), f"{cat}/{role}"
            assert t.id == f"{cat}/{role}" and t.category == cat and t.role == role
    assert lib.get("fashion", "flatlay") is not None and lib.get("beauty", "flatlay") is not None


def test_shipped_library_roles_follow_the_rules():
    for t in default_library().all():
        if t.role == "studio":
            assert t.backdrop == {"kind": "white"} and t.overlays == (), t.id
        if t.role == "lifestyle":
            assert t.backend == "studio" and t.backdrop["kind"] in ("surface", "gradient"), t.id
            assert len(t.prompt) > 80, f"{t.id} should carry a real scene prompt for the GPU backends"
        if t.role == "detail":
            assert t.backdrop["kind"] in ("brand", "gradient"), t.id
            assert set(t.overlays) == {"price", "badge", "selling_points"}, t.id
        assert 0 < t.fill <= 1 and t.negative_prompt


def test_surfaces_cover_the_listed_materials():
    surfaces = {t.backdrop.get("surface") for t in default_library().all()}
    assert {"marble", "wood", "linen", "concrete"} <= surfaces


def test_load_library_none_is_default_and_path_reloads():
    assert load_template_library() is default_library()
    again = load_template_library(DEFAULT_LIBRARY_PATH)
    assert again.get("fashion", "lifestyle") == default_library().get("fashion", "lifestyle")


# ------------------------------------------------------------------------------------------------ fallback
def test_exact_match_is_not_marked():
    t = resolve_template("fashion", "lifestyle")
    assert t.id == "fashion/lifestyle" and t.fallback_from is None


def test_role_missing_in_category_falls_back_to_default_category():
    t = resolve_template("fashion", "banner")  # fashion has no banner; default does
    assert t.id == "default/banner" and t.fallback_from == "fashion/banner"


def test_role_missing_everywhere_falls_back_to_default_studio():
    t = resolve_template("electronics", "flatlay")  # neither electronics nor default has flatlay
    assert t.id == "default/studio" and t.fallback_from == "electronics/flatlay"
    t = resolve_template("beauty", "hologram")
    assert t.id == "default/studio" and t.fallback_from == "beauty/hologram"


def test_unknown_or_missing_category():
    t = resolve_template("garden", "lifestyle")
    assert t.id == "default/lifestyle" and t.fallback_from == "garden/lifestyle"
    t = resolve_template(None, "detail")
    assert t.id == "default/detail" and t.fallback_from is None


def test_resolve_with_user_library(write_lib):
    path = write_lib({"categories": {"default": {"studio": {"backdrop": {"kind": "white"},
                                                            "prompt": "{{ name }} on white"}}}})
    t = resolve_template("fashion", "lifestyle", path)
    assert t.id == "default/studio" and t.fallback_from == "fashion/lifestyle"
    assert t.backend == "studio" and t.shadow is True and t.reflection is False  # built-in defaults


# ------------------------------------------------------------------------------------------------ validation
def _mutate(data, cat, role, key, value):
    data = copy.deepcopy(data)
    if value is _DELETE:
        del data["categories"][cat][role][key]
    else:
        data["categories"][cat][role][key] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("cat, role, key, value, field, fragment", [
    ("fashion", "lifestyle", "backend", "dalle", "backend", "'dalle' is not one of"),
    ("fashion", "lifestyle", "backdrop", {"kind": "sky"}, "backdrop.kind", "'sky' is not one of"),
    ("fashion", "lifestyle", "backdrop", {"kind": "surface", "surface": "lava"}, "backdrop.surface", "'lava'"),
    ("fashion", "lifestyle", "backdrop", {"kind": "gradient", "colours": ["#FFFFFF"]}, "backdrop.colours",
     "at least 2"),
    ("fashion", "lifestyle", "backdrop", {"kind": "gradient", "colours": ["#FFFFFF", "red"]},
     "backdrop.colours[1]", "not a #RRGGBB colour"),
    ("fashion", "lifestyle", "backdrop", {"kind": "white", "colour": "#FFFFFF"}, "backdrop.colour", "unknown key"),
    ("fashion", "detail", "backdrop", {"kind": "brand", "tint": 2}, "backdrop.tint", "from 0 to 1"),
    ("fashion", "detail", "overlays", ["price", "qr_code"], "overlays[1]", "'qr_code' is not one of"),
    ("fashion", "detail", "fill", 1.5, "fill", "fill ratio"),
    ("fashion", "detail", "shadow", "yes", "shadow", "true or false"),
    ("fashion", "detail", "prompt", "{{ name ", "prompt", "syntax error"),
    ("fashion", "detail", "prompt", "{{ colour }} dress", "prompt", "unknown variable(s) colour"),
    ("fashion", "detail", "prompt", _DELETE, "prompt", "required"),
    ("fashion", "detail", "negative_prompt", "{{ name }}", "negative_prompt", "plain text"),
    ("fashion", "detail", "lighting", "soft", "lighting", "unknown key"),
    ("beauty", "studio", "backdrop", {"kind": "surface", "surface": "marble"}, "backdrop.kind", "must be white"),
    ("beauty", "studio", "overlays", ["badge"], "overlays", "no overlays"),
])
def test_invalid_template_names_file_template_field(lib_data, write_lib, cat, role, key, value, field, fragment):
    path = write_lib(_mutate(lib_data, cat, role, key, value))
    with pytest.raises(TemplateLibraryError) as exc_info:
        load_template_library(path)
    err = exc_info.value
    assert err.path == str(path) and err.template == f"{cat}/{role}" and err.field == field
    assert str(err).startswith(f"{path}: {cat}/{role}: {field}: ")
    assert fragment in str(err)


def test_library_needs_default_studio(lib_data, write_lib):
    data = copy.deepcopy(lib_data)
    del data["categories"]["default"]["studio"]
    with pytest.raises(TemplateLibraryError, match="default/studio"):
        load_template_library(write_lib(data))
    data = copy.deepcopy(lib_data)
    del data["categories"]["default"]
    with pytest.raises(TemplateLibraryError, match="categories.default"):
        load_template_library(write_lib(data))


def test_library_unknown_top_level_and_defaults_keys(lib_data, write_lib):
    data = copy.deepcopy(lib_data)
    data["categorys"] = {}
    with pytest.raises(TemplateLibraryError, match="categorys: unknown key"):
        load_template_library(write_lib(data))
    data = copy.deepcopy(lib_data)
    data["defaults"]["prompt"] = "x"
    with pytest.raises(TemplateLibraryError, match="defaults.prompt: cannot be defaulted"):
        load_template_library(write_lib(data))


def test_library_duplicate_key_and_bad_yaml(write_lib):
    text = ("categories:\n  default:\n    studio: {backdrop: {kind: white}, prompt: a}\n"
            "    studio: {backdrop: {kind: white}, prompt: b}\n")
    with pytest.raises(TemplateLibraryError, match="duplicate key 'studio'"):
        load_template_library(write_lib(text))
    with pytest.raises(TemplateLibraryError, match="invalid YAML"):
        load_template_library(write_lib("categories: [\n", "bad.yaml"))
