"""GPU-side generation: Z-Image through diffusers (`zimage`), OpenAI-compatible image servers
(`server_client`), product paste-back (`compose`), control images (`control`), device pool and leases
(`pool`), tiny test models (`tiny`). Importing this package imports neither torch nor diffusers; the
names below load their module on first use."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "SceneGenerator": "gpu_ops.base",
    "ModelNotFoundError": "gpu_ops.base",
    "ZImageBackend": "gpu_ops.zimage",
    "total_loads": "gpu_ops.zimage",
    "ImageServerBackend": "gpu_ops.server_client",
    "ImageServerError": "gpu_ops.server_client",
    "GpuPool": "gpu_ops.pool",
    "Lease": "gpu_ops.pool",
    "LeaseTimeout": "gpu_ops.pool",
    "paste_product": "gpu_ops.compose",
    "upscale_scene": "gpu_ops.compose",
    "ShadowSpec": "gpu_ops.compose",
    "build_tiny_zimage": "gpu_ops.tiny",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gpu_ops' has no attribute {name!r}")
