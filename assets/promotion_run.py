"""What the per-SKU step shares across its keys, loaded once per step (not once per SKU).

`PromotionRun` holds one promotion's inputs (the promotion, its templates and prompts, the catalog rows, the
other SKUs' perceptual hashes) and renders and scores its SKUs. `PerSkuStep` holds one `PromotionRun` per
promotion of the step's keys plus what every stage needs (review queue, CDN target, publishing gate). The
Dagster step, the worker processes of its pool (`assets.step_pool`) and the plain loop of the orchestration
benchmark all drive the stages through a `PerSkuStep`.

Two things a worker process cannot own alone are passed in: where generated scenes are made (`generate`: in
this process through the GPU pool's lease by default, or the pool's device workers) and the promotion's
near-duplicate hashes (`duplicates`: a `PromotionHashes` loaded from the store by default, or the pool parent's).
"""
from __future__ import annotations

import json

from skucore import tables as T

from assets.cutouts import catalog_rows_by_sku, load_cutout
from assets.partition_loop import UpstreamMissing, split_key


class SceneGenerationFailed(RuntimeError):
    """The generator (or the device worker running it) failed on a SKU's scenes: the studio fallback policy
    applies (`SceneGeneratorResource.allow_studio_fallback`), as for any generator error."""


def stored_hashes(store, promotion_id: str, catalog: dict) -> dict[tuple[str, str], str]:
    """(sku, image_key) -> perceptual hash of the promotion's images as stored, for SKUs still in `catalog`
    (delisted SKUs are nobody's duplicate any more)."""
    hashes = {}
    for key in store.list_keys(T.hashes_prefix(promotion_id)):
        for r in store.read_table(key).to_pylist():
            if r["sku"] in catalog:
                hashes[(r["sku"], r["image_key"])] = r["hash"]
    return hashes


def generate_here(gpu_pool, scene_generator):
    """Generation in this process: hold a slot of the GPU pool for the one `generate` call (the CPU work before
    and after it runs without holding the device). Returns generate(requests, key) -> (images, backend, model)."""

    from skucore.imaging.render import generate_outcomes

    def generate(requests, key: str):
        with gpu_pool.lease(key) as device:
            generator = scene_generator.generator_for(device)
            try:
                images = generate_outcomes(generator, requests)
            except Exception as exc:  # noqa: BLE001 - the renderer applies the fallback policy
                raise SceneGenerationFailed(f"{type(exc).__name__}: {exc}") from exc
        return images, getattr(generator, "backend_name", None), getattr(generator, "model_id", None)

    return generate


class PromotionRun:
    """One promotion's inputs for a step, and rendering and scoring of its SKUs."""

    def __init__(self, store, promotions, gpu_pool, scene_generator, promotion_id: str, platforms=None, *,
                 generate=None, duplicates=None, near_duplicate_bits: int = 4):
        from skucore.quality.hash_registry import PromotionHashes

        self.store = store
        self.promotion = promotions.get(promotion_id)
        library = promotions.templates()
        self.templates = {t.id: t for t in library.all()}
        self.backdrops = {t.id: (t.backdrop or {}).get("kind") for t in library.all()}
        self.catalog = catalog_rows_by_sku(store)
        self.gpu_pool = gpu_pool
        self.scene_generator = scene_generator
        self.platforms = platforms  # PlatformSettings (configured overrides), or None for the shipped presets
        self.generate = generate or generate_here(gpu_pool, scene_generator)
        # The promotion's perceptual hashes: replace/compare/add (skucore.quality.hash_registry.PromotionHashes)
        self.duplicates = duplicates if duplicates is not None else PromotionHashes(
            near_duplicate_bits, stored_hashes(store, promotion_id, self.catalog))
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
        """Render a SKU's images in three phases: prepare (here), generate (`self.generate`: the device, when
        scenes need one), finish (here)."""
        from skucore.imaging.render import apply_generated, finish_sku_render, prepare_sku_render

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
        render = prepare_sku_render(cutout, row, prompt_rows, self.promotion,
                                    generator_available=self.scene_generator.enabled, **kwargs)
        if render.requests:
            try:
                images, backend, model_id = self.generate(render.requests, partition_key or f"{self.promotion.id}|{sku}")
            except SceneGenerationFailed as exc:
                apply_generated(render, error=str(exc))
            else:
                apply_generated(render, images, backend_name=backend, model_id=model_id)
        return finish_sku_render(render)

    def score(self, gen: dict, quality_config):
        """Metric results for one generated image row (near duplicates aside) and the image's bytes. A generated
        scene's backdrop is also searched for stray text (the model may have drawn some)."""
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
            generated=gen["backend"] != "studio",
        )
        from skucore.quality.tone import tone_consistency_for  # background tone vs the promotion's (issue 13)

        results = [*results, tone_consistency_for(data, gen, template=self.templates.get(gen["template_id"]),
                                                  promotion=self.promotion, preset=self.preset_for(gen["platform"]),
                                                  category=self.category(gen["sku"]))]
        return data, results


class PerSkuStep:
    """One run of the per-SKU step: a `PromotionRun` per promotion of its keys, the review queue, the CDN
    target and the publishing gate. A promotion that cannot be loaded fails each of its keys with the reason.
    `generate` and `duplicates(promotion_id)` replace the in-process defaults (see the module docstring)."""

    def __init__(self, *, store, promotions, grading, gpu_pool, scene_generator, cdn, platforms, keys: list[str],
                 publish: bool, log=None, generate=None, duplicates=None):
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
                    self.runs[promotion_id] = PromotionRun(
                        store, promotions, gpu_pool, scene_generator, promotion_id, platforms, generate=generate,
                        duplicates=duplicates(promotion_id) if duplicates else None,
                        near_duplicate_bits=grading.near_duplicate_bits)
                except Exception as exc:  # e.g. the promotion file broke: reported for each of its keys
                    self.runs[promotion_id] = exc

    def run_for(self, promotion_id: str) -> PromotionRun:
        run = self.runs[promotion_id]
        if isinstance(run, Exception):
            raise run
        return run
