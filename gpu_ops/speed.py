"""Speed options of the in-process backend: the attention backend, regional torch.compile, prompt buckets.

Attention: "auto" picks `flash_varlen` on CUDA when flash-attn is installed (it accepts the padding mask that a
batch of prompts of different lengths carries; `flash` and `_flash_3` refuse it), else PyTorch's SDPA
("native"). Backends that would download kernels from the hub ("*_hub") are refused: workers run offline.

Regional compilation compiles the transformer's repeated block once (`compile_repeated_blocks`) instead of
the whole model; `dynamic=True` because prompt lengths vary.

Prompt buckets: the transformer pads each caption to a multiple of 32 tokens, and a batch whose captions pad
to different lengths carries an attention mask (slower kernels, and rows that differ from single renders).
Grouping scenes by padded caption length makes every batch share one length: with the default bucket of 32
tokens this changes no image (it is the model's own padding), only which scenes go together.
"""
from __future__ import annotations

import importlib.util
import logging
from typing import Any

log = logging.getLogger(__name__)

MODEL_TOKEN_MULTIPLE = 32  # the transformer's own caption padding (SEQ_MULTI_OF)


def available_attention_backends() -> set[str]:
    from diffusers.models.attention_dispatch import AttentionBackendName

    return {b.value for b in AttentionBackendName}


def resolve_attention_backend(setting: str | None, device_type: str) -> str:
    """The backend name to use for `setting` ("auto", "native", "flash_varlen", ...) on `device_type`."""
    name = (setting or "auto").lower()
    if name == "auto":
        if device_type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
            return "flash_varlen"
        return "native"
    if name.endswith("_hub"):
        raise ValueError(f"attention backend {name!r} downloads kernels from the hub; workers run offline")
    known = available_attention_backends()
    if name not in known:
        raise ValueError(f"attention backend must be 'auto' or one of {sorted(known)}, got {setting!r}")
    return name


def apply_attention_backend(modules: list[Any], name: str) -> None:
    """Set `name` on every module that takes it (transformer, ControlNet). "native" is diffusers' default."""
    if name == "native":
        return
    for m in modules:
        if m is not None and hasattr(m, "set_attention_backend"):
            m.set_attention_backend(name)


def compile_repeated_blocks(transformer: Any, backend: str = "inductor") -> None:
    """Regional torch.compile of the transformer's repeated blocks (dynamic shapes: prompt lengths vary)."""
    transformer.compile_repeated_blocks(dynamic=True, backend=backend)


def prompt_token_count(tokenizer: Any, prompt: str, max_sequence_length: int) -> int:
    """Tokens the pipeline will feed the text encoder for `prompt` (chat template applied, truncated), as
    `ZImagePipeline._encode_prompt` counts them."""
    messages = [{"role": "user", "content": prompt}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    ids = tokenizer(text, truncation=True, max_length=max_sequence_length)["input_ids"]
    return len(ids)


def prompt_bucket(tokens: int, bucket: int) -> int:
    """The padded caption length `tokens` falls in (multiples of `bucket`, itself a multiple of 32)."""
    return max(bucket, -(-int(tokens) // bucket) * bucket)


def validate_bucket(bucket: int) -> int:
    if bucket < MODEL_TOKEN_MULTIPLE or bucket % MODEL_TOKEN_MULTIPLE:
        raise ValueError(f"prompt_bucket_tokens must be a multiple of {MODEL_TOKEN_MULTIPLE}, got {bucket}")
    return int(bucket)


def pad_prompt_embeds(embeds: list[Any], length: int) -> list[Any]:
    """Caption embeddings padded to `length` rows by repeating the last row (what the transformer itself
    does before it swaps in its pad token); used for buckets coarser than 32 tokens, where the padding
    becomes part of the caption (so an image depends on its bucket, still not on its batch)."""
    import torch

    out = []
    for e in embeds:
        n = e.shape[0]
        out.append(e if n >= length else torch.cat([e, e[-1:].expand(length - n, -1)], dim=0))
    return out
