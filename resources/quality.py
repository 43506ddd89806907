"""Quality thresholds, grading weights and the review queue: configuration, chosen per environment."""
import os

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
        default_factory=lambda: os.path.join(default_home(), "review", "queue.sqlite"),
        description="SQLite file of the review queue (B images awaiting a person)",
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

        os.makedirs(os.path.dirname(os.path.abspath(self.review_db)), exist_ok=True)
        return ReviewQueue(self.review_db)
