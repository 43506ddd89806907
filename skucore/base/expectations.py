"""Table expectations for the blocking gates, on Great Expectations 1.x (called directly: the dagster-ge
integration does not support GX 1.x). GX is imported lazily: it takes seconds to import, and the code location
must load fast.

Each function returns a `GateResult`: passed, and the figures that explain it (the Dagster check puts them in
its metadata, so the UI shows why a gate closed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa


@dataclass
class GateResult:
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    why: str = ""  # why it passed (the failures say why it closed)

    def describe(self) -> str:
        if self.passed:
            return f"passed: {self.why}" if self.why else "passed"
        return "; ".join(self.failures)


def rejected_row_count(rejects: pa.Table) -> int:
    """Rejected rows in a catalog_rejects table, which has one row per problem: a row with a bad price and a
    missing photo is one rejected row, not two. Rows are told apart by `source_row`."""
    if rejects.num_rows == 0:
        return 0
    rows = rejects.column("source_row").to_pylist()
    return len({r for r in rows if r is not None}) + sum(1 for r in rows if r is None)


_CONTEXT = None


def _gx_context():
    """One ephemeral GX context per process (creating one costs ~100 ms)."""
    global _CONTEXT
    if _CONTEXT is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx

        ctx = gx.get_context(mode="ephemeral")
        try:  # progress bars would flood the Dagster logs
            ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
        except Exception:
            pass
        _CONTEXT = ctx
    return _CONTEXT


def _validate(df, name: str, expectations: list) -> list[dict]:
    import great_expectations as gx

    ctx = _gx_context()
    source_name = f"skustudio_{name}"
    try:
        ds = ctx.data_sources.get(source_name)
    except Exception:
        ds = ctx.data_sources.add_pandas(source_name)
    try:
        asset = ds.get_asset(name)
    except Exception:
        asset = ds.add_dataframe_asset(name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except Exception:
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for exp in expectations:
        suite.add_expectation(exp)
    result = batch.validate(suite)
    rows = []
    for r in result.results:
        res = r.result or {}
        rows.append(
            {
                "expectation": r.expectation_config.type,
                "column": r.expectation_config.kwargs.get("column"),
                "success": bool(r.success),
                "unexpected_count": int(res.get("unexpected_count") or 0),
                "examples": [str(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
            }
        )
    return rows


def validate_catalog(
    table: pa.Table,
    *,
    rejected_rows: int,
    known_categories: Iterable[str],
    price_min: float = 0.01,
    price_max: float = 1_000_000.0,
    max_reject_ratio: float = 0.2,
) -> GateResult:
    """The catalog gate: sku unique and non-null, prices in range, categories known, reject ratio bounded.

    `rejected_rows` counts rejected rows (see `rejected_row_count`), not reject reasons: the ratio is rejected rows
    over all rows read, so 3 bad rows of 20 are 15% however many problems each has."""
    import great_expectations as gx

    total = table.num_rows + rejected_rows
    reject_ratio = rejected_rows / total if total else 0.0
    figures: dict[str, Any] = {
        "rows_in": total,
        "rows": table.num_rows,
        "rejected_rows": rejected_rows,
        "reject_ratio": round(reject_ratio, 4),
        "max_reject_ratio": max_reject_ratio,
    }
    failures: list[str] = []
    if table.num_rows == 0:
        failures.append("catalog has no valid rows")
    else:
        df = table.select(["sku", "price", "category"]).to_pandas()
        rows = _validate(
            df,
            "catalog_table",
            [
                gx.expectations.ExpectColumnValuesToNotBeNull(column="sku"),
                gx.expectations.ExpectColumnValuesToBeUnique(column="sku"),
                gx.expectations.ExpectColumnValuesToBeBetween(column="price", min_value=price_min, max_value=price_max),
                gx.expectations.ExpectColumnValuesToBeInSet(column="category", value_set=sorted(set(known_categories))),
            ],
        )
        for row in rows:
            label = f"{row['expectation']}({row['column']})"
            figures[label] = row["unexpected_count"]
            if not row["success"]:
                failures.append(f"{label}: {row['unexpected_count']} unexpected, e.g. {row['examples']}")
    share = f"{rejected_rows} of {total} rows rejected ({reject_ratio:.1%})"
    if reject_ratio > max_reject_ratio:
        failures.append(f"reject ratio {reject_ratio:.1%} is over the limit {max_reject_ratio:.1%}: {share}")
    why = (f"{share}, within the limit {max_reject_ratio:.1%}; SKUs unique, prices between {price_min:,g} and "
           f"{price_max:,.0f}, categories known")
    return GateResult(passed=not failures, figures=figures, failures=failures, why=why)


def validate_prompt_table(
    table: pa.Table,
    *,
    expected_pairs: set[tuple[str, str]],
    token_budget: int,
    problems: pa.Table | None = None,
) -> GateResult:
    """The prompt gate: non-empty, no unresolved placeholders, within the token budget, every SKU has every role.

    Placeholders are rendered with StrictUndefined, so an unresolved one is a `template_undefined` problem row
    rather than text left in a prompt (searching prompts for "{{" would wrongly flag catalog text with braces).
    """
    import great_expectations as gx

    problem_reasons: dict[str, int] = {}
    if problems is not None and problems.num_rows:
        for reason in problems.column("reason").to_pylist():
            problem_reasons[reason] = problem_reasons.get(reason, 0) + 1
    unresolved = problem_reasons.get("template_undefined", 0)
    figures: dict[str, Any] = {
        "rows": table.num_rows,
        "problems": sum(problem_reasons.values()),
        "problem_reasons": problem_reasons,
        "unresolved_placeholders": unresolved,
        "token_budget": token_budget,
    }
    failures: list[str] = []
    if unresolved:
        failures.append(f"{unresolved} SKU x role prompts have unresolved placeholders (template_undefined)")
    unsafe = problem_reasons.get("template_unsafe", 0)
    if unsafe:
        failures.append(f"{unsafe} prompts failed the template sandbox (template_unsafe)")
    if table.num_rows == 0:
        failures.append("prompt table is empty")
    else:
        df = table.select(["sku", "role", "prompt", "token_count"]).to_pandas()
        rows = _validate(
            df,
            "prompt_table",
            [
                gx.expectations.ExpectColumnValuesToNotBeNull(column="prompt"),
                gx.expectations.ExpectColumnValueLengthsToBeBetween(column="prompt", min_value=1),
                gx.expectations.ExpectColumnValuesToBeBetween(column="token_count", min_value=1, max_value=token_budget),
            ],
        )
        for row in rows:
            label = f"{row['expectation']}({row['column']})"
            figures[label] = row["unexpected_count"]
            if not row["success"]:
                failures.append(f"{label}: {row['unexpected_count']} unexpected, e.g. {row['examples']}")
    have = set(zip(table.column("sku").to_pylist(), table.column("role").to_pylist())) if table.num_rows else set()
    missing = sorted(expected_pairs - have)
    figures["missing_sku_roles"] = len(missing)
    if missing:
        failures.append(f"{len(missing)} SKU x role pairs have no prompt, e.g. {missing[:5]}")
    return GateResult(passed=not failures, figures=figures, failures=failures)
