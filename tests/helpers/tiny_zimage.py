"""Tiny random-weight Z-Image pipeline folders for tests, the CPU benchmark and the device check's --tiny form
(a test fixture: `from tests.helpers.tiny_zimage import build_tiny_zimage`).

The components follow diffusers' own Z-Image fast tests (transformer dim 32 with 2 layers, a two-block
AutoencoderKL with 16 latent channels, a Qwen3Model with hidden size 16), except the tokenizer: hub
downloads fail on offline machines, so a byte-level BPE of ~300 tokens is trained here with the
`tokenizers` package and wrapped in a transformers fast tokenizer with a Qwen-style chat template (the
pipelines call `apply_chat_template`). Everything is seeded, then written with `save_pretrained`, so the
folder loads through the same `from_pretrained` path as real weights. `save_tiny_controlnet_file` writes the
tiny ControlNet the way Union 2.x ships: one `.safetensors` file (plus the config folder a single file needs).
"""
from __future__ import annotations

from pathlib import Path

# A Qwen3-style chat template: the Z-Image pipelines call
# apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=True).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

_CORPUS = [
    "a product photo on a marble counter in soft morning light",
    "a living room with a sofa, plants and warm sunlight, photorealistic",
    "a garden table outdoors, shallow depth of field, bokeh",
    "studio backdrop, gradient sweep, brand colour, soft shadow",
    "blurry, low quality, watermark, text, logo, distorted product",
    "kitchen, bathroom, bedroom, office desk, wooden shelf, concrete floor",
    "user assistant system",
]


def build_tiny_tokenizer(vocab_size: int = 300):
    """A byte-level BPE tokenizer trained locally (no downloads), as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_components(seed: int = 0, with_controlnet: bool = False) -> dict:
    """The components of a tiny Z-Image pipeline (random weights, seeded)."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = build_tiny_tokenizer()

    torch.manual_seed(seed)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        # Room for real prompts (the tiny byte-level tokenizer spends many tokens on them) and platform-size
        # canvases (128 patches x 2 x 8 = 2048 px a side); the real model has [1536, 512, 512].
        axes_lens=[1024, 128, 128],
    )
    # x_pad_token / cap_pad_token start as torch.empty (uninitialised memory): pin them.
    with torch.no_grad():
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token.data))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token.data))

    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        block_out_channels=[32, 64],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=32,
        sample_size=32,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )

    scheduler = FlowMatchEulerDiscreteScheduler()

    torch.manual_seed(seed)
    config = Qwen3Config(
        hidden_size=16,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    text_encoder = Qwen3Model(config)

    components = {
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
    }
    if with_controlnet:
        components["controlnet"] = build_tiny_controlnet(seed)
    return components


def build_tiny_controlnet(seed: int = 0):
    """A tiny ZImageControlNetModel matching the tiny transformer, in the Union-2.0 layout that the inpaint
    ControlNet pipeline expects (control input = control latents 16 + mask 1 + masked-image latents 16)."""
    import torch
    from diffusers import ZImageControlNetModel

    torch.manual_seed(seed + 1)
    return ZImageControlNetModel(
        control_layers_places=[0],
        control_refiner_layers_places=[0],
        control_in_dim=33,
        add_control_noise_refiner="control_noise_refiner",
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        dim=32,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
    )


def build_tiny_zimage(folder: str | Path, seed: int = 0, with_controlnet: bool = False) -> Path:
    """Write a complete tiny Z-Image pipeline folder (loadable by `ZImageInpaintPipeline.from_pretrained`).

    With `with_controlnet`, a tiny ControlNet is also saved under `<folder>/controlnet` (a separate model
    folder, loadable with `ZImageControlNetModel.from_pretrained`); the pipeline folder itself stays a plain
    inpaint pipeline. Returns the folder.
    """
    from diffusers import ZImageInpaintPipeline

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    components = build_tiny_components(seed=seed, with_controlnet=False)
    pipe = ZImageInpaintPipeline(**components)
    pipe.save_pretrained(folder)
    if with_controlnet:
        build_tiny_controlnet(seed).save_pretrained(folder / "controlnet")
    return folder


def save_tiny_controlnet_file(folder: str | Path, seed: int = 0, name: str = "tiny-controlnet-union.safetensors") -> tuple[Path, Path]:
    """The tiny ControlNet as ONE .safetensors file (saved with `safetensors.torch.save_file`, as Union 2.x
    ships) and a folder with its config.json. Returns (file, config folder)."""
    import json

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = build_tiny_controlnet(seed)
    # Shared tensors are saved once each: contiguous copies, as a single-file checkpoint holds them.
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path = folder / name
    save_file(state, str(path))
    config_dir = folder / "config"
    config_dir.mkdir(exist_ok=True)
    config = {k: v for k, v in dict(model.config).items() if not k.startswith("_")}
    config["_class_name"] = "ZImageControlNetModel"
    (config_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path, config_dir
