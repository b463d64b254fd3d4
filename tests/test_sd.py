"""Stable Diffusion inpainting backends on tiny components built from configs, saved and loaded as
real checkpoints are (offline)."""

import json

import pytest
import torch

from perpetual.cli import main
from perpetual.models import InpaintRequest
from perpetual.models.registry import quiet_libraries
from perpetual.models.sd import DiffusersInpainter
from perpetual.paths.schedule import prompt_at

quiet_libraries()


@pytest.fixture(scope="module")
def sd_folders(tmp_path_factory):
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    root = tmp_path_factory.mktemp("sd")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in map(chr, range(33, 127)):
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    blocks = dict(block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32, norm_num_groups=8, attention_head_dim=4)
    unet = UNet2DConditionModel(sample_size=8, in_channels=9, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **blocks)
    vae = AutoencoderKL(block_out_channels=[16, 32], down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=8, sample_size=32)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                                        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=16))
    tokenizer = CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), model_max_length=16)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=DDIMScheduler(),
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(root / "inpaint")
    controlnet = ControlNetModel(in_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                 conditioning_embedding_out_channels=(16, 32), **blocks)
    with torch.no_grad():  # a fresh ControlNet's zero convolutions do nothing; a trained one's do
        for p in controlnet.parameters():
            if not p.any():
                p.normal_(0.0, 0.5)
    controlnet.save_pretrained(root / "controlnet")
    return root / "inpaint", root / "controlnet"


def request(disparity=None, prompt="a lake", seed=0):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 30, 38, generator=g)
    valid = torch.ones(1, 1, 30, 38, dtype=torch.bool)
    valid[..., 10:20, 5:25] = False
    d = torch.rand(1, 1, 30, 38, generator=g) if disparity is None else disparity
    return InpaintRequest(image * valid, valid, d, prompt=prompt, seed=seed)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler"])
def test_sd_inpainting_keeps_visible_pixels(sd_folders, scheduler):
    inpaint = DiffusersInpainter(str(sd_folders[0]), scheduler=scheduler, steps=2, guidance=2.0)
    req = request()
    out = inpaint(req)
    assert out.shape == req.image.shape and torch.isfinite(out).all()
    keep = req.valid.expand_as(out)
    assert torch.equal(out[keep], req.image[keep]) and not torch.equal(out[~keep], req.image[~keep])


def test_depth_controlnet_conditions_the_fill(sd_folders):
    inpaint = DiffusersInpainter(str(sd_folders[0]), controlnet=str(sd_folders[1]), steps=2, guidance=1.0)
    ramp = torch.linspace(0, 2, 38).view(1, 1, 1, 38).expand(1, 1, 30, 38)
    a, b = inpaint(request(disparity=ramp)), inpaint(request(disparity=ramp.flip(-1)))
    assert (a - b).abs().max() > 1e-5


def test_prompt_embeddings_are_computed_once_per_prompt(sd_folders):
    inpaint = DiffusersInpainter(str(sd_folders[0]), steps=1, guidance=2.0)
    for prompt in ("a lake", "a lake", "misty hills", "a lake"):
        inpaint(request(prompt=prompt))
    assert sorted(inpaint._embeddings) == ["a lake", "misty hills"]


def test_prompt_schedules():
    schedule = "0: misty forest, at dawn, 120: alpine lake"
    assert prompt_at(schedule, 0) == "misty forest, at dawn" and prompt_at(schedule, 119) == "misty forest, at dawn"
    assert prompt_at(schedule, 500) == "alpine lake" and prompt_at("just hills, 3 of them", 9) == "just hills, 3 of them"


def test_sd_backends_run_inside_perpetual_fly(sd_folders, tmp_path):
    for name, extra in (("plain", ""), ("controlnet", f'controlnet = "{sd_folders[1]}"\n')):
        config = tmp_path / f"{name}.toml"
        config.write_text(f'[models]\ninpainter = "sd:{sd_folders[0]}"\n{extra}steps = 2\nguidance = 1.5\n')
        out = tmp_path / f"{name}.mp4"
        args = ["fly", "--config", str(config), "--frames", "4", "--size", "64x64", "--trajectory", "pan-right", "--out", str(out), "--prompt", "0: hills, 2: a lake"]
        assert main(args) == 0 and out.stat().st_size > 0
