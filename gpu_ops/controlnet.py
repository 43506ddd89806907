"""Z-Image ControlNet from the files people have: one `.safetensors` file (how Union 2.0 / 2.1 ship, loaded
with `ZImageControlNetModel.from_single_file`) or a diffusers folder with `config.json` (`from_pretrained`),
and the steps / conditioning scale each version is documented with.

A single file needs its diffusers config. In order: `controlnet_config` when given (a folder with config.json
or a hub id); else the hub config diffusers associates with the checkpoint (from the local Hugging Face cache
only, unless downloads are allowed); else the configuration built in here for Union 2.0 and 2.1 (as published
with hlky's conversions: 15 control blocks at layers 0, 2, ..., 28, 2 refiner blocks, control_in_dim 33),
checked against the file's own blocks before use.

Versions (`controlnet_version`, else from the file name, else from the checkpoint's keys):
- union-1.0: control only (control_in_dim 16), no inpaint mode: refused for inpainting;
- union-2.0: 25 steps, scale 0.75 (diffusers' example);
- union-2.1: 25 steps, scale 0.75 (diffusers' example uses the 2.1 file at 25 steps);
- union-2.1-8steps: the 8-step distilled files ("...-8steps.safetensors"), 8 steps, scale 0.75.
Upstream recommends a scale of 0.65 to 0.80.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import ModelNotFoundError


@dataclass(frozen=True)
class ControlNetPreset:
    version: str
    steps: int
    conditioning_scale: float
    inpaint: bool
    note: str


PRESETS = {
    "union-1.0": ControlNetPreset("union-1.0", 8, 0.75, False, "Union 1.0: 6 control blocks, no inpaint mode"),
    "union-2.0": ControlNetPreset("union-2.0", 25, 0.75, True, "diffusers' example: 25 steps, scale 0.75"),
    "union-2.1": ControlNetPreset("union-2.1", 25, 0.75, True, "diffusers' example: 25 steps, scale 0.75"),
    "union-2.1-8steps": ControlNetPreset("union-2.1-8steps", 8, 0.75, True, "distilled to 8 steps upstream"),
}
VERSIONS = tuple(PRESETS)

_UNION_2_BASE = {
    "_class_name": "ZImageControlNetModel",
    "control_layers_places": list(range(0, 30, 2)),
    "control_refiner_layers_places": [0, 1],
    "control_in_dim": 33,
    "all_patch_size": [2],
    "all_f_patch_size": [1],
    "dim": 3840,
    "n_refiner_layers": 2,
    "n_heads": 30,
    "n_kv_heads": 30,
    "norm_eps": 1e-05,
    "qk_norm": True,
}
# 2.0 carried its refiner hints through the control layers (a typo upstream fixed in 2.1).
BUILTIN_CONFIGS = {
    "union-2.0": {**_UNION_2_BASE, "add_control_noise_refiner": "control_layers"},
    "union-2.1": {**_UNION_2_BASE, "add_control_noise_refiner": "control_noise_refiner"},
    "union-2.1-8steps": {**_UNION_2_BASE, "add_control_noise_refiner": "control_noise_refiner"},
}


def version_from_name(name: str) -> str | None:
    """The Union version a file or folder name states ("...Union-2.1-8steps.safetensors"), or None."""
    low = Path(name).name.lower()
    if re.search(r"2\.1.*8[-_]?steps?", low):
        return "union-2.1-8steps"
    if "2.1" in low:
        return "union-2.1"
    if "2.0" in low:
        return "union-2.0"
    if "union" in low:
        return "union-1.0"
    return None


def _version_from_checkpoint(path: Path) -> str | None:
    try:
        from diffusers.loaders.single_file_utils import infer_diffusers_model_type
        from safetensors.torch import load_file

        kind = infer_diffusers_model_type(load_file(str(path), device="cpu"))
    except Exception:  # noqa: BLE001 - an unknown layout: the caller decides from the name or the setting
        return None
    return {"z-image-turbo-controlnet": "union-1.0", "z-image-turbo-controlnet-2.0": "union-2.0",
            "z-image-turbo-controlnet-2.1": "union-2.1"}.get(kind)


def _count_control_layers(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        idx = {int(m.group(1)) for k in fh.keys() if (m := re.match(r"control_layers\.(\d+)\.", k))}
    return len(idx)


def _builtin_config_dir(version: str, path: Path) -> str:
    cfg = BUILTIN_CONFIGS.get(version)
    if cfg is None:
        raise ModelNotFoundError(
            f"controlnet {path}: no diffusers config for version {version!r} (built in: {', '.join(BUILTIN_CONFIGS)}); "
            f"set controlnet_config to a folder holding its config.json"
        )
    found = _count_control_layers(path)
    if found != len(cfg["control_layers_places"]):
        raise ModelNotFoundError(
            f"controlnet {path} has {found} control blocks, the built-in {version} config has "
            f"{len(cfg['control_layers_places'])} (a 'lite' file?): set controlnet_config to its config.json folder"
        )
    folder = Path(tempfile.mkdtemp(prefix="zimage-controlnet-config-"))
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return str(folder)


def load_controlnet(source: str, torch_dtype: Any, config: str | None = None, version: str | None = None,
                    allow_download: bool = False) -> tuple[Any, ControlNetPreset, dict]:
    """(model, preset, description) for a `.safetensors` file, a diffusers folder or a hub id.
    Raises ModelNotFoundError naming what is missing, ValueError for a version that cannot inpaint."""
    from diffusers import ZImageControlNetModel

    if version is not None and version not in PRESETS:
        raise ValueError(f"controlnet_version must be one of {VERSIONS} or None, got {version!r}")
    p = Path(source).expanduser()
    local_only = not allow_download
    if p.is_file():
        if p.suffix.lower() not in (".safetensors", ".sft"):
            raise ModelNotFoundError(f"controlnet file {p} is not a .safetensors file")
        version = version or version_from_name(p.name) or _version_from_checkpoint(p)
        how = "from_single_file"
        if config:
            model = ZImageControlNetModel.from_single_file(str(p), config=config, torch_dtype=torch_dtype,
                                                           local_files_only=local_only)
            how += f" (config {config})"
        else:
            try:
                model = ZImageControlNetModel.from_single_file(str(p), torch_dtype=torch_dtype, local_files_only=local_only)
                how += " (hub config from the local cache)"
            except (OSError, ValueError, KeyError):
                if version is None:
                    raise ModelNotFoundError(
                        f"controlnet {p}: its version could not be told from the name or the weights; set "
                        f"controlnet_version ({', '.join(VERSIONS)}) or controlnet_config") from None
                cfg_dir = _builtin_config_dir(version, p)
                model = ZImageControlNetModel.from_single_file(str(p), config=cfg_dir, torch_dtype=torch_dtype,
                                                               local_files_only=True)
                how += f" (built-in {version} config)"
    elif p.is_dir():
        if not (p / "config.json").is_file():
            raise ModelNotFoundError(
                f"controlnet folder {p.resolve()} has neither config.json nor is it a .safetensors file: point "
                f"controlnet at the Union .safetensors file or a diffusers ControlNet folder")
        version = version or version_from_name(p.name)
        model = ZImageControlNetModel.from_pretrained(str(p), torch_dtype=torch_dtype, local_files_only=True)
        how = "from_pretrained (folder)"
    elif source.startswith(("/", ".", "~")) or source.count("/") != 1:
        raise ModelNotFoundError(f"controlnet not found: {p.resolve()} is neither a .safetensors file nor a folder")
    else:
        version = version or version_from_name(source)
        try:
            model = ZImageControlNetModel.from_pretrained(source, torch_dtype=torch_dtype, local_files_only=local_only)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"controlnet {source!r} could not be loaded from {'the hub or ' if allow_download else ''}the local "
                f"cache ({type(exc).__name__}: {exc}); download the .safetensors file and point controlnet at it"
            ) from exc
        how = "from_pretrained (hub id)"
    in_dim = int(getattr(model.config, "control_in_dim", 0) or 0)
    if version is None:
        version = "union-1.0" if in_dim == 16 else "union-2.1"
    preset = PRESETS[version]
    if in_dim != 33 or not preset.inpaint:
        raise ValueError(
            f"controlnet {source} ({version}, control_in_dim {in_dim}) has no inpaint mode; the inpaint ControlNet "
            f"pipeline needs Union 2.0 or 2.1 (control_in_dim 33)")
    return model, preset, {"source": str(source), "version": version, "loaded_with": how,
                           "control_layers": len(model.config.control_layers_places)}
