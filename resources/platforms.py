"""Marketplace rules as configuration: the presets in `skucore.base.platforms` are defaults (several numbers are
unconfirmed, see ../shared/reference/platforms.md); a deployment overrides any field per platform here."""
from typing import Any

import dagster as dg
from pydantic import Field


class PlatformSettings(dg.ConfigurableResource):
    """`overrides`: platform id -> {preset field: value}, e.g. {"pinduoduo": {"max_bytes": 800000}}."""

    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def preset(self, platform_id: str):
        from skucore.base.platforms import get_preset, preset_with_overrides

        fields = self.overrides.get(platform_id)
        return preset_with_overrides(platform_id, **fields) if fields else get_preset(platform_id)

    def validate(self) -> None:
        """Every override names a known platform and valid fields (errors name both)."""
        for platform_id in self.overrides:
            self.preset(platform_id)
