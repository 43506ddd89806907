"""The Great Expectations gates close for the right reasons and report their figures."""
import pyarrow as pa

from skucore.base.expectations import validate_catalog, validate_prompt_table

CATS = ["fashion", "default"]


def _catalog(skus, prices, cats):
    return pa.table({"sku": skus, "price": prices, "category": cats})


def test_clean_catalog_passes_with_figures():
    result = validate_catalog(_catalog(["A", "B"], [10.0, 20.0], ["fashion", "default"]), rejected_rows=0, known_categories=CATS)
    assert result.passed, result.failures
    assert result.figures["rows"] == 2 and result.figures["reject_ratio"] == 0


def test_duplicate_sku_price_out_of_range_and_unknown_category_close_the_gate():
    result = validate_catalog(
        _catalog(["A", "A", "C"], [10.0, 2_000_000.0, 5.0], ["fashion", "fashion", "toys"]),
        rejected_rows=0,
        known_categories=CATS,
    )
    assert not result.passed
    text = " ".join(result.failures)
    assert "unique" in text and "between" in text and "in_set" in text


def test_reject_ratio_over_threshold_closes_the_gate():
    result = validate_catalog(_catalog(["A"], [10.0], ["fashion"]), rejected_rows=3, known_categories=CATS, max_reject_ratio=0.5)
    assert not result.passed
    assert result.figures["reject_ratio"] == 0.75
    assert any("reject ratio" in f for f in result.failures)


def _prompts(rows):
    return pa.table(
        {
            "sku": [r[0] for r in rows],
            "role": [r[1] for r in rows],
            "prompt": [r[2] for r in rows],
            "token_count": [r[3] for r in rows],
        }
    )


def test_prompt_gate_passes_complete_table():
    table = _prompts([("A", "studio", "a red mug", 4), ("A", "detail", "mug detail", 3)])
    assert validate_prompt_table(table, expected_pairs={("A", "studio"), ("A", "detail")}, token_budget=512).passed


def test_prompt_gate_catches_placeholders_budget_and_missing_roles():
    table = _prompts([("A", "studio", "a mug", 4), ("A", "detail", "long", 900)])
    problems = pa.table({"sku": ["B"], "role": ["studio"], "reason": ["template_undefined"]})
    result = validate_prompt_table(
        table, expected_pairs={("A", "studio"), ("A", "detail"), ("B", "studio")}, token_budget=512, problems=problems
    )
    assert not result.passed
    assert result.figures["missing_sku_roles"] == 1
    assert result.figures["unresolved_placeholders"] == 1
    text = " ".join(result.failures)
    assert "unresolved placeholders" in text and "between" in text


def test_catalog_text_with_braces_is_not_mistaken_for_a_placeholder():
    table = _prompts([("A", "studio", "mug {{limited}} edition", 5)])
    assert validate_prompt_table(table, expected_pairs={("A", "studio")}, token_budget=512).passed


def test_empty_prompt_table_fails():
    table = _prompts([])
    assert not validate_prompt_table(table, expected_pairs=set(), token_budget=512).passed
