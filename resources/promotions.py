"""Promotions (promotions/*.yaml) and the scene-template library they draw on."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field


def _default_promotions_dir() -> str:
    if os.environ.get("SKUSTUDIO_PROMOTIONS"):
        return os.environ["SKUSTUDIO_PROMOTIONS"]
    return str(Path(__file__).resolve().parents[1] / "promotions")


class PromotionLibrary(dg.ConfigurableResource):
    folder: str = Field(default_factory=_default_promotions_dir, description="folder of promotion YAML files")
    template_library: str | None = Field(default=None, description="a scene-template library YAML of your own")
    token_budget: int = Field(default=512, description="text-encoder token budget per prompt")

    def discover(self):
        from skucore.prompting.promotions import discover_promotions

        return discover_promotions(self.folder)

    def get(self, promotion_id: str):
        promotions, errors = self.discover()
        if promotion_id not in promotions:
            detail = "; ".join(str(e) for e in errors)
            raise KeyError(
                f"promotion {promotion_id!r} not found in {self.folder}"
                + (f" (files with errors: {detail})" if detail else "")
            )
        return promotions[promotion_id]

    def templates(self):
        from skucore.prompting.templates import load_template_library

        return load_template_library(self.template_library)
