"""Quality thresholds, grading weights and the review queue: configuration, chosen per environment."""
import os
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from resources.storage import default_home


class GradingSettings(dg.ConfigurableResource):
    """Thresholds and weights for `quality_scores` and `graded_sets` (defaults in skucore.quality/grading)."""

    a_threshold: float = 0.9
    b_threshold: float = 0.6
    max_attempts: int = Field(default=3, description="attempts per image, the first render included")
    weights: dict[str, float] = Field(default_factory=dict, description="per-metric weights overriding the defaults")
    excluded_metrics: list[str] = Field(default_factory=list, description="metrics not computed, reported as excluded")
    quality_thresholds: dict[str, float] = Field(
        default_factory=dict, description="QualityConfig fields to override, e.g. {'sharpness_min': 120}"
    )
    regenerate_on: list[str] = Field(
        default_factory=lambda: ["text", "fidelity"],
        description="failed metrics that send a generated scene back for regeneration (grade C) rather than review",
    )
    near_duplicate_bits: int = 4
    review_db: str = Field(
        default_factory=lambda: review_db_setting(os.path.join(default_home(), "review", "queue.sqlite")),
        description="the review queue (B images and spot checks awaiting a person): a SQLite file path, or a "
        "database URL such as postgresql://user@host/db (every host then shares it)",
    )
    review_regenerated: bool = Field(
        default=True,
        description="an image regenerated after a reviewer rejected its predecessor goes to review even when "
        "it grades A (a person saw a fault the metrics did not)",
    )
    spot_check_share: float = Field(
        default=0.05, ge=0.0, le=1.0, description="share of a promotion's published A images drawn for a spot check, "
        "per template x platform stratum",
    )
    spot_check_min_per_stratum: int = Field(
        default=1, ge=0, description="at least this many A's of every template x platform drawn per spot check"
    )

    def quality_config(self):
        from skucore.quality.score import QualityConfig

        import dataclasses

        known = {f.name for f in dataclasses.fields(QualityConfig)} - {"exclude"}
        unknown = sorted(set(self.quality_thresholds) - known)
        if unknown:
            raise ValueError(f"GradingSettings.quality_thresholds: unknown field(s) {unknown}; known: {sorted(known)}")
        return QualityConfig(exclude=frozenset(self.excluded_metrics), **self.quality_thresholds)

    def grading_config(self):
        from skucore.quality.grading import DEFAULT_WEIGHTS, GradingConfig

        return GradingConfig(
            weights={**DEFAULT_WEIGHTS, **self.weights},
            a_threshold=self.a_threshold,
            b_threshold=self.b_threshold,
            max_attempts=self.max_attempts,
            c_on_generated_fail=frozenset(self.regenerate_on),
        )

    def review_queue(self):
        from skucore.publish.review import ReviewQueue

        return ReviewQueue(self.review_db)


def review_db_setting(default: str) -> str:
    """The review queue's location: $SKUSTUDIO_REVIEW_DB_URL (a database URL, or a path) when set, else `default`."""
    return os.environ.get("SKUSTUDIO_REVIEW_DB_URL") or default


def review_desk_url(promotion: str, sku: str) -> str | None:
    """The SKU's page on the review desk, when its public URL is configured ($SKUSTUDIO_REVIEW_URL), else None:
    the Dagster UI links graded_sets partitions there."""
    base = os.environ.get("SKUSTUDIO_REVIEW_URL", "").strip().rstrip("/")
    if not base:
        return None
    return f"{base}/sku/{quote(promotion, safe='')}/{quote(sku, safe='')}"
