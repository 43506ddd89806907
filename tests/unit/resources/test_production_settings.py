"""Production resources take the GPU settings an operator sets on a host from the environment (no code change to
point at a device check, add a ControlNet or say what to do with servers that cannot inpaint)."""
import pytest

from orchestration.resources import production_resources

BASE = {"SKUSTUDIO_STORE_BUCKET": "store", "SKUSTUDIO_CDN_BUCKET": "cdn", "SKUSTUDIO_CATALOG": "s3://store/c.csv"}


def test_gpu_settings_come_from_the_environment(monkeypatch, tmp_path):
    profile = tmp_path / "device_check.json"
    for k, v in {**BASE, "SKUSTUDIO_MEMORY_PROFILE": str(profile), "SKUSTUDIO_EXTRA_WEIGHTS_GIB": "2.5",
                 "SKUSTUDIO_INPAINT_UNSUPPORTED": "composite", "SKUSTUDIO_CONTROLNET": "/models/union-2.1.safetensors",
                 "SKUSTUDIO_CONTROLNET_CONFIG": "/models/union-config"}.items():
        monkeypatch.setenv(k, v)
    res = production_resources()
    pool, gen = res["gpu_pool"], res["scene_generator"]
    assert pool.memory_profile == str(profile) and pool.extra_weights_gib == 2.5
    assert gen.inpaint_unsupported == "composite" and gen.memory_profile == str(profile)
    assert gen.controlnet == "/models/union-2.1.safetensors" and gen.controlnet_config == "/models/union-config"


def test_defaults_fail_loudly_and_a_bad_number_is_named(monkeypatch):
    for k, v in BASE.items():
        monkeypatch.setenv(k, v)
    for k in ("SKUSTUDIO_MEMORY_PROFILE", "SKUSTUDIO_INPAINT_UNSUPPORTED", "SKUSTUDIO_CONTROLNET",
              "SKUSTUDIO_EXTRA_WEIGHTS_GIB"):
        monkeypatch.delenv(k, raising=False)
    res = production_resources()
    assert res["scene_generator"].inpaint_unsupported == "fail" and res["scene_generator"].controlnet is None
    assert res["gpu_pool"].extra_weights_gib == 0.0
    monkeypatch.setenv("SKUSTUDIO_EXTRA_WEIGHTS_GIB", "two")
    with pytest.raises(ValueError, match="SKUSTUDIO_EXTRA_WEIGHTS_GIB"):
        production_resources()
