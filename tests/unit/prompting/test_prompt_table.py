"""The prompt table: rows per SKU x role, sandboxing, strict undefined, token budget, seeds, hashes, adjust_prompt."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
import yaml

from skucore.prompting.prompts import (
    PROMPT_PROBLEMS_SCHEMA,
    PROMPT_ADJUSTMENTS,
    PROMPT_TABLE_SCHEMA,
    adjust_prompt,
    build_prompt_table,
    estimate_tokens,
    prompt_hash,
    seed_for,
)
from skucore.prompting.templates import load_template_library


def one_template_library(tmp_path, prompt: str, *, role="studio", extra: dict | None = None):
    """A user library whose default/<role> (and default/studio) template renders `prompt`."""
    tmpl = {"backdrop": {"kind": "white"}, "prompt": prompt, "negative_prompt": "blurry"}
    cats = {"default": {"studio": dict(tmpl)}}
    if role != "studio":
        cats["default"][role] = dict(tmpl, backdrop={"kind": "brand"}, overlays=["price", "badge"])
    if extra:
        cats.update(extra)
    path = tmp_path / "lib.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "categories": cats}, allow_unicode=True), encoding="utf-8")
    return load_template_library(path)


# ------------------------------------------------------------------------------------------------ the table
def test_every_sku_gets_every_role(catalog, double11):
    build = build_prompt_table(catalog, double11)
    t = build.table
    assert t.schema == PROMPT_TABLE_SCHEMA
    assert build.problems.schema == PROMPT_PROBLEMS_SCHEMA
    assert build.problems.num_rows == 0, build.problems.to_pylist()
    pairs = list(zip(t.column("sku").to_pylist(), t.column("role").to_pylist()))
    expected = [(s, r) for s in catalog.column("sku").to_pylist() for r in ("studio", "lifestyle", "detail")]
    assert pairs == expected
    assert set(t.column("promotion").to_pylist()) == {"double11"}
    assert t.column("attempt").to_pylist() == [0] * len(expected)
    assert t.column("main").to_pylist() == [r == "studio" for _, r in expected]


def test_rows_carry_templates_prices_and_hashes(catalog, double11):
    rows = {(r["sku"], r["role"]): r for r in build_prompt_table(catalog, double11).table.to_pylist()}
    el = rows[("EL-001", "detail")]
    assert el["template_id"] == "electronics/detail" and el["fallback"] is None
    assert el["overlays"] == ["price", "badge", "selling_points"]
    assert el["price"] == 1299.0 and el["promo_price"] == 1039.0 and el["currency"] == "CNY"
    assert el["price_text"] == "¥1,299" and el["promo_price_text"] == "¥1,039"
    assert el["badge_text"] == "限时特惠"
    assert "蓝牙降噪耳机 Pro" in el["prompt"] and "主动降噪" in el["prompt"]
    assert "#E4393C" in json.loads(el["backdrop"])["colours"]  # brand.primary resolved
    assert el["prompt_hash"] == prompt_hash(el["prompt"], el["negative_prompt"], el["template_id"], el["seed"])
    assert el["seed"] == seed_for("double11", "EL-001", "detail", 0, double11.seed_base)
    studio = rows[("FA-002", "studio")]
    assert studio["template_id"] == "fashion/studio" and studio["overlays"] == []
    assert json.loads(studio["backdrop"]) == {"kind": "white"}
    assert "navy" in studio["prompt"] and "silk" in studio["prompt"]
    # prompts are one clean line: no template syntax, newlines or doubled spaces left
    for r in rows.values():
        assert "{" not in r["prompt"] and "\n" not in r["prompt"] and "  " not in r["prompt"]
        assert 0 < r["token_count"] <= 512 and r["over_budget"] is False


def test_unknown_category_uses_default_templates(catalog, double11):
    rows = [r for r in build_prompt_table(catalog, double11).table.to_pylist() if r["sku"] == "XX-005"]
    assert [r["template_id"] for r in rows] == ["default/studio", "default/lifestyle", "default/detail"]
    assert [r["fallback"] for r in rows] == ["garden/studio", "garden/lifestyle", "garden/detail"]


def test_missing_role_is_marked_not_fatal(catalog, double11, promo_data, write_promo):
    from skucore.prompting.promotions import load_promotion
    promo_data["scene_roles"]["electronics"] = ["studio", "flatlay", "banner"]
    promo = load_promotion(write_promo(promo_data))
    build = build_prompt_table(catalog, promo)
    rows = {(r["sku"], r["role"]): r for r in build.table.to_pylist()}
    assert rows[("EL-001", "flatlay")]["template_id"] == "default/studio"
    assert rows[("EL-001", "flatlay")]["fallback"] == "electronics/flatlay"
    assert rows[("EL-001", "banner")]["template_id"] == "electronics/banner"
    assert rows[("EL-001", "banner")]["fallback"] is None
    assert build.problems.num_rows == 0


def test_deterministic(catalog, double11):
    a = build_prompt_table(catalog, double11).table
    b = build_prompt_table(catalog, double11).table
    assert a.equals(b)


def test_attempt_changes_seed_and_hash(catalog, double11):
    a = build_prompt_table(catalog, double11).table
    b = build_prompt_table(catalog, double11, attempt=2).table
    assert b.column("attempt").to_pylist() == [2] * a.num_rows
    assert a.column("prompt").to_pylist() == b.column("prompt").to_pylist()
    assert not set(a.column("seed").to_pylist()) & set(b.column("seed").to_pylist())
    assert not set(a.column("prompt_hash").to_pylist()) & set(b.column("prompt_hash").to_pylist())


def test_duplicate_and_unsafe_skus_become_problems(double11, make_catalog):
    cat = make_catalog([
        {"sku": "A-1", "name": "One", "category": "fashion", "price": 10.0, "currency": "CNY"},
        {"sku": "A-1", "name": "One again", "category": "fashion", "price": 10.0, "currency": "CNY"},
        {"sku": "../x", "name": "Evil", "category": "fashion", "price": 10.0, "currency": "CNY"},
    ])
    build = build_prompt_table(cat, double11)
    assert set(build.table.column("sku").to_pylist()) == {"A-1"}
    assert build.table.num_rows == 3
    assert sorted(p["reason"] for p in build.problems.to_pylist()) == ["duplicate_sku", "sku_unsafe"]


def test_price_problems_only_block_price_overlays(double11, make_catalog):
    cat = make_catalog([
        {"sku": "NP-1", "name": "No price", "category": "fashion", "price": None, "currency": "CNY"},
    ])
    build = build_prompt_table(cat, double11)
    assert build.table.column("role").to_pylist() == ["studio", "lifestyle"]
    [p] = build.problems.to_pylist()
    assert (p["sku"], p["role"], p["reason"]) == ("NP-1", "detail", "price_missing")


def test_amount_off_refuses_other_currency(promo_data, write_promo, make_catalog):
    from skucore.prompting.promotions import load_promotion
    promo_data["price_rule"] = {"kind": "amount_off", "value": 20, "round_to": 1, "currency": "CNY"}
    promo = load_promotion(write_promo(promo_data))
    cat = make_catalog([
        {"sku": "US-1", "name": "Mug", "category": "home_decor", "price": 25.0, "currency": "USD"},
        {"sku": "CN-1", "name": "Mug", "category": "home_decor", "price": 25.0, "currency": "CNY"},
        {"sku": "CN-2", "name": "Pin", "category": "home_decor", "price": 15.0, "currency": "CNY"},
    ])
    build = build_prompt_table(cat, promo)
    reasons = {(p["sku"], p["reason"]) for p in build.problems.to_pylist()}
    assert reasons == {("US-1", "currency_mismatch"), ("CN-2", "promo_price_invalid")}
    cn = [r for r in build.table.to_pylist() if r["sku"] == "CN-1"]
    assert [r["promo_price"] for r in cn] == [5.0, 5.0, 5.0] and cn[0]["promo_price_text"] == "¥5"


def test_catalog_without_sku_column_is_a_programming_error(double11):
    with pytest.raises(ValueError, match="'sku'"):
        build_prompt_table(pa.table({"name": ["x"], "category": ["fashion"]}), double11)


# ------------------------------------------------------------------------------------------------ sandbox
def test_catalog_text_is_never_evaluated(double11, make_catalog):
    cat = make_catalog([
        {"sku": "INJ-1", "name": "{{ 7*7 }} Dress {% for x in range(3) %}x{% endfor %}", "category": "fashion",
         "color": "{{ ''.__class__.__mro__ }}", "material": "silk", "price": 100.0, "currency": "CNY",
         "selling_points": ["{{ config }}"]},
    ])
    build = build_prompt_table(cat, double11)
    assert build.problems.num_rows == 0
    for r in build.table.to_pylist():
        assert "{{ 7*7 }} Dress {% for x in range(3) %}x{% endfor %}" in r["prompt"]
        assert "49" not in r["prompt"]
    studio = build.table.to_pylist()[0]
    assert "{{ ''.__class__.__mro__ }}" in studio["prompt"]


@pytest.mark.parametrize("source", [
    "{{ name.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ name | attr('__class__') }}",
    "{{ promotion['__class__'] }}",
    "{% if name.__class__ %}x{% endif %}",
    "{{ promotion.update({'title': 'x'}) }}",  # mutating context data is refused too (immutable sandbox)
    "{{ 'x' * 100000000 }}",              # memory blow-up refused
])
def test_template_reaching_internals_is_unsafe(tmp_path, double11, catalog, source):
    lib = one_template_library(tmp_path, "{{ name }} " + source)
    build = build_prompt_table(catalog, double11, library=lib)
    assert build.table.num_rows == 0
    problems = build.problems.to_pylist()
    assert len(problems) == catalog.num_rows * 3
    assert {p["reason"] for p in problems} == {"template_unsafe"}, problems[:2]


def test_strict_undefined_is_reported_per_row(tmp_path, double11, make_catalog):
    lib = one_template_library(tmp_path, "{{ name }}, {{ color }}, {{ material | default('any material') }}")
    cat = make_catalog([
        {"sku": "C-1", "name": "Red cup", "category": "home_decor", "color": "red", "price": 9.0},
        {"sku": "C-2", "name": "Cup", "category": "home_decor", "color": None, "price": 9.0},
        {"sku": "C-3", "name": "Blank colour", "category": "home_decor", "color": "   ", "price": 9.0},
    ])
    build = build_prompt_table(cat, double11, library=lib)
    assert build.table.column("sku").to_pylist() == ["C-1"] * 3
    assert build.table.column("prompt").to_pylist()[0] == "Red cup, red, any material"
    problems = build.problems.to_pylist()
    assert {(p["sku"], p["role"]) for p in problems} == {(s, r) for s in ("C-2", "C-3")
                                                         for r in ("studio", "lifestyle", "detail")}
    assert {p["reason"] for p in problems} == {"template_undefined"}
    assert all("'color' is undefined" in p["message"] and p["promotion"] == "double11" for p in problems)


def test_other_template_errors_are_rows_not_exceptions(tmp_path, double11, catalog):
    lib = one_template_library(tmp_path, "{{ name + 1 }}")
    build = build_prompt_table(catalog, double11, library=lib)
    assert build.table.num_rows == 0
    assert {p["reason"] for p in build.problems.to_pylist()} == {"template_error"}


# ------------------------------------------------------------------------------------------------ tokens
def test_over_budget_is_reported_not_cut(double11, catalog):
    full = build_prompt_table(catalog, double11)
    small = build_prompt_table(catalog, double11, token_budget=60)
    assert small.table.column("prompt").to_pylist() == full.table.column("prompt").to_pylist()  # not cut
    rows = small.table.to_pylist()
    long_prompts = {(r["sku"], r["role"]) for r in rows if r["token_count"] > 60}
    assert long_prompts and len(long_prompts) < len(rows)  # the fixture has prompts on both sides of 60
    for r in rows:
        assert r["over_budget"] == (r["token_count"] > 60 or r["negative_token_count"] > 60)
        assert r["token_budget"] == 60
    problems = [p for p in small.problems.to_pylist() if p["reason"] == "prompt_over_budget"]
    prompt_problems = [p for p in problems if "negative prompt" not in p["message"]]
    assert {(p["sku"], p["role"]) for p in prompt_problems} == long_prompts
    r0 = next(r for r in rows if (r["sku"], r["role"]) in long_prompts)
    assert any(p["sku"] == r0["sku"] and f"prompt is {r0['token_count']} tokens, budget 60" in p["message"]
               for p in prompt_problems)
    assert all(r["over_budget"] is False for r in full.table.to_pylist())


def test_custom_token_counter_is_used(double11, catalog):
    build = build_prompt_table(catalog, double11, count_tokens=lambda s: 1000, token_budget=512)
    assert set(build.table.column("token_count").to_pylist()) == {1000}
    assert all(build.table.column("over_budget").to_pylist())
    assert build.problems.num_rows == build.table.num_rows * 2  # prompt and negative prompt both over


@pytest.mark.parametrize("text, at_least", [
    ("", 0),
    ("限时特惠", 4),
    ("hello world", 4),        # ceil(5/3) * 2
    ("1299", 4),               # digits one by one
    ("a, b.", 4),
    ("café", 3),               # "caf" + é (2 UTF-8 bytes)
    ("🎧", 4),                 # emoji: its UTF-8 bytes
])
def test_estimate_tokens(text, at_least):
    assert estimate_tokens(text) == at_least


def test_estimate_is_conservative_for_long_words():
    # never fewer than a quarter of the characters for plain English (real BPE: about 4 chars per token)
    text = "professional product photograph of an ergonomic aluminium laptop stand on a walnut desk"
    assert estimate_tokens(text) >= len(text.replace(" ", "")) / 4


# ------------------------------------------------------------------------------------------------ seeds
def test_seed_is_deterministic_63_bit_and_distinct():
    s = seed_for("double11", "SKU-1", "studio", 0, 42)
    assert s == seed_for("double11", "SKU-1", "studio", 0, 42)
    assert 0 <= s < 2**63
    seeds = {seed_for(p, sku, role, attempt, base)
             for p in ("double11", "618") for sku in ("SKU-1", "SKU-2", "SKU-10")
             for role in ("studio", "lifestyle", "detail") for attempt in (0, 1, 2) for base in (0, 42)}
    assert len(seeds) == 2 * 3 * 3 * 3 * 2


def test_seed_is_not_ambiguous_across_field_boundaries():
    assert seed_for("a", "bc", "studio", 0, 0) != seed_for("ab", "c", "studio", 0, 0)


def test_seed_known_value():
    # pinned: a change here changes every image of every promotion
    import hashlib
    payload = '["double11","SKU-1","studio",0,20251111]'.encode()
    expected = int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") & (2**63 - 1)
    assert seed_for("double11", "SKU-1", "studio", 0, 20251111) == expected


@pytest.mark.parametrize("attempt, base", [(-1, 0), (0, -1), (1.5, 0), (True, 0)])
def test_seed_rejects_bad_numbers(attempt, base):
    with pytest.raises(ValueError):
        seed_for("p", "s", "r", attempt, base)


def test_prompt_hash_covers_each_part():
    h = prompt_hash("p", "n", "t", 1)
    assert len({h, prompt_hash("p2", "n", "t", 1), prompt_hash("p", "n2", "t", 1), prompt_hash("p", "n", "t2", 1),
                prompt_hash("p", "n", "t", 2), prompt_hash("pn", "", "t", 1)}) == 6


# ------------------------------------------------------------------------------------------------ adjust_prompt
def _row(catalog, double11, sku="EL-001", role="lifestyle"):
    rows = build_prompt_table(catalog, double11).table.to_pylist()
    return next(r for r in rows if r["sku"] == sku and r["role"] == role)


def test_adjust_prompt_for_failed_metrics(catalog, double11):
    row = _row(catalog, double11)
    original = dict(row)
    new = adjust_prompt(row, ["sharpness", "background_white"], 1)
    assert row == original  # input untouched
    assert new["attempt"] == 1
    assert new["seed"] == seed_for("double11", "EL-001", "lifestyle", 1, double11.seed_base) != row["seed"]
    assert new["prompt"].startswith(row["prompt"])
    assert "tack-sharp focus, high detail" in new["prompt"]
    assert "seamless pure white background" in new["prompt"]
    assert "out of focus" in new["negative_prompt"]
    assert new["adjustments"] == ["sharpness", "background_white"]
    assert new["prompt_hash"] == prompt_hash(new["prompt"], new["negative_prompt"], new["template_id"], new["seed"])
    assert new["prompt_hash"] != row["prompt_hash"]
    assert new["token_count"] == estimate_tokens(new["prompt"]) > row["token_count"]
    # the adjusted row still fits the table schema
    assert pa.Table.from_pylist([new], schema=PROMPT_TABLE_SCHEMA).num_rows == 1


@pytest.mark.parametrize("metric", sorted(PROMPT_ADJUSTMENTS))
def test_every_adjustment_changes_the_prompt_or_negative(catalog, double11, metric):
    row = _row(catalog, double11)
    new = adjust_prompt(row, [metric], 1)
    assert (new["prompt"], new["negative_prompt"]) != (row["prompt"], row["negative_prompt"])


def test_adjust_brand_colour_and_exposure(catalog, double11):
    row = _row(catalog, double11)
    new = adjust_prompt(row, ["exposure", "brand_colour"], 1)
    assert "balanced exposure, soft even light" in new["prompt"]
    assert "red (#E4393C)" in new["prompt"]
    assert "{brand_colours}" not in new["prompt"]


def test_adjust_is_idempotent_across_attempts(catalog, double11):
    row = _row(catalog, double11)
    a1 = adjust_prompt(row, ["sharpness"], 1)
    a2 = adjust_prompt(a1, ["sharpness", "near_duplicate"], 2)
    assert a2["prompt"].count("tack-sharp focus") == 1
    assert "varied composition" in a2["prompt"]
    assert a2["adjustments"] == ["sharpness", "near_duplicate"]
    assert len({row["seed"], a1["seed"], a2["seed"]}) == 3


def test_adjust_unknown_metric_changes_only_seed(catalog, double11):
    row = _row(catalog, double11)
    new = adjust_prompt(row, ["no_such_metric"], 1)
    assert new["prompt"] == row["prompt"] and new["negative_prompt"] == row["negative_prompt"]
    assert new["seed"] != row["seed"] and new["adjustments"] == []


@pytest.mark.parametrize("attempt", [0, -1, 1.0])
def test_adjust_needs_a_later_attempt(catalog, double11, attempt):
    row = _row(catalog, double11)
    with pytest.raises(ValueError):
        adjust_prompt(row, ["sharpness"], attempt)
    with pytest.raises(ValueError):
        adjust_prompt(adjust_prompt(row, [], 2), ["sharpness"], 2)
