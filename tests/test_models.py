"""Model backends on tiny models built from configs, saved and loaded as real ones are (offline)."""

from dataclasses import replace

import pytest
import torch

from perpetual.align import despeckle_median
from perpetual.config import ModelSettings
from perpetual.models import ClassicalInpainter, InpaintRequest
from perpetual.models.depth import TransformersDepth, normalise
from perpetual.models.embedded import tiny_depth_model, tiny_inpainter_unet
from perpetual.models.loading import ModelMissing, resolve
from perpetual.models.pixel_diffusion import PixelDiffusionInpainter
from perpetual.models.registry import load_depth, load_inpainter, quiet_libraries
from perpetual.train.depth import ssi_loss

quiet_libraries()


@pytest.fixture(scope="module")
def depth_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("depth")
    torch.manual_seed(0)
    tiny_depth_model().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unet")
    torch.manual_seed(0)
    unet = tiny_inpainter_unet()
    torch.nn.init.normal_(unet.conv_out.weight, std=0.05)  # as if trained: not the plain fill
    unet.save_pretrained(folder)
    return folder


def request(seed=0, disparity=None, size=(1, 3, 30, 46)):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(size, generator=g)
    valid = torch.ones(size[0], 1, *size[2:], dtype=torch.bool)
    valid[..., 8:20, 10:30] = False
    d = torch.rand(size[0], 1, *size[2:], generator=g) if disparity is None else disparity
    return InpaintRequest(image * valid, valid, d, seed=seed)


def test_depth_model_loads_from_folder_and_handles_any_size(depth_folder):
    depth = TransformersDepth(str(depth_folder))
    out = depth(torch.rand(2, 3, 50, 71))
    assert out.shape == (2, 1, 50, 71) and (out >= 0).all() and torch.isfinite(out).all()
    # By default the model works at the size it was trained at (its config's 112), in multiples of its patch, 7.
    assert depth._working_size(50, 71) == (112, 161)
    assert TransformersDepth(str(depth_folder), resolution=0)._working_size(50, 71) == (112, 161)
    assert TransformersDepth(str(depth_folder), resolution=50)._working_size(50, 71) == (49, 70)
    assert TransformersDepth(str(depth_folder), resolution=28)._working_size(50, 71) == (28, 42)


@pytest.mark.parametrize("kind", [None, "relative"])
def test_hierarchical_depth_models_get_sizes_of_their_total_stride(tmp_path, kind):
    """GLPN (Mix Transformer): sides in multiples of 32, metric depth inverted unless the config says relative."""
    from transformers import GLPNConfig, GLPNForDepthEstimation

    extra = {"depth_estimation_type": kind} if kind else {}
    config = GLPNConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
                        decoder_hidden_size=8, max_depth=10, **extra)
    torch.manual_seed(0)
    GLPNForDepthEstimation(config).save_pretrained(tmp_path)
    depth = TransformersDepth(str(tmp_path))
    assert depth._working_size(50, 71) == (64, 64) and depth.metric == (kind is None)
    image = torch.rand(1, 3, 50, 71)
    x = torch.nn.functional.interpolate(image, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        pred = depth.model(pixel_values=normalise(x)).predicted_depth.unsqueeze(1)
    pred = torch.nn.functional.interpolate(pred, size=(50, 71), mode="bilinear", align_corners=False)
    expected = 1.0 / pred.clamp_min(1e-3) if kind is None else pred
    assert torch.allclose(depth(image), expected, rtol=1e-4, atol=1e-5)

def test_inpainter_keeps_visible_pixels_and_is_seeded(unet_folder):
    inpaint = PixelDiffusionInpainter(str(unet_folder), steps=2)
    req = request()
    a, b, c = inpaint(req), inpaint(req), inpaint(request(seed=5))
    assert a.shape == req.image.shape
    assert torch.equal(a[req.valid.expand_as(a)], req.image[req.valid.expand_as(a)])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_untrained_inpainter_is_the_classical_fill():
    req = request()
    fill = PixelDiffusionInpainter(steps=3, unet=tiny_inpainter_unet())(req)
    assert torch.allclose(fill, ClassicalInpainter()(req), atol=1e-5)


def test_per_pixel_strength_refreshes_only_where_asked(unet_folder):
    inpaint = PixelDiffusionInpainter(str(unet_folder), steps=4)
    req = request()
    strength = torch.zeros_like(req.valid, dtype=torch.float32)
    strength[..., :, :5] = 0.3  # a lightly refreshed band of visible pixels
    out = inpaint(InpaintRequest(req.image, req.valid, req.disparity, strength=strength))
    band, kept = strength.bool() & req.valid, ~strength.bool() & req.valid
    assert torch.equal(out[kept.expand_as(out)], req.image[kept.expand_as(out)])
    assert (out - req.image)[band.expand_as(out)].abs().max() > 1e-3


def test_depth_conditioning_changes_the_fill(unet_folder):
    inpaint = PixelDiffusionInpainter(str(unet_folder), steps=2)
    near = inpaint(request(disparity=torch.full((1, 1, 30, 46), 3.0)))
    far = inpaint(request(disparity=torch.zeros(1, 1, 30, 46)))
    assert (near - far).abs().max() > 1e-4


def test_registry_builds_what_configs_name(depth_folder, unet_folder):
    models = ModelSettings(depth=str(depth_folder), inpainter=str(unet_folder), steps=2)
    assert isinstance(load_depth(models), TransformersDepth)
    assert isinstance(load_inpainter(models), PixelDiffusionInpainter)
    image = torch.rand(1, 3, 40, 60)
    plain, despeckled = (load_depth(replace(models, depth_despeckle=width))(image) for width in (0, 5))
    scale = plain.abs().max()  # a tiny random model's disparities are small: compare relative to them
    assert (despeckled - despeckle_median(plain, 5)).abs().max() < 1e-4 * scale  # the setting reaches the model
    assert (despeckled - plain).abs().max() > 1e-2 * scale  # and it acted


def test_missing_models_give_one_line_naming_the_download_command(tmp_path):
    for name in ("someone/not-cached-model", str(tmp_path / "nothing-here")):
        with pytest.raises(ModelMissing, match="perpetual download") as err:
            resolve(name)
        assert "\n" not in str(err.value)


def test_ssi_loss_ignores_scale_and_shift():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 8, 8, generator=g), torch.rand(2, 8, 8, generator=g)
    assert torch.allclose(ssi_loss(3.0 * pred + 0.7, target), ssi_loss(pred, target), atol=1e-5)
    assert ssi_loss(2.0 * target - 1.0, target) < 1e-8


def test_download_and_fly_with_a_missing_model_say_one_line(tmp_path):
    import os
    import subprocess
    import sys

    config = tmp_path / "hub.toml"
    config.write_text('[models]\ndepth = "someone/not-cached-depth-model"\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for args in (["download", str(config)], ["fly", "--config", str(config), "--frames", "2", "--out", str(tmp_path / "o.mp4")]):
        result = subprocess.run([sys.executable, "-m", "perpetual.cli", *args], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_the_embedded_depth_model_ships_and_loads():
    depth = TransformersDepth("embedded:depth")
    out = depth(torch.rand(1, 3, 56, 70))
    assert out.shape == (1, 1, 56, 70) and torch.isfinite(out).all()


def test_a_depth_model_that_overflows_half_precision_falls_back_to_float32():
    """The embedded model's activations overflow fp16 (it predicted inf on an H100's default dtype)."""
    from perpetual.world import World, WorldSettings

    _, view = World(WorldSettings(seed=0)).start_view(128, 128)
    full = TransformersDepth("embedded:depth", device="cpu")(view.image)
    half = TransformersDepth("embedded:depth", device="cpu", dtype=torch.float16)
    out = half(view.image)
    assert half.dtype == torch.float32 and torch.allclose(out, full)  # switched: fp16 gave non-finite values
    bf16 = TransformersDepth("embedded:depth", device="cpu", dtype=torch.bfloat16)(view.image)
    ground = view.disparity > 0
    assert ((bf16 - full).abs() / full.clamp_min(1e-3))[ground].median() < 0.01  # bf16 (the CUDA default) holds


def test_the_embedded_inpainter_ships_loads_in_float32_and_is_not_the_plain_fill():
    inpaint = PixelDiffusionInpainter("embedded:inpainter", steps=1, device="cpu")
    assert all(p.dtype == torch.float32 for p in inpaint.unet.parameters())  # stored in float16
    req = request()
    out = inpaint(req)
    holes = ~req.valid.expand_as(out)
    assert torch.isfinite(out).all() and torch.equal(out[~holes], req.image[~holes])
    assert (out - ClassicalInpainter()(req))[holes].abs().mean() > 1e-3  # trained: it corrects the fill


def test_the_default_config_runs_both_embedded_models():
    from perpetual.config import load_config

    models = load_config("default").models
    assert models.depth == "embedded:depth" and models.inpainter == "embedded:inpainter"
    inpainter = load_inpainter(models)
    assert isinstance(inpainter, PixelDiffusionInpainter) and inpainter.steps == 1  # the one step it is trained for


def test_one_parser_reads_every_kind_of_model_name(tmp_path):
    from perpetual.models.names import parse

    assert [(n.kind, n.backend, n.source) for n in map(parse, [
        "classical", "ground-plane", "embedded:depth", str(tmp_path), "sd:" + str(tmp_path), "sd:org/sd-inpaint", "org/depth", ""])] == [
        ("builtin", "", "classical"), ("builtin", "", "ground-plane"), ("embedded", "", "embedded:depth"), ("folder", "", str(tmp_path)),
        ("folder", "sd", str(tmp_path)), ("hub", "sd", "org/sd-inpaint"), ("hub", "", "org/depth"), ("none", "", "")]
    assert [parse(n).needs_download for n in ("org/depth", "sd:org/x", "embedded:inpainter", str(tmp_path), "classical")] == [
        True, True, False, False, False]
