"""What the per-SKU step shares across its keys, loaded once per step (not once per SKU).

`PromotionRun` holds one promotion's inputs (the promotion, its templates and prompts, the catalog rows, the
other SKUs' perceptual hashes) and renders and scores its SKUs. `PerSkuStep` holds one `PromotionRun` per
promotion of the step's keys plus what every stage needs (review queue, CDN target, publishing gate). The
Dagster step and the plain loop of the orchestration benchmark both drive the stages through a `PerSkuStep`.
"""
from __future__ import annotations

import json

from skucore import tables as T

from assets.cutouts import catalog_rows_by_sku, load_cutout
from assets.partition_loop import UpstreamMissing, split_key


class PromotionRun:
    """One promotion's inputs for a step, and rendering and scoring of its SKUs."""

    def __init__(self, store, promotions, gpu_pool, scene_generator, promotion_id: str, platforms=None):
        self.store = store
        self.promotion = promotions.get(promotion_id)
        library = promotions.templates()
        self.templates = {t.id: t for t in library.all()}
        self.backdrops = {t.id: (t.backdrop or {}).get("kind") for t in library.all()}
        self.catalog = catalog_rows_by_sku(store)
        self.gpu_pool = gpu_pool
        self.scene_generator = scene_generator
        self.platforms = platforms  # PlatformSettings (configured overrides), or None for the shipped presets
        self.hashes: dict[tuple[str, str], str] = {}  # (sku, image_key) -> perceptual hash, across the promotion
        for key in store.list_keys(T.hashes_prefix(promotion_id)):
            for r in store.read_table(key).to_pylist():
                if r["sku"] in self.catalog:  # delisted SKUs are nobody's duplicate any more
                    self.hashes[(r["sku"], r["image_key"])] = r["hash"]
        self._prompts: dict[str, list[dict]] | None = None

    @property
    def prompts(self) -> dict[str, list[dict]]:
        """The promotion's prompt rows by SKU (read on first use: scoring alone does not need them)."""
        if self._prompts is None:
            key = T.prompts(self.promotion.id)
            if not self.store.exists(key):
                raise UpstreamMissing(f"prompt_table[{self.promotion.id}] has not been materialized")
            self._prompts = {}
            for row in self.store.read_table(key).to_pylist():
                self._prompts.setdefault(row["sku"], []).append(row)
        return self._prompts

    def preset_for(self, platform_id: str):
        from skucore.base.platforms import get_preset

        return self.platforms.preset(platform_id) if self.platforms is not None else get_preset(platform_id)

    def category(self, sku: str) -> str | None:
        row = self.catalog.get(sku)
        return row["category"] if row else None

    def render(self, sku: str, prompt_rows: list[dict] | None = None, attempt: int = 0, partition_key: str = "",
               platforms: list[str] | None = None):
        from skucore.imaging.render import render_sku_images

        row = self.catalog.get(sku)
        if row is None:
            raise KeyError(f"SKU {sku!r} is not in the current catalog (delisted?)")
        cutout, meta = load_cutout(self.store, sku)
        if meta["photo_sha256"] != row["photo_sha256"]:
            raise UpstreamMissing(f"product_cutouts[{sku}] is stale: its photo changed; rerun product_cutouts")
        prompt_rows = prompt_rows if prompt_rows is not None else self.prompts.get(sku, [])
        if not prompt_rows:
            raise UpstreamMissing(f"prompt_table[{self.promotion.id}] has no prompts for SKU {sku!r}")
        for field in ("price", "category"):  # prompts carry the price text and the category's scene roles
            if prompt_rows[0].get(field) is not None and prompt_rows[0].get(field) != row.get(field):
                raise UpstreamMissing(
                    f"prompt_table[{self.promotion.id}] is stale for SKU {sku!r}: its {field} is "
                    f"{prompt_rows[0].get(field)!r}, the catalog's is {row.get(field)!r}; rerun prompt_table"
                )
        kwargs = dict(
            platforms=[self.preset_for(p) if self.platforms is not None else p
                       for p in (platforms or self.promotion.platforms)],
            templates_by_id=self.templates,
            source_sha256=row["photo_sha256"],
            attempt=attempt,
            allow_studio_fallback=self.scene_generator.allow_studio_fallback,
        )
        needs_generator = any(r["backend"] != "studio" for r in prompt_rows)
        if needs_generator and self.scene_generator.enabled:
            with self.gpu_pool.lease(partition_key or sku) as device:
                generator = self.scene_generator.generator_for(device)
                return render_sku_images(cutout, row, prompt_rows, self.promotion, scene_generator=generator, **kwargs)
        return render_sku_images(cutout, row, prompt_rows, self.promotion, scene_generator=None, **kwargs)

    def score(self, gen: dict, quality_config):
        """Metric results for one generated image row (near duplicates aside) and the image's bytes."""
        from skucore.base.types import TextRegion
        from skucore.quality.score import score_image

        data = self.store.get_bytes(gen["image_key"])
        regions = [TextRegion(r["kind"], r["text"], tuple(r["box"])) for r in json.loads(gen["text_regions"] or "[]")]
        results = score_image(
            data,
            preset=self.preset_for(gen["platform"]),
            slot=gen["slot"],
            product_box=tuple(gen["product_box"]),
            text_regions=regions,
            fidelity=json.loads(gen["fidelity"] or "{}"),
            brand_colours=self.promotion.brand_kit.colours,
            backdrop_kind=self.backdrops.get(gen["template_id"]),
            category=self.category(gen["sku"]),
            config=quality_config,
        )
        from skucore.quality.tone import tone_consistency_for  # background tone vs the promotion's (issue 13)

        results = [*results, tone_consistency_for(data, gen, template=self.templates.get(gen["template_id"]),
                                                  promotion=self.promotion, preset=self.preset_for(gen["platform"]),
                                                  category=self.category(gen["sku"]))]
        return data, results


class PerSkuStep:
    """One run of the per-SKU step: a `PromotionRun` per promotion of its keys, the review queue, the CDN
    target and the publishing gate. A promotion that cannot be loaded fails each of its keys with the reason."""

    def __init__(self, *, store, promotions, grading, gpu_pool, scene_generator, cdn, platforms, keys: list[str],
                 publish: bool, log=None):
        from assets.publish import PublishGate

        self.store = store
        self.grading = grading
        self.log = log
        self.queue = grading.review_queue()
        self.target = cdn.target() if publish else None
        self.gate = PublishGate(grading.grading_config().never_a)
        self.runs: dict[str, PromotionRun | Exception] = {}
        for key in keys:
            promotion_id, _ = split_key(key)
            if promotion_id not in self.runs:
                try:
                    self.runs[promotion_id] = PromotionRun(store, promotions, gpu_pool, scene_generator, promotion_id,
                                                           platforms)
                except Exception as exc:  # e.g. the promotion file broke: reported for each of its keys
                    self.runs[promotion_id] = exc

    def run_for(self, promotion_id: str) -> PromotionRun:
        run = self.runs[promotion_id]
        if isinstance(run, Exception):
            raise run
        return run
