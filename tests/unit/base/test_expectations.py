"""The Great Expectations gates close for the right reasons and report their figures."""
import pyarrow as pa

from skucore.base.expectations import rejected_row_count, validate_catalog, validate_prompt_table
from skucore.tables import REJECTS_SCHEMA

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


def _rejects(rows_and_reasons):
    return pa.Table.from_pylist([{"source_row": r, "sku": f"S-{r}", "reason": reason, "field": "x", "value": None,
                                  "message": ""} for r, reason in rows_and_reasons], schema=REJECTS_SCHEMA)


def test_gate_counts_rejected_rows_not_reasons():
    # 17 good rows and 3 bad ones, each bad row with three problems: 15% rejected, under the 20% limit. Counting
    # the nine reject reasons instead gave 9 / 26 = 34.6% and closed the gate.
    rejects = _rejects([(row, reason) for row in (5, 9, 14)
                        for reason in ("unparsable_price", "photo_missing", "unsafe_sku")])
    assert rejects.num_rows == 9 and rejected_row_count(rejects) == 3
    good = _catalog([f"G-{i}" for i in range(17)], [10.0] * 17, ["fashion"] * 17)
    result = validate_catalog(good, rejected_rows=rejected_row_count(rejects), known_categories=CATS)
    assert result.passed, result.failures
    assert result.figures["reject_ratio"] == 0.15 and result.figures["rows_in"] == 20
    assert result.describe().startswith("passed: 3 of 20 rows rejected (15.0%), within the limit 20.0%")
    # One more bad row: 4 of 21 = 19%, still under; 5 of 22 = 22.7%, over, and the message says so.
    five = _rejects([(row, "photo_missing") for row in range(5)])
    closed = validate_catalog(good, rejected_rows=rejected_row_count(five), known_categories=CATS)
    assert not closed.passed
    assert "reject ratio 22.7% is over the limit 20.0%: 5 of 22 rows rejected" in closed.describe()


def test_empty_rejects_count_zero():
    assert rejected_row_count(_rejects([])) == 0


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
