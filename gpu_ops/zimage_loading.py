"""Loading Z-Image-Turbo for the in-process backend: where the weights are, the pipelines that share them,
the ControlNet, CPU offload, the attention backend and compilation.

`from_pretrained` of a local folder or a hub id never blocks on the network unless downloads are allowed (a
hub id is then looked up in the local Hugging Face cache only). The components load once into
`ZImageInpaintPipeline`; the text-to-image, img2img and ControlNet pipelines share them through `from_pipe`
(which casts shared modules to its `dtype` argument, float32 when omitted: ours is always passed).
"""
from __future__ import annotations

import copy
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ModelNotFoundError
from .controlnet import ControlNetPreset, load_controlnet
from .offload import SharedCpuOffload
from .speed import apply_attention_backend, compile_repeated_blocks, resolve_attention_backend

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Tongyi-MAI/Z-Image-Turbo"
PIPELINE_KINDS = ("inpaint", "text2img", "img2img", "controlnet_inpaint")


def hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub always ships with diffusers
        return os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")


def looks_like_path(model: str) -> bool:
    if model.startswith(("/", ".", "~")) or "\\" in model:
        return True
    return model.count("/") != 1


def how_to_get(model: str) -> str:
    hub_id = model if not looks_like_path(model) else DEFAULT_MODEL
    return (
        f"Download the weights on a machine with internet access, e.g. "
        f"`huggingface-cli download {hub_id} --local-dir /models/Z-Image-Turbo`, copy the folder here and "
        f"point the model setting at it (or pre-fill the Hugging Face cache and set allow_download only "
        f"where the network is reachable)."
    )


def resolve_source(what: str, name: str, marker: str, model_for_help: str) -> tuple[str, bool]:
    """(source, is_local). Raises ModelNotFoundError for a path that does not hold a model."""
    p = Path(name).expanduser()
    if p.exists():
        if not (p / marker).is_file():
            raise ModelNotFoundError(
                f"{what} folder {p.resolve()} has no {marker}: it is not a diffusers {what} folder. "
                + how_to_get(model_for_help)
            )
        return str(p), True
    if looks_like_path(name):
        raise ModelNotFoundError(
            f"{what} not found: looked for the local folder {p.resolve()} (does not exist). " + how_to_get(model_for_help)
        )
    return name, False


def hub_error(what: str, name: str, exc: Exception, allow_download: bool) -> ModelNotFoundError:
    mode = "the local cache only (allow_download is off)" if not allow_download else "the hub and the local cache"
    return ModelNotFoundError(
        f"{what} {name!r} could not be loaded: looked in {mode}, Hugging Face cache dir {hf_cache_dir()} "
        f"({type(exc).__name__}: {exc}). " + how_to_get(name)
    )


def resolve_device(setting: Any):
    import torch

    dev = setting
    if dev in (None, "", "auto"):
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(dev)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"ZImageBackend: device {dev} requested but torch sees no CUDA device")
    return dev


def resolve_dtype(setting: Any, device):
    import torch

    name = str(setting).replace("torch.", "")
    if name in ("auto", "", "None"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
    if name not in table:
        raise ValueError(f"ZImageBackend: dtype must be auto, bfloat16 or float32, got {setting!r}")
    return table[name]


def device_class(device) -> str:
    """What kind of device made an image (byte-identical re-renders hold only on the same kind)."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        return f"{torch.cuda.get_device_name(index)} (sm_{major}{minor}, CUDA {torch.version.cuda})"
    return f"{device.type} ({platform.machine() or 'unknown'}, torch {torch.__version__.split('+')[0]})"


@dataclass
class LoadedZImage:
    """What `load_zimage` built: pipelines by kind (more are added lazily with `pipeline`), and how."""

    pipes: dict[str, Any]
    device: Any
    torch_dtype: Any
    multiple: int
    attention_backend: str
    device_class: str
    offload: SharedCpuOffload | None = None
    controlnet_preset: ControlNetPreset | None = None
    controlnet_info: dict = field(default_factory=dict)
    compiled: bool = False

    def pipeline(self, kind: str):
        """The pipeline for `kind`, built from the loaded components on first use (no new load)."""
        if kind in self.pipes:
            return self.pipes[kind]
        base = self.pipes["inpaint"]
        if kind == "text2img":
            from diffusers import ZImagePipeline as cls
        elif kind == "img2img":
            from diffusers import ZImageImg2ImgPipeline as cls
        else:
            raise KeyError(kind)
        pipe = cls.from_pipe(base, dtype=self.torch_dtype)
        pipe.set_progress_bar_config(disable=True)
        self.pipes[kind] = pipe
        return pipe

    def view(self) -> "LoadedZImage":
        """Pipelines over the SAME modules with their own schedulers (which pipelines mutate per call), so
        several slots of one device can run at once with the weights held once."""
        pipes = {}
        for kind, pipe in self.pipes.items():
            new = type(pipe).from_pipe(pipe, scheduler=copy.deepcopy(pipe.scheduler), dtype=self.torch_dtype)
            new.set_progress_bar_config(disable=True)
            pipes[kind] = new
        return LoadedZImage(pipes, self.device, self.torch_dtype, self.multiple, self.attention_backend,
                            self.device_class, self.offload, self.controlnet_preset, dict(self.controlnet_info),
                            self.compiled)


def load_zimage(cfg: Any, pipeline: Any = None) -> LoadedZImage:
    """Load the model `cfg` (a ZImageBackend's settings) describes, or adopt `pipeline` (an already built
    ZImageInpaintPipeline, e.g. random weights for a benchmark)."""
    import torch  # noqa: F401
    from diffusers import ZImageInpaintPipeline

    device = resolve_device(cfg.device)
    torch_dtype = resolve_dtype(cfg.dtype, device)
    if pipeline is not None:
        pipe = pipeline.to(dtype=torch_dtype)
    else:
        source, local = resolve_source("model", cfg.model, "model_index.json", cfg.model)
        try:
            pipe = ZImageInpaintPipeline.from_pretrained(
                source, dtype=torch_dtype, local_files_only=local or not cfg.allow_download)
        except (OSError, ValueError) as exc:
            if local:
                raise
            raise hub_error("model", source, exc, cfg.allow_download) from exc
    pipe.set_progress_bar_config(disable=True)

    cn_model, preset, cn_info = None, None, {}
    if cfg.controlnet:
        cn_model, preset, cn_info = load_controlnet(cfg.controlnet, torch_dtype, config=cfg.controlnet_config,
                                                    version=cfg.controlnet_version, allow_download=cfg.allow_download)
    pipes = {"inpaint": pipe}
    if cn_model is not None:
        from diffusers import ZImageControlNetInpaintPipeline

        cn_pipe = ZImageControlNetInpaintPipeline.from_pipe(pipe, controlnet=cn_model, dtype=torch_dtype)
        cn_pipe.set_progress_bar_config(disable=True)
        pipes["controlnet_inpaint"] = cn_pipe
        cn_model = cn_pipe.controlnet

    attention = resolve_attention_backend(cfg.attention_backend, device.type)
    apply_attention_backend([pipe.transformer, cn_model], attention)
    offload = None
    if cfg.enable_cpu_offload:
        offload = SharedCpuOffload({"text_encoder": pipe.text_encoder, "transformer": pipe.transformer,
                                    "controlnet": cn_model, "vae": pipe.vae}, device)
    else:
        pipe.to(device)
        if cn_model is not None:
            cn_model.to(device)
    if cfg.enable_vae_tiling:
        pipe.vae.enable_tiling()
    compiled = False
    if cfg.compile_blocks:
        compile_repeated_blocks(pipe.transformer, backend=cfg.compile_backend)
        compiled = True
    multiple = int(getattr(pipe, "vae_scale_factor", 8)) * 2
    return LoadedZImage(pipes, device, torch_dtype, multiple, attention, device_class(device), offload, preset,
                        cn_info, compiled)
