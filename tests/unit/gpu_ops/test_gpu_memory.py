"""Memory sizing from the model (weights once per device, activations per slot), the device check's profile,
and out-of-memory detection. No GPU needed: sizes are given, not measured."""
from __future__ import annotations

import json

import pytest

from gpu_ops.memory import (ESTIMATED_PROFILE, PROFILE_SCHEMA, is_out_of_memory, load_profile, plan_slots,
                            profile_from_check)


def test_24gb_card_gets_one_slot_of_batch_1_with_tiling():
    plan = plan_slots(24.0, ESTIMATED_PROFILE)
    assert (plan.slots, plan.batch, plan.vae_tiling, plan.cpu_offload) == (1, 1, True, False)
    assert "VAE tiling" in plan.reason


def test_h200_gets_as_many_slots_as_fit():
    plan = plan_slots(140.4, ESTIMATED_PROFILE, max_slots=32)
    assert plan.batch == 4 and not plan.vae_tiling
    per_slot = plan.figures["activations_per_slot_gib"] * 1.1
    # as many as fit: one more slot would not
    assert plan.slots * per_slot <= plan.figures["free_for_activations_gib"] < (plan.slots + 1) * per_slot
    assert plan_slots(140.4, ESTIMATED_PROFILE, max_slots=4).slots == 4  # the cap holds


def test_small_card_offloads_and_a_controlnet_counts_as_weights():
    assert plan_slots(16.0, ESTIMATED_PROFILE).cpu_offload
    with_cn = plan_slots(36.0, ESTIMATED_PROFILE, extra_weights_gib=6.0)
    without = plan_slots(36.0, ESTIMATED_PROFILE)
    assert (with_cn.batch, with_cn.slots) < (without.batch, without.slots)


def _check(tmp_path, **over):
    data = {"schema": PROFILE_SCHEMA, "device_name": "NVIDIA H200", "dtype": "bfloat16", "tiny": False,
            "resolution": [1024, 768], "weights_gib": 19.3, "text_encoder_gib": 7.6,
            "batches": [{"batch": 1, "peak_gib": 21.0}, {"batch": 2, "peak_gib": 22.5}, {"batch": 4, "peak_gib": 25.5}],
            "tiled_batches": [{"batch": 1, "peak_gib": 20.4}], "created": "2026-01-01T00:00:00Z"}
    data.update(over)
    path = tmp_path / "device_check.json"
    path.write_text(json.dumps(data))
    return path


def test_sizing_reads_the_device_check_profile(tmp_path, monkeypatch):
    path = _check(tmp_path)
    monkeypatch.setenv("SKUSTUDIO_DEVICE_PROFILE", str(path))
    prof = load_profile()
    assert prof.weights_gib == 19.3 and prof.activation_gib == pytest.approx({1: 1.7, 2: 3.2, 4: 6.2})
    assert "device check" in prof.source and "H200" in prof.source
    # 1024 x 1024 scenes: 4/3 of the measured 1024 x 768 activations
    assert prof.activations(4, 1024 * 1024, tiled=False) == pytest.approx(6.2 * 4 / 3)
    assert prof.activations(8, 1024 * 768, tiled=False) == pytest.approx(6.2 + 2 * (6.2 - 3.2))  # extrapolated
    measured = plan_slots(80.0, prof, max_slots=32)
    estimated = plan_slots(80.0, ESTIMATED_PROFILE, max_slots=32)
    assert measured.slots > estimated.slots  # measured activations are smaller than the estimate here


def test_tiny_or_foreign_profiles_are_not_used_for_sizing(tmp_path):
    with pytest.raises(ValueError, match="tiny"):
        profile_from_check(json.loads(_check(tmp_path, tiny=True).read_text()))
    prof = load_profile(_check(tmp_path, tiny=True))
    assert prof.weights_gib == ESTIMATED_PROFILE.weights_gib and "not used" in prof.source
    assert load_profile(tmp_path / "missing.json") is ESTIMATED_PROFILE
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"schema": "something/else"}))
    assert "not used" in load_profile(bad).source


def test_out_of_memory_is_recognised():
    torch = pytest.importorskip("torch")
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only runtime/memory errors
