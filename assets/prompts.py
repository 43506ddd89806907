"""`prompt_table[promotion]`: one row per SKU x scene role, rendered for a whole promotion at once (cheap)."""

import collections

import dagster as dg

from skucore import tables as T
from assets.metadata import md_table
from assets.partitions import promotions_partitions
from resources.promotions import PromotionLibrary
from resources.storage import StudioStore


@dg.asset(
    partitions_def=promotions_partitions,
    deps=["catalog_partitions"],
    group_name="prompts",
    description="Prompts, seeds and templates for every SKU x scene role of a promotion.",
)
def prompt_table(context: dg.AssetExecutionContext, store: StudioStore, promotions: PromotionLibrary) -> dg.MaterializeResult:
    from skucore.prompting.prompts import build_prompt_table

    promotion = promotions.get(context.partition_key)
    catalog = store.read_table(T.CATALOG)
    built = build_prompt_table(
        catalog, promotion, library=promotions.templates(), token_budget=promotions.token_budget
    )
    store.write_table(T.prompts(promotion.id), built.table)
    store.write_table(T.prompt_problems(promotion.id), built.problems)
    for problem in built.problems.to_pylist()[:50]:
        context.log.warning(f"prompt problem {problem}")
    roles = collections.Counter(built.table.column("role").to_pylist()) if built.table.num_rows else {}
    backends = collections.Counter(built.table.column("backend").to_pylist()) if built.table.num_rows else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": built.table.num_rows,
            "problems": built.problems.num_rows,
            "roles": dg.MetadataValue.json(dict(roles)),
            "backends": dg.MetadataValue.json(dict(backends)),
            "max_token_count": max(built.table.column("token_count").to_pylist() or [0]),
            "preview": dg.MetadataValue.md(md_table(built.table.to_pylist(), ["sku", "role", "template_id", "seed", "prompt"])),
            "problem_rows": dg.MetadataValue.md(md_table(built.problems.to_pylist(), ["sku", "role", "reason", "message"])),
        }
    )


@dg.asset_check(asset=prompt_table, blocking=True, partitions_def=promotions_partitions, description="Great Expectations gate on a promotion's prompts.")
def prompt_gate(context: dg.AssetCheckExecutionContext, store: StudioStore, promotions: PromotionLibrary) -> dg.AssetCheckResult:
    from skucore.base.expectations import validate_prompt_table

    promotion = promotions.get(context.partition_key) if context.has_partition_key else None
    if promotion is None:
        raise dg.Failure("prompt_gate runs per promotion partition")
    table = store.read_table(T.prompts(promotion.id))
    problems = store.read_table(T.prompt_problems(promotion.id))
    catalog = store.read_table(T.CATALOG)
    expected = {
        (sku, role)
        for sku, category in zip(catalog.column("sku").to_pylist(), catalog.column("category").to_pylist())
        for role in promotion.roles_for(category)
    }
    result = validate_prompt_table(table, expected_pairs=expected, token_budget=promotions.token_budget, problems=problems)
    return dg.AssetCheckResult(passed=result.passed, metadata={**result.figures, "summary": result.describe()}, description=result.describe())
