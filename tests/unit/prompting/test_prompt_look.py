"""A promotion's `look` (the tone its generated backgrounds match) and the template fields for scenes: `shadow`
(drawn / original / none) and `cut_edges` (flush / ignore)."""
from __future__ import annotations

import pytest
import yaml
from PIL import Image

from skucore.imaging.shadows import template_shadow
from skucore.prompting.look import Look
from skucore.prompting.promotions import PromotionError, load_promotion
from skucore.prompting.templates import DEFAULT_LIBRARY_PATH, TemplateLibraryError, load_template_library


def test_no_look_is_the_template_backdrop_default(double11):
    assert double11.look == Look() and double11.look.tone_for("default/lifestyle") is None


def test_look_with_a_tone_and_per_template_overrides(promo_data, write_promo):
    promo_data["look"] = {"reference_tone": "#f2eee8", "templates": {"default/lifestyle": "#EDE6DC"},
                          "strength": 0.8, "max_shift": 15, "max_delta_e": 4}
    look = load_promotion(write_promo(promo_data)).look
    assert look.reference_tone == "#F2EEE8" and look.strength == 0.8 and look.max_shift == 15.0
    assert look.tone_for("default/lifestyle") == "#EDE6DC" and look.tone_for("default/detail") == "#F2EEE8"
    assert look.max_delta_e == 4.0


def test_look_from_a_reference_image_keeps_its_median_colour(promo_data, write_promo, tmp_path):
    Image.new("RGB", (64, 48), (236, 226, 210)).save(tmp_path / "shoot.jpg", quality=95)
    promo_data["look"] = {"reference_image": "shoot.jpg"}
    look = load_promotion(write_promo(promo_data)).look
    r, g, b = (int(look.reference_tone[i:i + 2], 16) for i in (1, 3, 5))
    assert max(abs(r - 236), abs(g - 226), abs(b - 210)) <= 2
    assert look.reference_image == str(tmp_path / "shoot.jpg")


@pytest.mark.parametrize("look, field, fragment", [
    ("warm", "look", "must be a mapping"),
    ({"reference_tone": "F2EEE8"}, "look.reference_tone", "quoted"),
    ({"tone": "#F2EEE8"}, "look.tone", "unknown key"),
    ({"strength": 1.5}, "look.strength", "from 0 to 1"),
    ({"reference_image": "missing.jpg"}, "look.reference_image", "cannot read"),
    ({"reference_tone": "#F2EEE8", "reference_image": "x.jpg"}, "look.reference_image", "not both"),
    ({"templates": {"default/lifestyle": "beige"}}, "look.templates.default/lifestyle", "colour"),
])
def test_bad_look_names_file_and_field(promo_data, write_promo, look, field, fragment):
    promo_data["look"] = look
    path = write_promo(promo_data)
    with pytest.raises(PromotionError) as exc_info:
        load_promotion(path)
    assert exc_info.value.field == field and fragment in exc_info.value.message
    assert str(path) in str(exc_info.value)


def _library(tmp_path, **fields):
    data = yaml.safe_load(DEFAULT_LIBRARY_PATH.read_text(encoding="utf-8"))
    data["categories"]["fashion"]["lifestyle"].update(fields)
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("value, shadow, source, mode", [
    (True, True, "drawn", "drawn"), (False, False, "drawn", "none"), ("drawn", True, "drawn", "drawn"),
    ("original", True, "original", "original"), ("none", False, "drawn", "none"),
])
def test_template_shadow_values(tmp_path, value, shadow, source, mode):
    t = load_template_library(_library(tmp_path, shadow=value)).get("fashion", "lifestyle")
    assert (t.shadow, t.shadow_source, template_shadow(t)) == (shadow, source, mode)


def test_template_cut_edges(tmp_path):
    lib = load_template_library(_library(tmp_path, cut_edges="ignore"))
    assert lib.get("fashion", "lifestyle").cut_edges == "ignore" and lib.get("fashion", "detail").cut_edges == "flush"
    with pytest.raises(TemplateLibraryError, match="cut_edges"):
        load_template_library(_library(tmp_path, cut_edges="float"))
    with pytest.raises(TemplateLibraryError, match="shadow"):
        load_template_library(_library(tmp_path, shadow="soft"))
