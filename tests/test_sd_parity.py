"""Our denoising loop against diffusers' own pipelines, on the same tiny weights and the same seed.

Each backend is built from configs with a VAE that downsamples 8x as SD's does and CLIP's real
BPE vocabulary, saved with ``save_pretrained`` and loaded through our loader. The reference is the
diffusers pipeline called as its documentation shows (``strength=1.0``, ``generator=``,
``output_type="pt"``) on the image our inpainter prepares (holes pre-filled, float32, sides already
a multiple of the UNet's stride, so nothing is padded). Forward pre-hooks record every input the
UNet and ControlNet receive on both sides; the inputs, the fill inside the holes and the final
composite must agree to float tolerance.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from perpetual.models import InpaintRequest
from tests.architectures import clip_tokenizer
from perpetual.models.base import composite
from perpetual.models.registry import quiet_libraries
from perpetual.models.sd import SCHEDULERS, DiffusersInpainter, control_image
from perpetual.render import fill_holes
from tests.test_sd import wake

quiet_libraries()
TOL = 1e-4
H, W = 32, 48  # latents 4 x 6: a multiple of the tiny UNet's stride (16), no padding
SD_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
                    steps_offset=1)  # SD 1.5's scheduler_config.json
BLOCKS = dict(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8, attention_head_dim=4,
              down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"))
UP = ("UpBlock2D", "CrossAttnUpBlock2D")


def _text(tokenizer, projection: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                            max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
                            projection_dim=projection or 32)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(8, 8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=4, sample_size=64)


def _xl(aesthetics: bool = False) -> dict:
    ids = 5 if aesthetics else 6
    return dict(addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 * ids + 32,
                cross_attention_dim=64)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """SD inpainting (9-ch), plain (4-ch), LCM-distilled and v-prediction variants, SDXL inpainting (and a
    refiner-style one), depth ControlNets for SD and SDXL, and a depth T2I-Adapter."""
    from diffusers import (ControlNetModel, DDIMScheduler, StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline, T2IAdapter,
                           UNet2DConditionModel)

    root = tmp_path_factory.mktemp("parity")
    tokenizer = clip_tokenizer(root / "tokenizer")
    torch.manual_seed(0)

    def sd(name, in_channels=9, **unet):
        pipe = StableDiffusionInpaintPipeline(
            vae=_vae(), text_encoder=_text(tokenizer), tokenizer=tokenizer, scheduler=DDIMScheduler(**SD_SCHEDULER),
            unet=UNet2DConditionModel(sample_size=8, in_channels=in_channels, out_channels=4, cross_attention_dim=32, up_block_types=UP,
                                      **BLOCKS, **unet),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(root / name)

    def sdxl(name, aesthetics=False):
        unet = UNet2DConditionModel(sample_size=8, in_channels=9, out_channels=4, up_block_types=UP, **BLOCKS, **_xl(aesthetics))
        StableDiffusionXLInpaintPipeline(
            vae=_vae(), text_encoder=_text(tokenizer), tokenizer=tokenizer, text_encoder_2=_text(tokenizer, projection=32),
            tokenizer_2=tokenizer, unet=unet, scheduler=DDIMScheduler(**SD_SCHEDULER), requires_aesthetics_score=aesthetics,
        ).save_pretrained(root / name)

    sd("inpaint")
    sd("plain", in_channels=4)
    sd("lcm-distilled", time_cond_proj_dim=16)
    shutil.copytree(root / "inpaint", root / "v-prediction")
    config = root / "v-prediction" / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "prediction_type": "v_prediction"}))
    sdxl("xl-inpaint")
    sdxl("xl-refiner", aesthetics=True)
    wake(ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(8, 8, 16, 16), cross_attention_dim=32,
                          **BLOCKS)).save_pretrained(root / "controlnet")
    wake(ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(8, 8, 16, 16), **_xl(), **BLOCKS)).save_pretrained(root / "xl-controlnet")
    T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=1, downscale_factor=8, adapter_type="full_adapter").save_pretrained(root / "adapter")
    return root


def make_request(all_holes: bool = False, seed: int = 3, batch: int = 1) -> InpaintRequest:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, H, W, generator=g)
    valid = torch.ones(batch, 1, H, W, dtype=torch.bool)
    valid[..., 5:21, 9:30] = all_holes  # not on the 8-pixel grid: the latent mask's resize rule matters
    valid[..., 26:, 40:] = all_holes
    if all_holes:
        valid[:] = False
    rows = torch.linspace(0, 1, H).view(1, 1, H, 1)
    disparity = (rows + 0.3 * torch.rand(batch, 1, H, W, generator=g)).clamp_min(0)
    return InpaintRequest(image * valid, valid, disparity, prompt="a misty alpine lake at dawn, pine forest", seed=seed)


class Recorder:
    """Every call's inputs to a module, by argument name, from a forward pre-hook."""

    def __init__(self, module, names: tuple[str, ...]):
        self.calls: list[dict] = []
        self.names = names
        self.handle = module.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        call = dict(zip(self.names, args))
        for key, value in kwargs.items():
            if value is None or key in ("return_dict", "cross_attention_kwargs") or (key == "guess_mode" and value is False):
                continue
            call[key] = list(value) if isinstance(value, list) else value  # the UNet pops the adapter's list
        self.calls.append(call)


def _flatten(prefix: str, value) -> dict:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(f"{prefix}.{key}", item).items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(f"{prefix}[{i}]", item).items()}
    return {prefix: value}


def compare_calls(ours: list[dict], theirs: list[dict]) -> dict[str, float]:
    """Max abs difference per input name over all calls; names, shapes and non-tensors must match exactly."""
    assert len(ours) == len(theirs), f"{len(ours)} calls vs {len(theirs)}"
    diffs: dict[str, float] = {}
    for a, b in zip(ours, theirs):
        fa, fb = _flatten("", a), _flatten("", b)
        assert sorted(fa) == sorted(fb), f"inputs differ: {sorted(set(fa) ^ set(fb))}"
        for key in fa:
            x, y = fa[key], fb[key]
            if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
                x, y = torch.as_tensor(x), torch.as_tensor(y)
                assert x.shape == y.shape, f"{key}: {tuple(x.shape)} vs {tuple(y.shape)}"
                d = (x.double() - y.double()).abs().max().item() if x.numel() else 0.0
            else:
                assert x == y, f"{key}: {x!r} vs {y!r}"
                d = 0.0
            diffs[key.lstrip(".")] = max(diffs.get(key.lstrip("."), 0.0), d)
    return diffs


def run_both(ours: DiffusersInpainter, pipe, req: InpaintRequest, call: dict, controlnet_pair=None):
    """Ours and the pipeline's output ``(B, 3, H, W)`` with every recorded UNet / ControlNet input."""
    unet_names, control_names = ("sample", "timestep"), ("sample", "timestep")
    recorders = [Recorder(ours.pipe.unet, unet_names), Recorder(pipe.unet, unet_names)]
    if controlnet_pair:
        recorders += [Recorder(controlnet_pair[0], control_names), Recorder(controlnet_pair[1], control_names)]
    try:
        out = ours(req)
        ref = pipe(**call, generator=torch.Generator().manual_seed(req.seed), output_type="pt").images
        if not isinstance(ref, torch.Tensor):  # the adapter pipeline hands "pt" back as numpy (B, H, W, 3)
            ref = torch.from_numpy(ref).permute(0, 3, 1, 2)
    finally:
        for r in recorders:
            r.handle.remove()
    diffs = {f"unet.{k}": v for k, v in compare_calls(recorders[0].calls, recorders[1].calls).items()}
    if controlnet_pair:
        diffs |= {f"controlnet.{k}": v for k, v in compare_calls(recorders[2].calls, recorders[3].calls).items()}
    return out, ref, diffs


def inpainting_call(req: InpaintRequest, ours: DiffusersInpainter) -> dict:
    return dict(prompt=[req.prompt] * len(req.image), negative_prompt=[ours.negative_prompt] * len(req.image) if ours.negative_prompt else None,
                image=fill_holes(req.image, req.valid), mask_image=(~req.valid).float(), height=H, width=W, strength=1.0,
                num_inference_steps=ours.steps, guidance_scale=ours.guidance)


def check(out, ref, req, diffs):
    holes = (~req.valid).expand_as(out)
    diffs["fill in the holes"] = (out[holes] - ref[holes]).abs().max().item()
    diffs["final composite"] = (out - composite(req, ref)).abs().max().item()
    print("max abs difference:", {k: f"{v:.1e}" for k, v in diffs.items()})  # the table, with pytest -s
    bad = {k: v for k, v in diffs.items() if v > TOL}
    assert not bad, f"differences over {TOL}: {bad}"
    assert diffs["fill in the holes"] < TOL and ref[holes].std() > 1e-3  # a real fill, not a constant
    return diffs


def _pipeline(cls, folder, scheduler: str, **parts):
    import diffusers

    pipe = cls.from_pretrained(folder, **parts)
    pipe.scheduler = getattr(diffusers, SCHEDULERS[scheduler]).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Backend x scheduler: our loop against StableDiffusion(XL)InpaintPipeline.
CASES = [
    ("inpaint", "ddim", 2.5, ""), ("inpaint", "dpm++", 2.5, "blurry, low quality"), ("inpaint", "euler", 2.5, ""),
    ("inpaint", "euler-a", 2.5, ""), ("inpaint", "ddim", 1.0, ""),
    ("plain", "ddim", 2.5, ""), ("plain", "dpm++", 2.5, ""), ("plain", "euler", 2.5, "blurry"),
    ("v-prediction", "ddim", 2.5, ""), ("lcm-distilled", "lcm", 4.0, ""),
    ("xl-inpaint", "ddim", 2.5, ""), ("xl-inpaint", "dpm++", 2.5, "blurry"), ("xl-inpaint", "euler", 2.5, ""),
    ("xl-refiner", "ddim", 2.5, "blurry"),
]


@pytest.mark.parametrize("name, scheduler, guidance, negative", CASES, ids=["-".join(map(str, c[:3])) for c in CASES])
def test_inpainting_matches_the_diffusers_pipeline(folders, name, scheduler, guidance, negative):
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    ours = DiffusersInpainter(str(folders / name), scheduler=scheduler, steps=4, guidance=guidance, negative_prompt=negative, device="cpu")
    cls = StableDiffusionXLInpaintPipeline if name.startswith("xl") else StableDiffusionInpaintPipeline
    req = make_request(batch=2 if name == "inpaint" and scheduler == "ddim" and guidance > 1 else 1)
    out, ref, diffs = run_both(ours, _pipeline(cls, folders / name, scheduler), req, inpainting_call(req, ours))
    check(out, ref, req, diffs)
    assert diffs["unet.timestep"] == 0.0 and diffs["unet.encoder_hidden_states"] == 0.0


@pytest.mark.parametrize("xl", [False, True], ids=["sd", "sdxl"])
@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler"])
def test_depth_controlnet_matches_the_controlnet_inpaint_pipeline(folders, xl, scheduler):
    from diffusers import ControlNetModel, StableDiffusionControlNetInpaintPipeline, StableDiffusionXLControlNetInpaintPipeline

    name, control = ("xl-inpaint", "xl-controlnet") if xl else ("inpaint", "controlnet")
    ours = DiffusersInpainter(str(folders / name), controlnet=str(folders / control), scheduler=scheduler, steps=3, guidance=2.5,
                              control_scale=0.7, device="cpu")
    cls = StableDiffusionXLControlNetInpaintPipeline if xl else StableDiffusionControlNetInpaintPipeline
    pipe = _pipeline(cls, folders / name, scheduler, controlnet=ControlNetModel.from_pretrained(folders / control))
    req = make_request()
    call = inpainting_call(req, ours) | dict(control_image=control_image(req.disparity, 3), controlnet_conditioning_scale=0.7)
    out, ref, diffs = run_both(ours, pipe, req, call, controlnet_pair=(ours.controlnet, pipe.controlnet))
    check(out, ref, req, diffs)
    assert diffs["controlnet.controlnet_cond"] == 0.0


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "euler"])
def test_depth_adapter_matches_the_adapter_pipeline(folders, scheduler):
    """A 4-channel UNet with every pixel a hole is text-to-image: StableDiffusionAdapterPipeline's job,
    given the noise our loop drew (the second draw of the seed's generator, after the image latents)."""
    from diffusers import StableDiffusionAdapterPipeline, T2IAdapter

    ours = DiffusersInpainter(str(folders / "plain"), adapter=str(folders / "adapter"), scheduler=scheduler, steps=3, guidance=2.5,
                              control_scale=0.8, device="cpu")
    pipe = _pipeline(StableDiffusionAdapterPipeline, folders / "plain", scheduler, adapter=T2IAdapter.from_pretrained(folders / "adapter"),
                     safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    req = make_request(all_holes=True)
    gen = torch.Generator().manual_seed(req.seed)
    pipe.vae.encode(fill_holes(req.image, req.valid) * 2 - 1).latent_dist.sample(gen)
    noise = torch.randn(1, 4, H // 8, W // 8, generator=gen)
    call = dict(prompt=req.prompt, image=control_image(req.disparity, 3), height=H, width=W, num_inference_steps=3, guidance_scale=2.5,
                adapter_conditioning_scale=0.8, latents=noise)
    out, ref, diffs = run_both(ours, pipe, req, call)
    check(out, ref, req, diffs)
    assert any(k.startswith("unet.down_intrablock_additional_residuals") for k in diffs)


def test_the_clip_tokenizer_is_clips_and_long_prompts_warn_once(folders):
    tokenizer = clip_tokenizer(folders / "tokenizer-check")
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]  # as CLIP tokenizes it
    ours = DiffusersInpainter(str(folders / "inpaint"), steps=1, guidance=1.0, device="cpu")
    req = make_request()
    long = InpaintRequest(req.image, req.valid, req.disparity, prompt=" ".join(["mountain"] * 90))
    with pytest.warns(UserWarning, match="first 77") as caught:
        ours(long)
        ours(long)
    assert len(caught) == 1
