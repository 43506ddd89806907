"""GPU-side generation: Z-Image through diffusers (`zimage`, loading in `zimage_loading`, running in
`zimage_run`, ControlNet files in `controlnet`, shared CPU offload in `offload`, schedules in `schedule`, speed
options in `speed`), OpenAI-compatible image servers (`server_client`, with `server_probe` and `server_http`),
product paste-back (`compose`) and light matching (`lighting`), control images (`control`), memory sizing
(`memory`), device pool and leases (`pool`). Importing this package imports neither torch nor diffusers; the
names below load their module on first use. The tiny random-weight test model lives in
`tests/helpers/tiny_zimage.py` (a test fixture, not part of the package)."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "SceneGenerator": "gpu_ops.base",
    "DetailedSceneGenerator": "gpu_ops.base",
    "SceneResult": "gpu_ops.base",
    "SceneFailure": "gpu_ops.base",
    "SceneGenerationError": "gpu_ops.base",
    "ModelNotFoundError": "gpu_ops.base",
    "ZImageBackend": "gpu_ops.zimage",
    "total_loads": "gpu_ops.zimage",
    "ImageServerBackend": "gpu_ops.server_client",
    "ImageServerError": "gpu_ops.server_http",
    "ServerCapabilities": "gpu_ops.server_probe",
    "GpuPool": "gpu_ops.pool",
    "Lease": "gpu_ops.pool",
    "LeaseTimeout": "gpu_ops.pool",
    "MemoryProfile": "gpu_ops.memory",
    "SlotPlan": "gpu_ops.memory",
    "plan_slots": "gpu_ops.memory",
    "load_profile": "gpu_ops.memory",
    "paste_product": "gpu_ops.compose",
    "upscale_scene": "gpu_ops.compose",
    "ShadowSpec": "gpu_ops.compose",
    "composite_with_light": "gpu_ops.lighting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gpu_ops' has no attribute {name!r}")
