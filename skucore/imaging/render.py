"""The per-SKU rendering entry point: every scene (prompt row) x every platform, exported, checked, labelled.

`render_sku_images(...)` is what the `generated_images` asset calls for one (promotion, SKU) partition:
- slot: "main" when the row's role is the promotion's `main_role`, else "secondary";
- main slot: the platform's placement (`target_fill`, `margin`), no overlays; where the platform asks for a pure
  white main image (see `skucore.base.platforms.main_needs_pure_white`) the backdrop is pure white with no shadow or
  reflection, rendered in the studio whatever the template's backend (a diffusion model has nothing to add to
  RGB 255,255,255, and the pixel rule is exact);
- secondary slots: the template's backdrop, shadow, reflection and overlays (price, badge, selling points), laid
  out in bands around the product (`typography.overlay_layout`), drawn at the export resolution;
- backend "studio": `scene.render_scene`; backend "diffusers" / "server": one batched
  `scene_generator.generate(requests)` for all generated scenes of the SKU (requests built by
  `scene.place_product`), then the product's own pixels pasted back; with no generator (or a failing one)
  the studio renders instead when `allow_studio_fallback` (lineage says `fallback: "studio"` and why), else it
  raises;
- each image: `exports.export_image` (size, background, fill, format, byte limit, lineage embedded), then
  `fidelity.product_fidelity` on the encoded bytes.
Deterministic: same inputs (and a deterministic generator) give the same bytes.

The three phases are also callable one by one, so a worker pool can send the generated scenes of many SKUs to a
device in shared batches while the CPU work stays with the CPU workers:
`prepare_sku_render` (CPU: jobs, placements, `SceneRequest`s) -> the device runs `render.requests` ->
`apply_generated` (images or the error) -> `finish_sku_render` (CPU: composite, overlays, exports, fidelity).
A request carries its own seed and placement, so which batch it shares changes nothing but what batching
itself changes in a model's arithmetic; the product's pixels are pasted back exactly either way.

Templates and promotions are duck-typed (attributes or dict keys), so this module imports neither
`skucore.prompting.templates` nor `skucore.prompting.promotions` at import time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from skucore.imaging.exports import ExportTooLarge, export_image
from skucore.imaging.fidelity import product_fidelity
from skucore.base.platforms import PlatformPreset, main_needs_pure_white, preset_with_overrides, resolve_preset
from skucore.imaging.placement import cut_sides
from skucore.imaging.shadows import template_shadow
from skucore.imaging.tone import match_generated_scene
from skucore.imaging.scene import Scene, place_product, render_scene, resolve_brand_tokens, scene_from_generated
from skucore.base.types import SceneRequest, TextRegion
from skucore.imaging.typography import apply_overlays, overlay_layout

GENERATED_BACKENDS = ("diffusers", "server")
DEFAULT_SECONDARY_FILL = 0.80
MAX_RERENDERS = 3  # an image with text that misses the byte limit at the floor quality is redrawn smaller
DEFAULT_TEMPLATE = {"id": "default", "backend": "studio", "backdrop": {"kind": "white"}, "overlays": [],
                    "shadow": True, "reflection": False}


@dataclass
class RenderedImage:
    role: str
    platform: str
    slot: str
    data: bytes
    format: str
    width: int
    height: int
    quality: int | None
    product_box: tuple[int, int, int, int] | None
    fill_ratio: float | None
    fidelity: dict
    text_regions: list[TextRegion]
    lineage: dict
    backend: str
    notes: list[str] = field(default_factory=list)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        v = obj.get(name, default)
    else:
        v = getattr(obj, name, default)
    return default if v is None else v


def _template_for(row: dict, templates_by_id: dict | None, category: Any) -> Any:
    tid = row.get("template_id")
    if templates_by_id and tid in templates_by_id:
        return templates_by_id[tid]
    try:  # lazy: the templates module is built in parallel and may be absent
        from skucore.prompting.templates import resolve_template  # type: ignore

        return resolve_template(category or "default", row.get("role"))
    except Exception:  # noqa: BLE001 - any failure: the plain default template
        return dict(DEFAULT_TEMPLATE, id=tid or "default")


def _promo_price(promotion: Any, price: Any) -> float | None:
    if price is None:
        return None
    fn = _get(promotion, "promo_price")
    if callable(fn):
        try:
            return float(fn(float(price)))
        except Exception:  # noqa: BLE001 - a bad price rule shows the list price instead
            return float(price)
    return float(price)


def _backdrop(template: Any, brand_kit: Any) -> dict:
    bd = dict(_get(template, "backdrop", {"kind": "white"}) or {"kind": "white"})
    return resolve_brand_tokens(bd, brand_kit)


@dataclass
class _Job:
    row: dict
    role: str
    preset: PlatformPreset
    slot: str
    backdrop: dict
    shadow: bool | str
    reflection: bool
    fill: float
    overlays: list[str]
    requested_backend: str
    backend: str
    template_id: str | None
    seed: int
    notes: list[str] = field(default_factory=list)
    cut_edges: str = "flush"  # what a side cut at the photo's frame does (skucore.imaging.placement)
    fallback: str | None = None
    fallback_reason: str | None = None
    placement: Any = None
    generated: Any = None
    generation: dict | None = None  # how the generator made the scene (gpu_ops SceneResult.generation)


@dataclass
class SkuRender:
    """One SKU's render between its phases (see `prepare_sku_render`): the jobs (one per prompt row x platform,
    in output order), the generator's requests (`requests`, in the order of `generated_jobs`) and what finishing
    needs. Lives in one process: the requests (plain data and PIL images) are what travels to a device."""

    jobs: list[_Job]
    cutout: Any
    sku_row: dict
    overlay_args: dict
    promotion_id: Any
    sku: Any
    source_sha256: str
    attempt: int
    allow_studio_fallback: bool
    look: Any = None  # the promotion's look: one tone for its generated backgrounds
    requests: list[SceneRequest] = field(default_factory=list)
    model_id: Any = None

    @property
    def generated_jobs(self) -> list[_Job]:
        return [j for j in self.jobs if j.backend in GENERATED_BACKENDS]


def render_sku_images(cutout: Any, sku_row: dict, prompt_rows: Sequence[dict], promotion: Any, *,
                      platforms: Sequence[str | PlatformPreset], templates_by_id: dict | None = None,
                      scene_generator: Any = None, source_sha256: str, attempt: int = 0,
                      allow_studio_fallback: bool = True) -> list[RenderedImage]:
    """Render, export and check every (prompt row, platform) image of one SKU. Output order: rows, then
    platforms, as given. The three phases in one call: `prepare_sku_render` (CPU), one
    `scene_generator.generate(requests)` (the device), `finish_sku_render` (CPU)."""
    render = prepare_sku_render(cutout, sku_row, prompt_rows, promotion, platforms=platforms,
                                templates_by_id=templates_by_id, source_sha256=source_sha256, attempt=attempt,
                                allow_studio_fallback=allow_studio_fallback,
                                generator_available=scene_generator is not None)
    if render.requests:
        try:
            images = generate_outcomes(scene_generator, render.requests)
        except Exception as exc:  # noqa: BLE001 - the fallback records the reason (or raises without one)
            apply_generated(render, error=f"{type(exc).__name__}: {exc}")
        else:
            apply_generated(render, images, backend_name=_get(scene_generator, "backend_name"),
                            model_id=_get(scene_generator, "model_id"))
    return finish_sku_render(render)


def prepare_sku_render(cutout: Any, sku_row: dict, prompt_rows: Sequence[dict], promotion: Any, *,
                       platforms: Sequence[str | PlatformPreset], templates_by_id: dict | None = None,
                       source_sha256: str, attempt: int = 0, allow_studio_fallback: bool = True,
                       generator_available: bool = True) -> SkuRender:
    """Phase 1 (CPU): a job per (prompt row, platform) and, for the generated scenes, the placed product and its
    `SceneRequest` (one per job, keyed promotion|sku|role|platform, the row's seed). Without a generator
    (`generator_available=False`) generated scenes fall back to the studio now (or raise when the fallback is
    off). Nothing here depends on other SKUs, so requests of many SKUs can share a device batch."""
    presets = [resolve_preset(p) for p in platforms]
    category = sku_row.get("category")
    brand_kit = _get(promotion, "brand_kit")
    main_role = _get(promotion, "main_role")
    promotion_id = _get(promotion, "id") or (prompt_rows[0].get("promotion") if prompt_rows else None)
    sku = sku_row.get("sku")

    jobs: list[_Job] = []
    for row in prompt_rows:
        role = row.get("role")
        template = _template_for(row, templates_by_id, category)
        requested = row.get("backend") or _get(template, "backend", "studio")
        seed = int(row.get("seed") or 0)
        for preset in presets:
            slot = "main" if role == main_role else "secondary"
            notes: list[str] = []
            backend = requested
            if slot == "main":
                white = main_needs_pure_white(preset, category)
                backdrop = {"kind": "white"} if white else _backdrop(template, brand_kit)
                shadow = False if white else template_shadow(template)
                reflection = False if white else bool(_get(template, "reflection", False))
                fill, overlays = preset.target_fill, []
                if white and requested != "studio":
                    backend = "studio"
                    notes.append(f"pure-white main image for {preset.id} rendered in the studio")
            else:
                backdrop = _backdrop(template, brand_kit)
                shadow = template_shadow(template)
                reflection = bool(_get(template, "reflection", False))
                fill = float(_get(template, "fill", DEFAULT_SECONDARY_FILL))
                overlays = list(_get(template, "overlays", []) or []) if preset.allow_text_on_secondary else []
            jobs.append(_Job(row=row, role=role, preset=preset, slot=slot, backdrop=backdrop, shadow=shadow,
                             reflection=reflection, fill=fill, overlays=overlays, requested_backend=requested,
                             backend=backend, template_id=row.get("template_id") or _get(template, "id"),
                             seed=seed, notes=notes, cut_edges=_get(template, "cut_edges", "flush")))

    price = sku_row.get("price")
    list_price = sku_row.get("list_price")  # the shop's own sale: its list price is the one struck through
    struck = list_price if price is not None and list_price is not None and list_price > price else price
    overlay_args = dict(
        price=None if struck is None else float(struck),
        promo_price=_promo_price(promotion, price),
        currency=sku_row.get("currency") or "CNY",
        badge_text=_get(promotion, "badge_text"),
        selling_points=list(sku_row.get("selling_points") or []),
        brand_kit=brand_kit,
    )
    render = SkuRender(jobs=jobs, cutout=cutout, sku_row=sku_row, overlay_args=overlay_args,
                       promotion_id=promotion_id, sku=sku, source_sha256=source_sha256, attempt=int(attempt),
                       allow_studio_fallback=allow_studio_fallback, look=_get(promotion, "look"))
    gen_jobs = render.generated_jobs
    if not gen_jobs:
        return render
    if not generator_available:
        _fall_back(render, render.generated_jobs, "no scene generator")
        return render
    for j in gen_jobs:
        flush = cut_sides(cutout, j.cut_edges)
        area = overlay_layout(j.preset.size, j.overlays, flush).product_area if j.overlays else None
        j.placement = place_product(cutout, j.preset.size, fill=j.fill, margin=j.preset.margin, product_area=area,
                                    background=j.backdrop, seed=j.seed, cut_edges=j.cut_edges)
        render.requests.append(SceneRequest(
            prompt=j.row.get("prompt") or "", negative_prompt=j.row.get("negative_prompt") or "", seed=j.seed,
            width=j.preset.width, height=j.preset.height, init_image=j.placement.init_image,
            mask=j.placement.mask, mode="inpaint", key=f"{promotion_id}|{sku}|{j.role}|{j.preset.id}"))
    return render


def generate_outcomes(generator: Any, requests: Sequence[SceneRequest]) -> list[Any]:
    """One generator call for `requests`: per scene, its outcome (`generate_scenes`: the image and how it was
    made, or why it failed) where the generator reports that, else its plain images. Errors that stop the whole
    call raise."""
    if hasattr(generator, "generate_scenes"):
        return list(generator.generate_scenes(list(requests)))
    return list(generator.generate(list(requests)))


def apply_generated(render: SkuRender, images: Sequence[Any] | None = None, *, error: str | None = None,
                    backend_name: str | None = None, model_id: Any = None) -> None:
    """Phase 2's result: the generator's outcomes for `render.requests` (in order; images, or per-scene results
    from `generate_outcomes`), or the `error` that stopped them all. A failed scene falls back to the studio with
    its reason in the lineage (out of memory after the retry, a server that cannot inpaint: named, never hidden),
    or, with the fallback off, this raises. The other scenes keep their generated images."""
    gen_jobs = render.generated_jobs
    if not gen_jobs:
        return
    if error is None and (images is None or len(images) != len(render.requests)):
        error = f"RuntimeError: generator returned {len(images or [])} images for {len(render.requests)} requests"
    if error is not None:
        _fall_back(render, gen_jobs, error)
        return
    render.model_id = model_id
    failed = []
    for j, outcome in zip(gen_jobs, images):
        im, generation = outcome, None
        if hasattr(outcome, "error"):  # a per-scene result
            if outcome.error is not None or outcome.image is None:
                failed.append((j, str(outcome.error or "no image")))
                continue
            im, generation = outcome.image, dict(outcome.generation or {})
        # one tone for the promotion's generated backgrounds (imaging.tone)
        j.generated, tone_note = match_generated_scene(im, j.placement, render.look, j.template_id, j.backdrop,
                                                       j.seed)
        j.notes.append(tone_note)
        j.generation = generation
        made_by = (generation or {}).get("backend") or backend_name
        if made_by in GENERATED_BACKENDS:
            j.backend = made_by  # what really made the scene (the resource may map "diffusers" rows to a server)
    for j, reason in failed:
        _fall_back(render, [j], reason)


def finish_sku_render(render: SkuRender) -> list[RenderedImage]:
    """Phase 3 (CPU): composite, overlay, export, fidelity and lineage of every job, in output order."""
    return [_finish(job, render.cutout, render.sku_row, render.overlay_args, render.promotion_id, render.sku,
                    render.source_sha256, render.attempt, render.model_id) for job in render.jobs]


def _fall_back(render: SkuRender, jobs: list[_Job], reason: str) -> None:
    if not render.allow_studio_fallback:
        raise RuntimeError(f"generated scenes for {render.promotion_id}/{render.sku} failed and studio fallback "
                           f"is off: {reason}")
    for j in jobs:
        j.fallback, j.fallback_reason, j.backend = "studio", reason, "studio"
        j.notes.append(f"fell back to studio: {reason}")


def _render(job: _Job, cutout: Any, size: tuple[int, int]) -> tuple[Scene, Any]:
    layout = overlay_layout(size, job.overlays, cut_sides(cutout, job.cut_edges)) if job.overlays else None
    area = layout.product_area if layout else None
    if job.generated is not None and size == job.preset.size:
        scene = scene_from_generated(job.generated, job.placement, backdrop=job.backdrop, seed=job.seed)
    elif job.generated is not None:  # re-render at a smaller size (byte limit): scale the generated backdrop
        placement = place_product(cutout, size, fill=job.fill, margin=job.preset.margin, product_area=area,
                                  background=job.backdrop, seed=job.seed, cut_edges=job.cut_edges)
        scene = scene_from_generated(job.generated, placement, backdrop=job.backdrop, seed=job.seed)
    else:
        scene = render_scene(cutout, job.backdrop, size, fill=job.fill, seed=job.seed, shadow=job.shadow,
                             reflection=job.reflection, margin=job.preset.margin, product_area=area,
                             cut_edges=job.cut_edges)
    return scene, layout


def _finish(job: _Job, cutout: Any, sku_row: dict, overlay_args: dict, promotion_id: Any, sku: Any,
            source_sha256: str, attempt: int, model_id: Any) -> RenderedImage:
    ai = job.backend in GENERATED_BACKENDS
    lineage = {
        "sku": sku, "promotion": promotion_id, "scene": job.role, "role": job.role, "platform": job.preset.id,
        "slot": job.slot, "template_id": job.template_id, "prompt_hash": job.row.get("prompt_hash"),
        "seed": job.seed, "backend": job.backend, "requested_backend": job.requested_backend,
        "model_id": model_id if ai else None, "source_sha256": source_sha256, "attempt": int(attempt),
        "ai_generated": ai, "fallback": job.fallback, "fallback_reason": job.fallback_reason,
        "generation": job.generation,
    }
    preset = job.preset
    size = preset.size
    for _try in range(MAX_RERENDERS + 1):
        scene, layout = _render(job, cutout, size)
        regions: list[TextRegion] = []
        if layout is not None:
            regions = apply_overlays(scene.image, layout, **overlay_args)
        try:
            exp = export_image(scene, preset, slot=job.slot, text_regions=regions, category=sku_row.get("category"),
                               lineage=lineage)
            break
        except ExportTooLarge as exc:
            if _try == MAX_RERENDERS or exc.suggested_size is None or not regions:
                raise
            job.notes.append(f"re-rendered at {exc.suggested_size[0]}x{exc.suggested_size[1]} to meet "
                             f"{preset.max_bytes} bytes: {exc}")
            size = exc.suggested_size
            preset = preset_with_overrides(preset, size=size)
    fid = product_fidelity(exp.data, exp.product_box, scene.scaled_product, fmt=exp.format)
    return RenderedImage(role=job.role, platform=job.preset.id, slot=job.slot, data=exp.data, format=exp.format,
                         width=exp.width, height=exp.height, quality=exp.quality, product_box=exp.product_box,
                         fill_ratio=exp.fill_ratio, fidelity=fid, text_regions=list(exp.text_regions),
                         lineage=lineage, backend=job.backend, notes=job.notes + exp.notes)
