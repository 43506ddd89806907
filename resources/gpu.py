"""Dagster resources for GPU work: the device pool and the scene generator.

`GpuPoolResource` maps partitions to devices (local CUDA devices or image-server endpoints) with slots per
device and cross-process file-lock leases (`gpu_ops.pool.GpuPool`). `SceneGeneratorResource` picks the
generation backend ("diffusers" in process, "server" over HTTP, or "none") and hands out ONE loaded
generator per (process, device): a run that renders K SKUs on a device loads the model once.

Memory: slots per GPU, and the batch size / VAE tiling / CPU offload of the generator on it, come from one
plan (`gpu_ops.memory.plan_slots`: weights once per device, activations per slot, measured by
`bench/device_check.py` when its profile is present, else estimated).

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


def weights_on_disk_gib(path: Optional[str]) -> float:
    """Size of a local weights file or folder (*.safetensors) in GiB; 0 for None or a hub id."""
    if not path or not os.path.exists(path):
        return 0.0
    if os.path.isfile(path):
        return os.path.getsize(path) / 1024**3
    total = 0
    for folder, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files if f.endswith(".safetensors"))
    return total / 1024**3


class GeneratorNotConfigured(ValueError):
    """`generator_for` was called while the generator backend is "none"."""


class GpuPoolResource(dg.ConfigurableResource):
    """Devices and slots. `devices`: ["auto"] (detect CUDA devices, else the CPU and say why) or explicit
    names ("cuda:0", "cuda:1", or server endpoint URLs). `slots_per_device`: concurrent jobs per device
    (0 = from the memory plan for detected GPUs; 1 for explicit devices). `gb_per_slot` (one slot per that
    many GB) replaces the plan when set."""

    devices: list[str] = Field(default_factory=lambda: ["auto"], description='["auto"] or device names / endpoint URLs')
    slots_per_device: int = Field(default=0, description="0 = from the memory plan (auto) or 1 (explicit devices)")
    gb_per_slot: Optional[float] = Field(default=None, description="legacy: one slot per this many GB (None = memory plan)")
    memory_profile: Optional[str] = Field(default=None, description="device check JSON (None = SKUSTUDIO_DEVICE_PROFILE or ~/.cache/skustudio/device_check.json)")
    max_slots: int = Field(default=8, description="at most this many slots per GPU")
    extra_weights_gib: float = Field(default=0.0, description="weights beyond Z-Image's held per device, e.g. a ControlNet's")
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
                memory_profile=self.memory_profile,
                max_slots=self.max_slots,
                extra_weights_gib=self.extra_weights_gib,
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
    `allow_studio_fallback` is on (the lineage says so, and such an image is graded no better than B), and fail
    otherwise. Production turns the fallback off (orchestration.resources).

    Steps: `num_inference_steps` None = the backend's own (8 for Turbo in diffusers 0.42.1; the server's
    default, 9 on SGLang). Server backend: endpoints are probed at start; inpaint scenes no server can do
    follow `inpaint_unsupported` ("fail", "composite", "in_process").
    """

    backend: str = Field(default="none", description='"diffusers", "server" or "none"')
    allow_studio_fallback: bool = Field(default=True, description="off in production: a failed scene fails its SKU")
    model: str = Field(default="Tongyi-MAI/Z-Image-Turbo", description="local folder or hub id (diffusers); model name (server)")
    allow_download: bool = False
    endpoints: list[str] = Field(default_factory=list, description="image server base URLs (server backend)")
    num_inference_steps: Optional[int] = Field(default=None, description="None = the backend's default (8 diffusers, server's own)")
    guidance_scale: float = 0.0
    max_batch: int = Field(default=4, description="upper bound; on a GPU the memory plan may lower it")
    dtype: str = "auto"
    enable_cpu_offload: bool = False
    enable_vae_tiling: bool = False
    auto_size: bool = Field(default=True, description="on CUDA devices: batch, VAE tiling and CPU offload from the memory plan")
    memory_profile: Optional[str] = Field(default=None, description="device check JSON for the memory plan")
    controlnet: Optional[str] = Field(default=None, description="Union .safetensors file, diffusers folder or hub id")
    controlnet_config: Optional[str] = Field(default=None, description="folder with the ControlNet's config.json (single file)")
    controlnet_version: Optional[str] = Field(default=None, description="union-2.0 | union-2.1 | union-2.1-8steps (None = from the file)")
    controlnet_steps: Optional[int] = Field(default=None, description="None = the version's documented steps")
    control_mode: Optional[str] = None
    controlnet_conditioning_scale: Optional[float] = Field(default=None, description="None = the version's documented scale")
    upscale: Optional[str] = Field(default="cpu", description='"cpu", "img2img" or None')
    upscale_strength: Optional[float] = Field(default=None, description="deprecated: use refine_sigma")
    refine_sigma: float = Field(default=0.15, description="noise level the img2img refine pass starts from")
    refine_steps: int = 2
    native_max_side: int = Field(default=1024, description="larger scenes are generated at this size, then enlarged")
    feather_px: float = Field(default=12.0, description="paste-back feather; wider than a latent cell (8 px) or 0")
    contact_shadow: bool = False
    attention_backend: str = Field(default="auto", description='"auto" (flash_varlen where installed), "native", ...')
    compile_blocks: bool = Field(default=False, description="regional torch.compile of the transformer's blocks")
    prompt_bucket_tokens: int = Field(default=32, description="batches share a caption length (multiple of 32)")
    timeout_s: float = 120.0
    max_retries: int = 3
    backoff_s: float = 1.0
    api_key_env: str = "SKUSTUDIO_IMAGE_API_KEY"
    inpaint_unsupported: str = Field(default="fail", description='server: "fail", "composite" or "in_process"')
    probe_servers: bool = Field(default=True, description="ask each server what it can do at start")
    server_can_inpaint: Optional[bool] = Field(default=None, description="skip the mask probe: the servers can / cannot")
    in_process_device: str = Field(default="auto", description='device of the in-process inpaint ("in_process")')
    in_process_model: Optional[str] = Field(default=None, description="weights for in-process inpaint (None = model)")

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
        if self.inpaint_unsupported not in ("fail", "composite", "in_process"):
            raise ValueError("SceneGeneratorResource.inpaint_unsupported must be 'fail', 'composite' or 'in_process', "
                             f"got {self.inpaint_unsupported!r}")

    def _shadow(self):
        from gpu_ops.compose import ShadowSpec

        return ShadowSpec() if self.contact_shadow else None

    def memory_plan(self, device: str):
        """The memory plan (`gpu_ops.memory.SlotPlan`) for a CUDA device, or None elsewhere."""
        from gpu_ops.memory import device_total_gib, load_profile, plan_slots

        total = device_total_gib(str(device))
        if total is None:
            return None
        return plan_slots(total, load_profile(self.memory_profile), max_batch=self.max_batch, side=self.native_max_side,
                          extra_weights_gib=weights_on_disk_gib(self.controlnet))

    def _diffusers(self, device: str, model: str):
        from gpu_ops.zimage import ZImageBackend

        max_batch, tiling, offload = self.max_batch, self.enable_vae_tiling, self.enable_cpu_offload
        plan = self.memory_plan(device) if self.auto_size else None
        if plan is not None:
            max_batch, tiling, offload = min(max_batch, plan.batch), tiling or plan.vae_tiling, offload or plan.cpu_offload
        return ZImageBackend(
            model=model,
            device=device,
            dtype=self.dtype,
            enable_cpu_offload=offload,
            enable_vae_tiling=tiling,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            max_batch=max_batch,
            controlnet=self.controlnet,
            control_mode=self.control_mode,
            controlnet_conditioning_scale=self.controlnet_conditioning_scale,
            controlnet_config=self.controlnet_config,
            controlnet_version=self.controlnet_version,
            controlnet_steps=self.controlnet_steps,
            upscale=self.upscale,
            upscale_strength=self.upscale_strength,
            refine_sigma=self.refine_sigma,
            refine_steps=self.refine_steps,
            feather_px=self.feather_px,
            shadow=self._shadow(),
            allow_download=self.allow_download,
            native_max_side=self.native_max_side,
            attention_backend=self.attention_backend,
            compile_blocks=self.compile_blocks,
            prompt_bucket_tokens=self.prompt_bucket_tokens,
        )

    def _build(self, device: str) -> SceneGenerator:
        if self.backend == "diffusers":
            return self._diffusers(device, self.model)
        from gpu_ops.server_client import ImageServerBackend

        # A pool over endpoints leases an endpoint URL: pin the client to it (the others stay as failover).
        endpoints = list(self.endpoints)
        if device in endpoints:
            endpoints.remove(device)
            endpoints.insert(0, device)
        in_process = None
        if self.inpaint_unsupported == "in_process":
            key = (os.getpid(), "in_process", self.in_process_device)
            in_process = self._cache.get(key)
            if in_process is None:  # one in-process model per process, shared by every endpoint's client
                in_process = self._cache[key] = self._diffusers(self.in_process_device, self.in_process_model or self.model)
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
            inpaint_unsupported=self.inpaint_unsupported,
            in_process=in_process,
            probe=self.probe_servers,
            can_inpaint=self.server_can_inpaint,
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
