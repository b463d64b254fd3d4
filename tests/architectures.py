"""Published model layouts with random weights, saved as their checkpoints are, for offline use.

Machines here cannot download weights, yet the loading code must be proven on the real layouts
and their cost measured at full size: these builders write folders in the same
``save_pretrained`` layout as the hub checkpoints named in ``configs/`` (same classes, same
sizes; only the weights, and the tokenizer's vocabulary, differ). Test scaffolding, not shipped:
used by the tests and ``benchmarks/bench_models.py``; nothing in a flight depends on them.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["BUILDERS", "depth_anything_v2_small", "clip_tokenizer", "sd15_controlnet_depth", "sd15_depth_adapter",
           "sd15_inpainting", "sdxl_controlnet_depth", "sdxl_inpainting"]

# SD 1.5's UNet and ControlNet share these.
_SD15_BLOCKS = dict(
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
)
_SDXL_BLOCKS = dict(
    block_out_channels=(320, 640, 1280), layers_per_block=2, cross_attention_dim=2048, attention_head_dim=(5, 10, 20),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"), use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)


def clip_tokenizer(folder: Path, max_length: int = 77):
    """CLIP's real tokenizer (the 49,408-token BPE vocabulary of SD's text encoders), written to ``folder``.

    The vocabulary is built as CLIP builds it, from the merges file that the ``open_clip_torch``
    wheel ships (``bpe_simple_vocab_16e6.txt.gz``; a test dependency): the 256 byte symbols, the
    same with ``</w>``, one token per merge, then the start and end tokens. The result is the
    ``vocab.json`` / ``merges.txt`` pair of the hub's CLIP tokenizers.
    """
    import gzip
    import importlib.util

    from transformers import CLIPTokenizer

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the CLIP vocabulary comes from the open_clip_torch wheel: pip install open_clip_torch")
    bpe = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1), *range(ord("\u00ae"), ord("\u00ff") + 1)]
    # GPT-2's byte-to-symbol table, in its order: printable bytes as themselves, the rest from U+0100 on.
    symbols = [chr(b) for b in printable] + [chr(256 + i) for i in range(256 - len(printable))]
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)


def _clip_text(hidden: int, layers: int, heads: int, projection: int = 0, act: str = "quick_gelu"):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, max_position_embeddings=77, hidden_act=act, projection_dim=projection or hidden,
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(scaling: float = 0.18215, force_upcast: bool = False):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
                         scaling_factor=scaling, force_upcast=force_upcast)


def _save(model, folder: Path, variant: str | None) -> None:
    """``save_pretrained``, in fp16 with the hub's ``.fp16.`` file names for ``variant="fp16"``."""
    if variant == "fp16":
        import torch

        model = model.to(torch.float16)
    model.save_pretrained(folder, variant=variant)


def sd15_inpainting(folder: Path, variant: str | None = None) -> Path:
    """``stable-diffusion-v1-5/stable-diffusion-inpainting``'s layout (9-channel UNet, 1.07 B parameters)."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(sample_size=64, in_channels=9, out_channels=4,
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, **_SD15_BLOCKS)
    pipe = StableDiffusionInpaintPipeline(vae=_vae(), text_encoder=_clip_text(768, 12, 12), tokenizer=clip_tokenizer(folder / "tokenizer"),
                                          unet=unet, scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    _save(pipe, folder, variant)
    return folder


def sd15_controlnet_depth(folder: Path, variant: str | None = None) -> Path:
    """``lllyasviel/control_v11f1p_sd15_depth``'s layout."""
    from diffusers import ControlNetModel

    _save(ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(16, 32, 96, 256), **_SD15_BLOCKS), folder, variant)
    return folder


def sd15_depth_adapter(folder: Path) -> Path:
    """``TencentARC/t2iadapter_depth_sd15v2``'s layout."""
    from diffusers import T2IAdapter

    T2IAdapter(in_channels=3, channels=[320, 640, 1280, 1280], num_res_blocks=2, downscale_factor=8,
               adapter_type="full_adapter").save_pretrained(folder)
    return folder


def sdxl_inpainting(folder: Path) -> Path:
    """``diffusers/stable-diffusion-xl-1.0-inpainting-0.1``'s layout (9-channel UNet, 2.6 B parameters)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(sample_size=128, in_channels=9, out_channels=4, transformer_layers_per_block=(1, 2, 10),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), **_SDXL_BLOCKS)
    tokenizer = clip_tokenizer(folder / "tokenizer")
    pipe = StableDiffusionXLInpaintPipeline(
        vae=_vae(0.13025, force_upcast=True), text_encoder=_clip_text(768, 12, 12), tokenizer=tokenizer,
        text_encoder_2=_clip_text(1280, 32, 20, projection=1280, act="gelu"), tokenizer_2=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(), requires_aesthetics_score=False,
    )
    pipe.save_pretrained(folder)
    return folder


def sdxl_controlnet_depth(folder: Path) -> Path:
    """A stand-in for ``diffusers/controlnet-depth-sdxl-1.0-small`` (0.27 B parameters, attention in the
    deepest block only); its exact block layout is not reproduced here."""
    from diffusers import ControlNetModel

    blocks = {**_SDXL_BLOCKS, "down_block_types": ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D")}
    ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(16, 32, 96, 256), transformer_layers_per_block=(0, 0, 1),
                    **blocks).save_pretrained(folder)
    return folder


def depth_anything_v2_small(folder: Path) -> Path:
    """``depth-anything/Depth-Anything-V2-Small-hf``'s layout (24.8 M parameters)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(image_size=518, patch_size=14, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                            out_indices=[3, 6, 9, 12], reshape_hidden_states=False, apply_layernorm=True)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384, neck_hidden_sizes=[48, 96, 192, 384],
                                 fusion_hidden_size=64, head_hidden_size=32, depth_estimation_type="relative")
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3, do_pad=False,
                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)  # the hub's preprocessor_config.json
    return folder


BUILDERS = {
    "sd15-inpainting": sd15_inpainting,
    "sd15-controlnet-depth": sd15_controlnet_depth,
    "sd15-depth-adapter": sd15_depth_adapter,
    "sdxl-inpainting": sdxl_inpainting,
    "sdxl-controlnet-depth": sdxl_controlnet_depth,
    "depth-anything-v2-small": depth_anything_v2_small,
}
