"""Model CPU offload that every pipeline sharing the components gets, the ControlNet included.

diffusers' `enable_model_cpu_offload` is per pipeline: calling it on a second pipeline made with `from_pipe`
first removes the hooks the first one installed on the SAME modules, and a `from_pipe` pipeline that is
never told gets none. The ControlNet is outside the Z-Image pipelines' offload sequence, and it shares
modules with the transformer (`ZImageControlNetModel.from_transformer`), so an accelerate hook on each would
see the shared part already on the device and skip moving the rest. Here one hook per group goes on the
modules once, so every pipeline built on them offloads:
- text encoder: on the device while prompts are encoded; the denoiser leaves;
- denoiser = transformer + ControlNet, moved together whenever either runs; the text encoder leaves;
- VAE: on the device for encode/decode; the text encoder and the denoiser leave.
`offload_all()` after each call sends everything back to the CPU. The pipelines find the execution device
through the hooks (`module._hf_hook.execution_device`, read by `DiffusionPipeline._execution_device`).
"""
from __future__ import annotations

from typing import Any


def _hook_class():
    from accelerate.hooks import ModelHook
    from accelerate.utils import send_to_device

    class GroupOnloadHook(ModelHook):
        def __init__(self, group: list, others: list, execution_device):
            super().__init__()
            self.group = group
            self.others = others
            self.execution_device = execution_device

        def pre_forward(self, module, *args, **kwargs):
            for m in self.others:
                m.to("cpu")
            for m in self.group:  # .to() on a module already there costs a walk over its parameters only
                m.to(self.execution_device)
            return send_to_device(args, self.execution_device), send_to_device(kwargs, self.execution_device)

    return GroupOnloadHook


class SharedCpuOffload:
    """Offload hooks on the shared modules of the Z-Image pipelines, installed once for all of them."""

    def __init__(self, modules: dict[str, Any], device):
        from accelerate.hooks import add_hook_to_module

        hook_cls = _hook_class()
        self.device = device
        te = [m for m in (modules.get("text_encoder"),) if m is not None]
        denoiser = [m for m in (modules.get("transformer"), modules.get("controlnet")) if m is not None]
        vae = [m for m in (modules.get("vae"),) if m is not None]
        self.modules = te + denoiser + vae
        self.offload_all()
        self.covered: list[str] = []
        for name, group, others in (("text_encoder", te, denoiser), ("transformer", denoiser, te),
                                    ("controlnet", denoiser, te), ("vae", vae, te + denoiser)):
            m = modules.get(name)
            if m is not None:
                add_hook_to_module(m, hook_cls(group, others, device))
                self.covered.append(name)

    def offload_all(self) -> None:
        for m in self.modules:
            m.to("cpu")

    def remove(self) -> None:
        from accelerate.hooks import remove_hook_from_module

        for m in self.modules:
            remove_hook_from_module(m)
