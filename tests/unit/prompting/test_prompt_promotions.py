"""Promotion files: loading, strict validation (file + field in every message), discovery, price rules."""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest

from skucore.prompting.promotions import (
    KNOWN_PLATFORMS,
    PriceRule,
    PromotionError,
    discover_promotions,
    load_promotion,
)


def test_double11_loads_as_specified(double11):
    p = double11
    assert p.id == "double11"
    assert p.title == "双11 狂欢节 / Double 11"
    assert p.badge_text == "限时特惠"
    assert p.price_rule == PriceRule(kind="percent_off", value=20.0, round_to=1.0, currency="CNY")
    assert p.platforms == ("amazon_main", "taobao", "jd", "pinduoduo", "shopify")
    assert set(p.platforms) <= set(KNOWN_PLATFORMS)
    assert p.roles_for("fashion") == ["studio", "lifestyle", "detail"]
    assert p.roles_for(None) == ["studio", "lifestyle", "detail"]
    assert p.main_role == "studio"
    assert p.brand_kit.primary == "#E4393C"
    assert p.brand_kit.font == "Noto Sans CJK SC"
    assert p.brand_kit.logo is None and p.brand_kit.logo_placement == "none"
    assert isinstance(p.seed_base, int)
    assert p.start == dt.date(2025, 11, 1) and p.end == dt.date(2025, 11, 11)
    assert p.promo_price(1299) == 1039.0


def test_promotion_is_frozen(double11):
    with pytest.raises(AttributeError):
        double11.id = "other"  # type: ignore[misc]


def _set(data: dict, dotted: str, value):
    parts = dotted.split(".")
    target = data
    for p in parts[:-1]:
        target = target[p]
    if value is _DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value


_DELETE = object()


@pytest.mark.parametrize("dotted, value, field, fragment", [
    ("brand_kit.primary", "#12", "brand_kit.primary", "'#12' is not a #RRGGBB colour"),
    ("brand_kit.text", "white", "brand_kit.text", "is not a #RRGGBB colour"),
    ("brand_kit.secondary", None, "brand_kit.secondary", "quoted"),
    ("brand_kit.logo_placement", "middle", "brand_kit.logo_placement", "'middle' is not one of"),
    ("brand_kit.logo", "missing-logo.png", "brand_kit.logo", "file not found"),
    ("brand_kit.font", "", "brand_kit.font", "font name or path"),
    ("id", "../etc", "id", "not a safe id"),
    ("id", "double 11", "id", "not a safe id"),
    ("title", "", "title", "non-empty string"),
    ("title", 1111, "title", "non-empty string"),
    ("badge_text", None, "badge_text", "non-empty string"),
    ("price_rule.kind", "bogo", "price_rule.kind", "'bogo' is not one of"),
    ("price_rule.value", 120, "price_rule.value", "between 0 and 100"),
    ("price_rule.value", "20%", "price_rule.value", "must be a number"),
    ("price_rule.round_to", 0, "price_rule.round_to", "must be positive"),
    ("price_rule.currency", "RMB¥", "price_rule.currency", "ISO 4217"),
    ("price_rule.rounding", "banker", "price_rule.rounding", "not one of"),
    ("price_rule", "20% off", "price_rule", "must be a mapping"),
    ("scene_roles", {"fashion": ["studio"]}, "scene_roles.default", "required"),
    ("scene_roles.default", [], "scene_roles.default", "non-empty list"),
    ("scene_roles.default", ["studio", "Life Style"], "scene_roles.default[1]", "not a role name"),
    ("scene_roles.default", ["studio", "detail", "detail"], "scene_roles.default[2]", "listed twice"),
    ("scene_roles.default", ["lifestyle", "detail"], "scene_roles.default", "main role 'studio'"),
    ("platforms", ["taobao", "ebay"], "platforms[1]", "unknown platform 'ebay'"),
    ("platforms", [], "platforms", "non-empty list"),
    ("platforms", ["jd", "jd"], "platforms[1]", "listed twice"),
    ("seed_base", -1, "seed_base", "integer"),
    ("seed_base", "42", "seed_base", "integer"),
    ("seed_base", 2**63, "seed_base", "integer"),
    ("seed_base", True, "seed_base", "integer"),
    ("main_role", "Hero!", "main_role", "not a role name"),
    ("start", "next week", "start", "not a date"),
    ("end", "2025-10-01", "end", "before start"),
    ("seed_base", _DELETE, "seed_base", "required field missing"),
    ("brand_kit", _DELETE, "brand_kit", "required field missing"),
])
def test_malformed_field_names_path_and_field(promo_data, write_promo, dotted, value, field, fragment):
    data = copy.deepcopy(promo_data)
    _set(data, dotted, value)
    path = write_promo(data, "double11.yaml")
    with pytest.raises(PromotionError) as exc_info:
        load_promotion(path)
    err = exc_info.value
    assert err.path == str(path)
    assert err.field == field
    assert str(err).startswith(f"{path}: {field}: ")
    assert fragment in str(err)


def test_exact_message_for_bad_colour(promo_data, write_promo):
    promo_data["brand_kit"]["primary"] = "#12"
    path = write_promo(promo_data, "double11.yaml")
    with pytest.raises(PromotionError) as exc_info:
        load_promotion(path)
    assert str(exc_info.value) == f"{path}: brand_kit.primary: '#12' is not a #RRGGBB colour"


def test_unquoted_hash_colour_is_explained(promo_data, write_promo):
    text = write_promo(promo_data).read_text(encoding="utf-8")
    text = text.replace("primary: '#E4393C'", "primary: #E4393C")
    assert "primary: #E4393C" in text
    path = write_promo(text, "raw.yaml")
    with pytest.raises(PromotionError, match=r"brand_kit\.primary: .*unquoted # starts a YAML comment"):
        load_promotion(path)


@pytest.mark.parametrize("where, key, field", [
    ("", "titel", "titel"),
    ("brand_kit", "primery", "brand_kit.primery"),
    ("price_rule", "percent", "price_rule.percent"),
])
def test_unknown_keys_are_errors(promo_data, write_promo, where, key, field):
    target = promo_data[where] if where else promo_data
    target[key] = "x"
    path = write_promo(promo_data)
    with pytest.raises(PromotionError) as exc_info:
        load_promotion(path)
    assert exc_info.value.field == field
    assert "unknown key" in str(exc_info.value) and str(path) in str(exc_info.value)


def test_duplicate_yaml_keys_are_errors(write_promo, promo_data):
    text = write_promo(promo_data).read_text(encoding="utf-8") + "seed_base: 7\n"
    path = write_promo(text, "dup.yaml")
    with pytest.raises(PromotionError, match="duplicate key 'seed_base'") as exc_info:
        load_promotion(path)
    assert str(path) in str(exc_info.value)


@pytest.mark.parametrize("text, fragment", [
    ("id: [unclosed\n", "invalid YAML"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("", "must hold a mapping"),
])
def test_not_a_promotion_file(write_promo, text, fragment):
    path = write_promo(text, "bad.yaml")
    with pytest.raises(PromotionError, match=fragment) as exc_info:
        load_promotion(path)
    assert exc_info.value.path == str(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("badge_text: 限时特惠\n".encode("gb18030"))
    with pytest.raises(PromotionError, match="not UTF-8"):
        load_promotion(path)


def test_logo_resolved_relative_to_file(promo_data, write_promo, tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG fake")
    promo_data["brand_kit"]["logo"] = "logo.png"
    promo_data["brand_kit"].pop("logo_placement")
    p = load_promotion(write_promo(promo_data))
    assert p.brand_kit.logo == str(tmp_path / "logo.png")
    assert p.brand_kit.logo_placement == "top_right"  # default once there is a logo


def test_custom_platform_list(promo_data, write_promo):
    promo_data["platforms"] = ["mercadolibre"]
    path = write_promo(promo_data)
    with pytest.raises(PromotionError, match="unknown platform 'mercadolibre'"):
        load_promotion(path)
    assert load_promotion(path, known_platforms=["mercadolibre"]).platforms == ("mercadolibre",)


def test_every_platform_with_an_export_preset_is_known(promo_data, write_promo):
    from skucore.base.platforms import PLATFORM_PRESETS

    promo_data["platforms"] = sorted(PLATFORM_PRESETS)
    assert set(load_promotion(write_promo(promo_data)).platforms) == set(PLATFORM_PRESETS)


def test_roles_per_category(promo_data, write_promo):
    promo_data["scene_roles"]["beauty"] = ["studio", "flatlay"]
    p = load_promotion(write_promo(promo_data))
    assert p.roles_for("beauty") == ["studio", "flatlay"]
    assert p.roles_for("fashion") == ["studio", "lifestyle", "detail"]
    assert p.all_roles() == ["studio", "lifestyle", "detail", "flatlay"]


# ------------------------------------------------------------------------------------------------ discovery
def test_discover_one_bad_file_does_not_hide_good_ones(promo_data, write_promo, tmp_path):
    folder = tmp_path / "promos"
    write_promo(promo_data, "double11.yaml", folder)
    other = copy.deepcopy(promo_data)
    other["id"] = "618"
    write_promo(other, "618.yml", folder)
    bad = copy.deepcopy(promo_data)
    bad["id"] = "broken"
    bad["brand_kit"]["accent"] = "#GGGGGG"
    write_promo(bad, "broken.yaml", folder)
    (folder / "README.md").write_text("not a promotion", encoding="utf-8")
    promos, errors = discover_promotions(folder)
    assert sorted(promos) == ["618", "double11"]
    assert len(errors) == 1
    assert errors[0].path == str(folder / "broken.yaml") and errors[0].field == "brand_kit.accent"


def test_discover_duplicate_ids_are_errors(promo_data, write_promo, tmp_path):
    folder = tmp_path / "promos"
    write_promo(promo_data, "a.yaml", folder)
    write_promo(promo_data, "b.yaml", folder)
    other = copy.deepcopy(promo_data)
    other["id"] = "other"
    write_promo(other, "c.yaml", folder)
    promos, errors = discover_promotions(folder)
    assert list(promos) == ["other"]
    assert sorted(e.path for e in errors) == [str(folder / "a.yaml"), str(folder / "b.yaml")]
    assert all(e.field == "id" and "duplicate id 'double11'" in str(e) for e in errors)


def test_discover_missing_folder(tmp_path):
    promos, errors = discover_promotions(tmp_path / "nope")
    assert promos == {} and len(errors) == 1 and "not found" in str(errors[0])


def test_discover_shipped_folder():
    promos, errors = discover_promotions(Path(__file__).resolve().parents[3] / "promotions")
    assert errors == [] and "double11" in promos


# ------------------------------------------------------------------------------------------------ price rules
@pytest.mark.parametrize("rule, price, expected", [
    (PriceRule("percent_off", 20, 1), 1299.0, 1039.0),        # 1039.2
    (PriceRule("percent_off", 20, 1), 399.5, 320.0),          # 319.6
    (PriceRule("percent_off", 20, 1), 12.5, 10.0),
    (PriceRule("percent_off", 15, 0.01), 19.99, 16.99),       # 16.9915
    (PriceRule("percent_off", 20, 1, rounding="down"), 399.5, 319.0),
    (PriceRule("percent_off", 20, 1, rounding="up"), 1299.0, 1040.0),
    (PriceRule("percent_off", 10, 0.1), 0.35, 0.3),           # 0.315 -> half up at 0.1 = 0.3
    (PriceRule("amount_off", 50, 1), 299.0, 249.0),
    (PriceRule("amount_off", 0.1, 0.01), 0.3, 0.2),           # exact decimal arithmetic, not 0.19999
    (PriceRule("fixed", 99, 1), 299.0, 99.0),
    (PriceRule("none", 0, 0.01), 59.9, 59.9),
    (PriceRule("none", 0, 1), 59.5, 60.0),
])
def test_price_rules(rule, price, expected):
    assert rule.apply(price) == expected


@pytest.mark.parametrize("rule, price", [
    (PriceRule("amount_off", 50, 1), 30.0),    # would go negative
    (PriceRule("percent_off", 99, 1), 0.4),    # rounds to 0
    (PriceRule("percent_off", 20, 1), 0.0),
    (PriceRule("percent_off", 20, 1), -5.0),
    (PriceRule("percent_off", 20, 1), float("nan")),
])
def test_price_rule_refuses_non_positive(rule, price):
    with pytest.raises(ValueError):
        rule.apply(price)


def test_price_rule_decimals():
    assert PriceRule("percent_off", 20, 1).decimals == 0
    assert PriceRule("percent_off", 20, 0.01).decimals == 2
    assert PriceRule("percent_off", 20, 0.1).decimals == 1
