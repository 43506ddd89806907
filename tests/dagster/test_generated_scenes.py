"""The GPU path through Dagster, on the CPU with a tiny random-weight Z-Image loaded through `from_pretrained`:
a range run over K SKUs loads the model once, lifestyle scenes come from the generator with the product's
pixels kept, and their lineage says so. With stand-in image servers (real HTTP on 127.0.0.1): one that cannot
inpaint fails the SKUs in production settings with the reason, never a studio render; one that behaves like
SGLang serves the scenes as text-to-image + composite when that is allowed."""
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from skucore import tables as T
from orchestration.definitions import build_definitions
from orchestration.demo import run_stage
from assets.partitions import SKUS
from orchestration.resources import local_resources
from resources.execution import ExecutionSettings
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.promotions import PromotionLibrary
from skucore.prompting.templates import default_library
from tests.helpers.catalogs import prepare_promotion
from tests.helpers.image_servers import StandInImageServer

torch = pytest.importorskip("torch", reason="the GPU extra (torch, diffusers) is part of the test install")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.helpers.tiny_zimage import build_tiny_zimage

    return str(build_tiny_zimage(tmp_path_factory.mktemp("tiny-zimage")))


def _generated_library(folder: Path) -> Path:
    """The shipped library with every lifestyle scene switched to the diffusers backend."""
    data = yaml.safe_load(Path(default_library().source).read_text(encoding="utf-8"))
    for roles in data["categories"].values():
        if "lifestyle" in roles:
            roles["lifestyle"]["backend"] = "diffusers"
    out = folder / "templates.yaml"
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


@pytest.fixture
def small_platform(monkeypatch):
    """A 128 px marketplace preset: the tiny model on a CPU needs ~1 s at 128 px and ~60 s at 800 px."""
    from skucore.base import platforms

    preset = platforms.preset_with_overrides("jd", id="test_small", size=(128, 128), min_side=64, max_bytes=200_000)
    monkeypatch.setitem(platforms.PLATFORM_PRESETS, "test_small", preset)
    return "test_small"


def _promotion(folder: Path) -> Path:
    src = Path(__file__).resolve().parents[2] / "promotions" / "double11.yaml"
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data.update(id="gpu_week", platforms=["test_small"], scene_roles={"default": ["studio", "lifestyle"]})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpu_week.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_range_run_loads_the_model_once_and_keeps_product_pixels(tmp_path, small_catalog, tiny_model, small_platform):
    from gpu_ops.zimage import total_loads
    from skucore.imaging.lineage import read_lineage

    home = tmp_path / "home"
    resources = local_resources(home=str(home), catalog=str(small_catalog))
    resources.update(
        promotions=PromotionLibrary(folder=str(_promotion(tmp_path / "promotions")), template_library=str(_generated_library(tmp_path))),
        scene_generator=SceneGeneratorResource(backend="diffusers", model=tiny_model, allow_studio_fallback=False, upscale=None),
        gpu_pool=GpuPoolResource(devices=["cpu"], lease_dir=str(tmp_path / "leases")),
        execution=ExecutionSettings(workers=1),  # in this process: the load counter and the test preset are here
    )
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        start, end = prepare_promotion(defs, instance, "gpu_week")
        skus = instance.get_dynamic_partitions(SKUS)
        loads_before = total_loads()
        stages = run_stage(defs, "promotion_images", instance, start=start, end=end)
        assert stages.success, stages.failed
        assert total_loads() - loads_before == 1  # K SKUs, one run, one load

        store = defs.resources["store"]
        for sku in skus:
            rows = store.read_table(T.generated("gpu_week", sku)).to_pylist()
            lifestyle = [r for r in rows if r["role"] == "lifestyle"]
            studio = [r for r in rows if r["role"] == "studio"]
            assert lifestyle and studio
            for r in lifestyle:
                lineage = read_lineage(store.get_bytes(r["image_key"]))
                assert lineage["backend"] == "diffusers" and lineage["ai_generated"] is True
                assert lineage["model_id"] and Path(lineage["model_id"]).name == Path(tiny_model).name
                assert lineage.get("fallback") in (None, "")
                assert json.loads(r["fidelity"])["passed"] is True  # the product's own pixels, pasted back
            for r in studio:
                assert read_lineage(store.get_bytes(r["image_key"]))["ai_generated"] is False


def test_failing_generated_scenes_regenerate_until_max_attempts_then_wait_for_review(
    tmp_path, small_catalog, tiny_model, small_platform
):
    """C's regenerate with a new seed and a prompt adjusted from the failed metric; every attempt stays in the
    lineage; after the last attempt the image goes to review (B, max_attempts_reached)."""
    from resources.quality import GradingSettings
    from skucore.imaging.lineage import read_lineage

    home = tmp_path / "home"
    resources = local_resources(home=str(home), catalog=str(small_catalog))
    resources.update(
        promotions=PromotionLibrary(folder=str(_promotion(tmp_path / "promotions")), template_library=str(_generated_library(tmp_path))),
        scene_generator=SceneGeneratorResource(backend="diffusers", model=tiny_model, allow_studio_fallback=False, upscale=None),
        gpu_pool=GpuPoolResource(devices=["cpu"], lease_dir=str(tmp_path / "leases")),
        # A sharpness bar no image meets, and sharpness sends generated scenes back: every generated scene is C.
        grading=GradingSettings(review_db=str(home / "review.sqlite"), max_attempts=3, regenerate_on=["sharpness"],
                                quality_thresholds={"sharpness_min": 1e9}),
        execution=ExecutionSettings(workers=1),
    )
    defs = build_definitions(resources)
    store = defs.resources["store"]
    with dg.instance_for_test() as instance:
        start, _ = prepare_promotion(defs, instance, "gpu_week")
        assert run_stage(defs, "promotion_images", instance, start=start, end=start).success
        sku = start.split("|")[1]

    graded = {r["role"]: r for r in store.read_table(T.graded("gpu_week", sku)).to_pylist()}
    life = graded["lifestyle"]
    assert life["attempt"] == 2 and life["grade"] == "B" and "max_attempts_reached" in life["reasons"]
    assert graded["studio"]["attempt"] == 0  # a studio render is deterministic: a new seed would not help
    attempts = [r for r in store.read_table(T.attempts("gpu_week", sku)).to_pylist() if r["role"] == "lifestyle"]
    assert sorted((r["attempt"], r["superseded"]) for r in attempts) == [(0, True), (1, True), (2, False)]
    generated = [r for r in store.read_table(T.generated("gpu_week", sku)).to_pylist() if r["role"] == "lifestyle"]
    assert sorted(r["attempt"] for r in generated) == [0, 1, 2]
    assert len({r["seed"] for r in generated}) == 3 and len({r["sha256"] for r in generated}) == 3
    final = next(r for r in generated if r["attempt"] == 2)
    lineage = read_lineage(store.get_bytes(final["image_key"]))
    assert lineage["attempt"] == 2 and lineage["ai_generated"] is True
    assert len({r["prompt_hash"] for r in generated}) == 3  # each attempt's prompt was adjusted anew
    metrics = {(q["attempt"], q["metric"]) for q in store.read_table(T.quality("gpu_week", sku)).to_pylist() if q["role"] == "lifestyle"}
    assert (2, "near_duplicate") in metrics and (1, "sharpness") in metrics  # regenerated images are fully scored
    queue = defs.resources["grading"].review_queue()
    assert final["image_key"] in {p["image_key"] for p in queue.pending("gpu_week")}


def _server_resources(tmp_path, small_catalog, url: str, **generator) -> dict:
    resources = local_resources(home=str(tmp_path / "home"), catalog=str(small_catalog))
    resources.update(
        promotions=PromotionLibrary(folder=str(_promotion(tmp_path / "promotions")), template_library=str(_generated_library(tmp_path))),
        scene_generator=SceneGeneratorResource(backend="server", endpoints=[url], timeout_s=10, max_retries=1,
                                               backoff_s=0.01, **generator),
        gpu_pool=GpuPoolResource(devices=[url], lease_dir=str(tmp_path / "leases")),
    )
    return resources


def test_server_without_edits_fails_the_skus_with_the_reason_in_production(tmp_path, small_catalog, small_platform):
    """Production settings (no studio fallback, inpaint_unsupported "fail"): a server whose edits endpoint
    answers 404 fails each SKU that has a generated scene, and the run says why; nothing is published."""
    with StandInImageServer(kind="no_edits") as srv:
        defs = build_definitions(_server_resources(tmp_path, small_catalog, srv.url, allow_studio_fallback=False))
        with dg.instance_for_test() as instance:
            start, end = prepare_promotion(defs, instance, "gpu_week")
            skus = instance.get_dynamic_partitions(SKUS)
            job = defs.resolve_job_def("promotion_images")
            from assets.partitions import range_tags

            result = job.execute_in_process(instance=instance, tags=range_tags(start, end), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data.user_failure_data
    assert sorted(data.metadata["failed_partitions"].value) == sorted(f"gpu_week|{s}" for s in skus)
    assert "server_cannot_inpaint" in data.description and "HTTP 404" in data.description
    assert "studio fallback is off" in data.description
    assert not srv.posts("/v1/images/generations")  # nothing was quietly generated instead
    store = defs.resources["store"]
    assert not any(store.exists(T.generated("gpu_week", s)) for s in skus)


def test_sglang_like_server_serves_composites_when_allowed(tmp_path, small_catalog, small_platform):
    from skucore.imaging.lineage import read_lineage

    with StandInImageServer(kind="sglang") as srv:
        defs = build_definitions(_server_resources(tmp_path, small_catalog, srv.url, allow_studio_fallback=False,
                                                   inpaint_unsupported="composite"))
        with dg.instance_for_test() as instance:
            start, end = prepare_promotion(defs, instance, "gpu_week")
            skus = instance.get_dynamic_partitions(SKUS)
            stages = run_stage(defs, "promotion_images", instance, start=start, end=end)
            assert stages.success, stages.failed
    store = defs.resources["store"]
    for sku in skus:
        for r in store.read_table(T.generated("gpu_week", sku)).to_pylist():
            if r["role"] != "lifestyle":
                continue
            lineage = read_lineage(store.get_bytes(r["image_key"]))
            assert lineage["backend"] == "server" and lineage["ai_generated"] is True
            assert lineage.get("fallback") in (None, "")
            assert json.loads(r["fidelity"])["passed"] is True
    assert len(srv.posts("/v1/images/generations")) >= len(skus)
    assert len(srv.posts("/v1/images/edits")) == 1  # the probe only
