"""Dagster resources for GPU work: the device pool and the scene generator.

`GpuPoolResource` maps partitions to devices (local CUDA devices or image-server endpoints) with slots per
device and cross-process file-lock leases (`gpu_ops.pool.GpuPool`). `SceneGeneratorResource` picks the
generation backend ("diffusers" in process, "server" over HTTP, or "none") and hands out ONE loaded
generator per (process, device): a run that renders K SKUs on a device loads the model once.

No torch import here: `gpu_ops.zimage` imports torch only when a generator actually loads.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from gpu_ops.base import SceneGenerator
from gpu_ops.pool import GpuPool

BACKENDS = ("diffusers", "server", "none")


class GeneratorNotConfigured(ValueError):
    """`generator_for` was called while the generator backend is "none"."""


class GpuPoolResource(dg.ConfigurableResource):
    """Devices and slots. `devices`: ["auto"] (detect CUDA devices, else the CPU and say why) or explicit
    names ("cuda:0", "cuda:1", or server endpoint URLs). `slots_per_device`: concurrent jobs per device
    (0 = from memory for detected GPUs, 1 per `gb_per_slot` GB; 1 for explicit devices)."""

    devices: list[str] = Field(default_factory=lambda: ["auto"], description='["auto"] or device names / endpoint URLs')
    slots_per_device: int = Field(default=0, description="0 = from GPU memory (auto) or 1 (explicit devices)")
    gb_per_slot: float = 24.0
    lease_dir: Optional[str] = Field(default=None, description="folder of the lease lock files (shared by all runs on a host)")
    lease_timeout_s: Optional[float] = Field(default=None, description="wait at most this long for a slot (None = forever)")

    _pool: Optional[GpuPool] = PrivateAttr(default=None)

    @property
    def pool(self) -> GpuPool:
        if self._pool is None:
            devs = [d for d in self.devices if d and d.strip()]
            auto = not devs or devs == ["auto"]
            self._pool = GpuPool(
                devices="auto" if auto else devs,
                slots_per_device=self.slots_per_device or None,
                lease_dir=self.lease_dir,
                gb_per_slot=self.gb_per_slot,
            )
        return self._pool

    def device_for(self, partition_key: str) -> str:
        return self.pool.device_for(partition_key)

    @contextlib.contextmanager
    def lease(self, partition_key: str, timeout_s: Optional[float] = None):
        """Hold a device slot for the block; yields a `gpu_ops.pool.Lease` (a str: the device name, with
        .slot, .preferred, .spilled)."""
        with self.pool.lease(partition_key, timeout_s=timeout_s if timeout_s is not None else self.lease_timeout_s) as held:
            yield held

    def describe(self) -> dict:
        """For run metadata: devices, slots, and the fallback reason when no GPU was found."""
        return self.pool.describe()


class SceneGeneratorResource(dg.ConfigurableResource):
    """Which generator renders the scenes that templates mark "diffusers" / "server".

    backend="none" (the embedded default): no generator; such scenes fall back to the studio backend when
    `allow_studio_fallback` is on (the lineage says so), and fail otherwise.
    """

    backend: str = Field(default="none", description='"diffusers", "server" or "none"')
    allow_studio_fallback: bool = True
    model: str = Field(default="Tongyi-MAI/Z-Image-Turbo", description="local folder or hub id (diffusers); model name (server)")
    allow_download: bool = False
    endpoints: list[str] = Field(default_factory=list, description="image server base URLs (server backend)")
    num_inference_steps: int = 9
    guidance_scale: float = 0.0
    max_batch: int = 4
    dtype: str = "auto"
    enable_cpu_offload: bool = False
    enable_vae_tiling: bool = False
    controlnet: Optional[str] = None
    control_mode: Optional[str] = None
    controlnet_conditioning_scale: float = 0.75
    upscale: Optional[str] = Field(default="cpu", description='"cpu", "img2img" or None')
    upscale_strength: float = 0.3
    native_max_side: int = Field(default=1024, description="larger scenes are generated at this size, then enlarged")
    feather_px: float = 2.0
    contact_shadow: bool = False
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 1.0
    api_key_env: str = "SKUSTUDIO_IMAGE_API_KEY"

    _cache: dict = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    def _check(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"SceneGeneratorResource.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "server" and not self.endpoints:
            raise ValueError("SceneGeneratorResource.backend='server' needs `endpoints` (image server URLs)")

    def _shadow(self):
        from gpu_ops.compose import ShadowSpec

        return ShadowSpec() if self.contact_shadow else None

    def _build(self, device: str) -> SceneGenerator:
        if self.backend == "diffusers":
            from gpu_ops.zimage import ZImageBackend

            return ZImageBackend(
                model=self.model,
                device=device,
                dtype=self.dtype,
                enable_cpu_offload=self.enable_cpu_offload,
                enable_vae_tiling=self.enable_vae_tiling,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
                max_batch=self.max_batch,
                controlnet=self.controlnet,
                control_mode=self.control_mode,
                controlnet_conditioning_scale=self.controlnet_conditioning_scale,
                upscale=self.upscale,
                upscale_strength=self.upscale_strength,
                feather_px=self.feather_px,
                shadow=self._shadow(),
                allow_download=self.allow_download,
                native_max_side=self.native_max_side,
            )
        from gpu_ops.server_client import ImageServerBackend

        # A pool over endpoints leases an endpoint URL: pin the client to it (the others stay as failover).
        endpoints = list(self.endpoints)
        if device in endpoints:
            endpoints.remove(device)
            endpoints.insert(0, device)
        return ImageServerBackend(
            endpoints=endpoints,
            model=self.model,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            api_key_env=self.api_key_env,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            feather_px=self.feather_px,
            shadow=self._shadow(),
        )

    def generator_for(self, device: str = "auto") -> SceneGenerator:
        """The generator for `device` ("cuda:0", "cpu", an endpoint URL, or a lease from GpuPoolResource),
        built once per (process, device) and reused for every later SKU of the run. The diffusers backend
        loads its weights on first `generate` (or an explicit `.load()`)."""
        self._check()
        if self.backend == "none":
            raise GeneratorNotConfigured(
                "no scene generator configured (backend='none'); set backend to 'diffusers' or 'server'"
            )
        device = str(device)
        key = (os.getpid(), self.backend, device)
        with self._lock:
            gen = self._cache.get(key)
            if gen is None:
                gen = self._build(device)
                self._cache[key] = gen
            return gen

    def loaded_generators(self) -> list[dict]:
        """What this process holds, for run metadata."""
        out = []
        for (pid, backend, device), gen in list(self._cache.items()):
            if pid != os.getpid():
                continue
            info = gen.describe() if hasattr(gen, "describe") else {"backend": backend}
            info["device_key"] = device
            out.append(info)
        return out

    def teardown_after_execution(self, context) -> None:
        for (pid, _backend, _device), gen in list(self._cache.items()):
            if pid == os.getpid() and hasattr(gen, "unload"):
                gen.unload()
        self._cache.clear()
