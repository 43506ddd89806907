"""The Dagster resources: pool description, one generator (one model load) per run and device."""

import dagster as dg
import numpy as np
import pytest

from tests.helpers.gpu import make_request

from resources.gpu import GeneratorNotConfigured, GpuPoolResource, SceneGeneratorResource


def test_pool_resource_explicit_devices(tmp_path):
    r = GpuPoolResource(devices=["cuda:0", "cuda:1"], slots_per_device=1, lease_dir=str(tmp_path))
    d = r.describe()
    assert d["devices"] == ["cuda:0", "cuda:1"] and d["fallback_reason"] is None
    key = "p|sku-1"
    with r.lease(key) as dev:
        assert dev == r.device_for(key)
        with r.lease(key) as dev2:
            assert dev2 != dev and dev2.spilled


def test_pool_resource_auto_reports_cpu_fallback(tmp_path):
    torch = pytest.importorskip("torch")
    r = GpuPoolResource(lease_dir=str(tmp_path))
    d = r.describe()
    if not torch.cuda.is_available():
        assert d["devices"] == ["cpu"] and d["fallback_reason"] == "no CUDA devices found"


def test_generator_none_and_bad_config():
    r = SceneGeneratorResource()
    assert not r.enabled and r.allow_studio_fallback
    with pytest.raises(GeneratorNotConfigured):
        r.generator_for("cpu")
    with pytest.raises(ValueError, match="endpoints"):
        SceneGeneratorResource(backend="server").generator_for("cpu")
    with pytest.raises(ValueError, match="backend"):
        SceneGeneratorResource(backend="comfy").generator_for("cpu")


def test_server_generator_pins_leased_endpoint():
    r = SceneGeneratorResource(backend="server", endpoints=["http://a:1", "http://b:2"])
    g = r.generator_for("http://b:2")
    assert g.endpoints == ["http://b:2", "http://a:1"]
    assert r.generator_for("http://b:2") is g
    assert g.inpaint_unsupported == "fail" and g.num_inference_steps is None  # the server's own default steps
    with pytest.raises(ValueError, match="inpaint_unsupported"):
        SceneGeneratorResource(backend="server", endpoints=["http://a:1"], inpaint_unsupported="x").generator_for("http://a:1")


def test_diffusers_generator_defaults_to_turbo_steps_and_a_wide_feather():
    g = SceneGeneratorResource(backend="diffusers", model="x/y").generator_for("cpu")
    assert g.num_inference_steps == 8 and g.feather_px > 8 and g.refine_sigma == 0.15
    assert SceneGeneratorResource().memory_plan("cpu") is None  # sizing applies to CUDA devices only


def test_server_in_process_inpaint_shares_one_local_model(tiny_model_dir):
    r = SceneGeneratorResource(backend="server", endpoints=["http://a:1", "http://b:2"], model=str(tiny_model_dir),
                               inpaint_unsupported="in_process", in_process_device="cpu")
    a, b = r.generator_for("http://a:1"), r.generator_for("http://b:2")
    assert a.in_process is b.in_process and a.in_process.backend_name == "diffusers"


def test_backfill_of_k_skus_loads_the_model_once(tiny_model_dir, tmp_path):
    pytest.importorskip("diffusers")
    from gpu_ops.zimage import total_loads

    keys = [f"double11|sku-{i}" for i in range(5)]
    parts = dg.StaticPartitionsDefinition(keys)
    seen = {}

    @dg.asset(partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run())
    def scenes(context: dg.AssetExecutionContext, gpu_pool: GpuPoolResource, scene_generator: SceneGeneratorResource) -> None:
        for i, key in enumerate(context.partition_keys):
            with gpu_pool.lease(key) as device:
                gen = scene_generator.generator_for(device)
                req = make_request(seed=i, key=key)
                (img,) = gen.generate([req])
                m = np.asarray(req.mask)
                assert np.array_equal(np.asarray(img)[m == 0], np.asarray(req.init_image)[m == 0])
                seen[key] = (str(device), id(gen))
        context.add_output_metadata({"devices": dg.MetadataValue.json(gpu_pool.describe())})

    before = total_loads()
    result = dg.materialize(
        [scenes],
        partition_key=None,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        resources={
            "gpu_pool": GpuPoolResource(devices=["cpu"], lease_dir=str(tmp_path)),
            "scene_generator": SceneGeneratorResource(backend="diffusers", model=str(tiny_model_dir), dtype="float32"),
        },
    )
    assert result.success
    assert sorted(seen) == keys
    assert len({g for _, g in seen.values()}) == 1  # one generator object for the whole run
    assert total_loads() - before == 1  # K SKUs, one model load
