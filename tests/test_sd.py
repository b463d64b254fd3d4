"""Stable Diffusion inpainting backends on tiny components built from configs, saved and loaded as
real checkpoints are (offline)."""

import pytest
import torch

from perpetual.cli import main
from perpetual.models import InpaintRequest
from tests.architectures import clip_tokenizer
from perpetual.models.registry import quiet_libraries
from perpetual.models.sd import DiffusersInpainter
from perpetual.paths.schedule import prompt_at
from tests.device_check import StandInDevice, on_device

quiet_libraries()


def text_config(tokenizer, **extra):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=16, **extra)


def wake(model):
    """A fresh ControlNet's or LoRA's zero layers do nothing; a trained one's do."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.5)
    return model


# SD-ordered blocks (cross-attention first), as the real UNets and T2I-Adapters expect.
BLOCKS = dict(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8, attention_head_dim=4,
              down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"))
XL = dict(addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 * 6 + 32, cross_attention_dim=64)


@pytest.fixture(scope="module")
def sd_folders(tmp_path_factory):
    """Tiny SD 1.x inpainting, depth ControlNet, depth T2I-Adapter, LoRA and SDXL inpainting + ControlNet folders."""
    from diffusers import (AutoencoderKL, ControlNetModel, DDIMScheduler, StableDiffusionInpaintPipeline,
                           StableDiffusionXLInpaintPipeline, T2IAdapter, UNet2DConditionModel)
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    root = tmp_path_factory.mktemp("sd")
    tokenizer = clip_tokenizer(root / "tokenizer", max_length=16)
    torch.manual_seed(0)
    unet_kwargs = dict(sample_size=8, in_channels=9, out_channels=4, up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), **BLOCKS)
    vae = AutoencoderKL(block_out_channels=[16, 32], down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=8, sample_size=32)
    unet = UNet2DConditionModel(cross_attention_dim=32, **unet_kwargs)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=CLIPTextModel(text_config(tokenizer)), tokenizer=tokenizer, unet=unet,
                                          scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(root / "inpaint")
    wake(ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(16, 32), cross_attention_dim=32, **BLOCKS)).save_pretrained(root / "controlnet")
    T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=1, downscale_factor=2, adapter_type="full_adapter").save_pretrained(root / "adapter")
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    StableDiffusionInpaintPipeline.save_lora_weights(root / "lora", unet_lora_layers=get_peft_model_state_dict(unet), safe_serialization=True)

    xl_unet = UNet2DConditionModel(**XL, **unet_kwargs)
    xl = StableDiffusionXLInpaintPipeline(vae=vae, text_encoder=CLIPTextModel(text_config(tokenizer)), tokenizer=tokenizer,
                                          text_encoder_2=CLIPTextModelWithProjection(text_config(tokenizer, projection_dim=32)),
                                          tokenizer_2=tokenizer, unet=xl_unet, scheduler=DDIMScheduler(), requires_aesthetics_score=False)
    xl.save_pretrained(root / "xl-inpaint")
    wake(ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(16, 32), **XL, **BLOCKS)).save_pretrained(root / "xl-controlnet")
    return {name: root / name for name in ("inpaint", "controlnet", "adapter", "lora", "xl-inpaint", "xl-controlnet")}


def request(disparity=None, prompt="a lake", seed=0):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 30, 38, generator=g)
    valid = torch.ones(1, 1, 30, 38, dtype=torch.bool)
    valid[..., 10:20, 5:25] = False
    d = torch.rand(1, 1, 30, 38, generator=g) if disparity is None else disparity
    return InpaintRequest(image * valid, valid, d, prompt=prompt, seed=seed)


@pytest.mark.parametrize("scheduler", ["ddim", "ddpm", "dpm++", "euler", "euler-a", "lcm"])
def test_sd_inpainting_keeps_visible_pixels_and_is_seeded(sd_folders, scheduler):
    inpaint = DiffusersInpainter(str(sd_folders["inpaint"]), scheduler=scheduler, steps=2, guidance=2.0)
    req = request()
    out = inpaint(req)
    torch.manual_seed(123)  # the global generator must not matter, even for stochastic samplers
    assert torch.equal(out, inpaint(req))
    assert out.shape == req.image.shape and torch.isfinite(out).all()
    keep = req.valid.expand_as(out)
    assert torch.equal(out[keep], req.image[keep]) and not torch.equal(out[~keep], req.image[~keep])


def ramp_pair(inpaint):
    ramp = torch.linspace(0, 2, 38).view(1, 1, 1, 38).expand(1, 1, 30, 38)
    return inpaint(request(disparity=ramp)), inpaint(request(disparity=ramp.flip(-1)))


@pytest.mark.parametrize("kind", ["controlnet", "adapter"])
def test_depth_control_conditions_the_fill(sd_folders, kind):
    inpaint = DiffusersInpainter(str(sd_folders["inpaint"]), **{kind: str(sd_folders[kind])}, steps=2, guidance=1.0)
    a, b = ramp_pair(inpaint)
    assert (a - b).abs().max() > 1e-5
    plain = DiffusersInpainter(str(sd_folders["inpaint"]), steps=2, guidance=1.0)
    assert torch.equal(*ramp_pair(plain))  # without it, depth does not reach the fill


def test_sdxl_with_depth_controlnet(sd_folders):
    inpaint = DiffusersInpainter(str(sd_folders["xl-inpaint"]), controlnet=str(sd_folders["xl-controlnet"]), steps=2, guidance=2.0)
    a, b = ramp_pair(inpaint)
    req = request()
    keep = req.valid.expand_as(a)
    assert inpaint.sdxl and torch.isfinite(a).all() and torch.equal(a[keep], req.image[keep])
    assert (a - b).abs().max() > 1e-5


@pytest.mark.parametrize("parts", [("inpaint", ""), ("inpaint", "controlnet"), ("inpaint", "adapter"), ("xl-inpaint", "xl-controlnet")],
                         ids=["sd", "controlnet", "adapter", "sdxl"])
def test_backends_keep_to_their_device(sd_folders, parts):
    """``cpu:0`` plays a GPU (tests/device_check.py): no host tensor meets a device one; results as on the host."""
    name, extra = parts
    control = {("adapter" if extra == "adapter" else "controlnet"): str(sd_folders[extra])} if extra else {}
    outs = []
    for device in ("cpu:0", "cpu"):
        with StandInDevice():
            inpaint = DiffusersInpainter(str(sd_folders[name]), **control, steps=2, guidance=2.0, device=device)
            outs.append(inpaint(request()))
        assert not on_device(outs[-1])  # handed back where the request came from
    assert torch.allclose(*outs, atol=1e-5)  # SDXL differs by ~1e-6: a copy to "cpu:0" can change a layout


def test_lora_is_fused_into_the_unet(sd_folders):
    base = DiffusersInpainter(str(sd_folders["inpaint"]), scheduler="lcm", steps=2, guidance=1.0)
    fast = DiffusersInpainter(str(sd_folders["inpaint"]), lora=str(sd_folders["lora"]), scheduler="lcm", steps=2, guidance=1.0)
    assert (base(request()) - fast(request())).abs().max() > 1e-5


def test_per_pixel_strength_refreshes_visible_pixels_only_where_asked(sd_folders):
    inpaint = DiffusersInpainter(str(sd_folders["inpaint"]), steps=4, guidance=1.0)
    req = request()
    strength = torch.zeros(1, 1, 30, 38)
    strength[..., 24:, :] = 0.5
    out = inpaint(InpaintRequest(req.image, req.valid, req.disparity, seed=0, strength=strength))
    kept, band = (strength == 0) & req.valid, (strength > 0) & req.valid
    assert torch.equal(out[kept.expand_as(out)], req.image[kept.expand_as(out)])
    assert (out - req.image)[band.expand_as(out)].abs().max() > 1e-3


def test_prompt_embeddings_are_computed_once_per_prompt(sd_folders):
    inpaint = DiffusersInpainter(str(sd_folders["inpaint"]), steps=1, guidance=2.0)
    for prompt in ("a lake", "a lake", "misty hills", "a lake"):
        inpaint(request(prompt=prompt))
    assert sorted(inpaint._embeddings) == ["a lake", "misty hills"]


def test_prompt_schedules():
    schedule = "0: misty forest, at dawn, 120: alpine lake"
    assert prompt_at(schedule, 0) == "misty forest, at dawn" and prompt_at(schedule, 119) == "misty forest, at dawn"
    assert prompt_at(schedule, 500) == "alpine lake" and prompt_at("just hills, 3 of them", 9) == "just hills, 3 of them"


def test_sd_backends_run_inside_perpetual_fly(sd_folders, tmp_path):
    f = {k: str(v) for k, v in sd_folders.items()}
    backends = {
        "plain": f'inpainter = "sd:{f["inpaint"]}"',
        "controlnet": f'inpainter = "sd:{f["inpaint"]}"\ncontrolnet = "{f["controlnet"]}"',
        "adapter": f'inpainter = "sd:{f["inpaint"]}"\nadapter = "{f["adapter"]}"',
        "lcm-lora": f'inpainter = "sd:{f["inpaint"]}"\nlora = "{f["lora"]}"\nscheduler = "lcm"',
        "sdxl-controlnet": f'inpainter = "sd:{f["xl-inpaint"]}"\ncontrolnet = "{f["xl-controlnet"]}"',
    }
    for name, models in backends.items():
        config = tmp_path / f"{name}.toml"
        config.write_text(f"[engine]\nrefresh = 0.2\n[models]\n{models}\nsteps = 2\nguidance = 1.5\n")
        out = tmp_path / f"{name}.mp4"
        args = ["fly", "--config", str(config), "--frames", "4", "--size", "64x64", "--trajectory", "pan-right", "--out", str(out), "--prompt", "0: hills, 2: a lake"]
        with StandInDevice():  # cpu:0 plays a GPU: a host tensor meeting a device one raises
            assert main([*args, "--device", "cpu:0"]) == 0 and out.stat().st_size > 0, name
