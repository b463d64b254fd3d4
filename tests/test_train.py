"""Training runs end to end (a few steps), resume, and produce models that load like real ones."""

import json

import pytest
import torch

from perpetual.evaluate import eval_depth, eval_inpainter
from perpetual.models.base import ClassicalInpainter, GroundPlaneDepth
from perpetual.models.depth import TransformersDepth
from perpetual.models.pixel_diffusion import PixelDiffusionInpainter
from perpetual.models.registry import quiet_libraries
from perpetual.train.data import TRAIN_SEEDS, make_pairs
from perpetual.train.depth import DepthTraining, train_depth
from perpetual.train.inpainter import InpainterTraining, train_inpainter
from perpetual.train.skies import photographic_look, photographic_skies

quiet_libraries()


def test_pairs_are_what_the_loop_sees():
    pairs = make_pairs(4, 28, TRAIN_SEEDS, worlds=2, seed=3)
    assert len(pairs) == 4 and pairs.warped.shape == (4, 3, 28, 28) and pairs.warped.dtype == torch.uint8
    assert (~pairs.valid).any() and pairs.valid.any()
    ground = pairs.source_disparity.float() > 0
    median_depth = (1.0 / pairs.source_disparity.float()[ground]).median()
    assert abs(float(median_depth) - 1.0) < 0.2  # scene units: A's median depth is 1
    again = make_pairs(4, 28, TRAIN_SEEDS, worlds=2, seed=3)
    assert torch.equal(again.target, pairs.target)


def test_depth_training_resumes_and_loads(tmp_path):
    train_depth(tmp_path, DepthTraining(steps=2, batch=2, pairs=4, size=28, save_every=1))
    final = train_depth(tmp_path, DepthTraining(steps=3, batch=2, pairs=4, size=28, save_every=1))  # resumes at step 2
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 3
    from PIL import Image

    assert Image.open(tmp_path / "samples" / "step-000003.png").size == (3 * 28, 4 * 28)  # image | prediction | truth
    depth = TransformersDepth(str(final))
    assert depth(torch.rand(1, 3, 28, 28)).shape == (1, 1, 28, 28)


def test_photographic_skies_repaint_the_sky_only_and_differ_from_image_to_image(tmp_path):
    images = torch.full((8, 3, 56, 56), 0.5)
    sky = torch.zeros(8, 1, 56, 56, dtype=torch.bool)
    sky[:, :, :24] = True
    painted = photographic_skies(images, sky, torch.Generator().manual_seed(0))
    assert torch.equal(painted[:, :, 24:], images[:, :, 24:])
    assert painted.min() >= 0 and painted.max() <= 1
    top = painted[:, :, :24]
    assert (top - 0.5).abs().flatten(1).amax(1).min() > 0.05  # every sky repainted
    assert top.mean((2, 3)).std(0).max() > 0.1  # in colours that differ between images
    assert torch.equal(painted, photographic_skies(images, sky, torch.Generator().manual_seed(0)))
    looks = photographic_look(painted, torch.Generator().manual_seed(1))
    assert looks.shape == painted.shape and looks.min() >= 0 and looks.max() <= 1
    assert (looks - painted).abs().flatten(1).amax(1).min() > 0.01  # every image given a look of its own
    final = train_depth(tmp_path, DepthTraining(steps=1, batch=2, pairs=2, size=28, skies=1.0))  # every image's sky repainted
    assert (final / "model.safetensors").is_file()


def test_inpainter_training_and_eval(tmp_path):
    final = train_inpainter(tmp_path, InpainterTraining(steps=2, batch=2, crop=16, pairs=4, size=28, save_every=1))
    pairs = make_pairs(4, 28, TRAIN_SEEDS, worlds=1, seed=9)
    learned = eval_inpainter(PixelDiffusionInpainter(str(final), steps=2), pairs)
    classical = eval_inpainter(ClassicalInpainter(), pairs)
    for s in (learned, classical):
        assert 0 < s.psnr < 100 and -1 <= s.ssim <= 1 and 0 <= s.mae <= 1
    prior = eval_depth(GroundPlaneDepth(), pairs)
    assert 0 <= prior.delta_1 <= 1 and prior.abs_rel > 0


def test_eval_models_scores_the_configs_models(tmp_path):
    from perpetual.cli import main

    out = tmp_path / "scores.json"
    assert main(["eval", "models", "--pairs", "3", "--worlds", "1", "--size", "28", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())["scores"]
    assert 0 <= scores["depth embedded:depth"]["delta_1"] <= 1 and "inpainter classical" in scores
    assert 0 < scores["inpainter embedded:inpainter"]["psnr"] < 100  # the default config's inpainter
    assert main(["eval", "models", "--inpainter", "sd:x", "--pairs", "1"]) == 2


def test_finer_patches_see_the_image_as_the_coarse_model_sees_it_upsampled():
    """A 14-pixel-patch backbone carried over to 7-pixel patches embeds an image exactly as the
    original embeds it upsampled 2x (nearest), before position embeddings."""
    from transformers import Dinov2Config, Dinov2Model

    from perpetual.train.depth import finer_patches

    def backbone(patch):
        return Dinov2Model(Dinov2Config(image_size=4 * patch, patch_size=patch, hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=32))

    torch.manual_seed(0)
    coarse, fine = backbone(14), backbone(7)
    state = {f"backbone.{k}": v for k, v in coarse.state_dict().items()}
    carried = finer_patches(state, patch=7, grid=4)
    fine.load_state_dict({k.removeprefix("backbone."): v for k, v in carried.items()})
    image = torch.rand(1, 3, 28, 28)
    up = image.repeat_interleave(2, -1).repeat_interleave(2, -2)
    a = coarse.embeddings.patch_embeddings(up)
    b = fine.embeddings.patch_embeddings(image)
    assert torch.allclose(a, b, atol=1e-5)
    assert carried["backbone.embeddings.position_embeddings"].shape == (1, 17, 16)
    with pytest.raises(ValueError, match="DINOv2"):
        finer_patches({"decoder.weight": torch.zeros(1)}, patch=7, grid=4)  # e.g. a GLPN


def test_train_depth_cli_fine_tunes_from_a_model(tmp_path):
    from perpetual.cli import main

    args = ["train", "depth", "--steps", "1", "--batch", "2", "--pairs", "2", "--size", "28", "--init", "embedded:depth"]
    assert main([*args, "--out", str(tmp_path / "ft")]) == 0
    assert (tmp_path / "ft" / "final" / "model.safetensors").is_file()
    assert main(["train", "inpainter", "--init", "embedded:depth", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    assert main(["train", "depth", "--size", "30", "--out", str(tmp_path / "y")]) == 2  # not a multiple of 7
    assert not (tmp_path / "y").exists()
    assert main(["train", "depth", "--device", "foo", "--out", str(tmp_path / "z")]) == 2  # one line, nothing written
    assert not (tmp_path / "z").exists()
    with pytest.raises(SystemExit) as exit:  # a share, at most 1
        main(["train", "depth", "--skies", "2", "--out", str(tmp_path / "s")])
    assert exit.value.code == 2 and not (tmp_path / "s").exists()


def test_train_inpainter_cli_fine_tunes_the_shipped_model_and_never_overwrites_pairs(tmp_path):
    from diffusers import UNet2DModel

    from perpetual.cli import main
    from perpetual.models.loading import resolve

    out = tmp_path / "ft"
    args = ["train", "inpainter", "--steps", "1", "--batch", "2", "--pairs", "2", "--size", "28", "--crop", "28", "--out", str(out)]
    assert main([*args, "--init", "embedded:inpainter", "--lr", "1e-9", "--high-noise", "1"]) == 0
    tuned = UNet2DModel.from_pretrained(out / "final").conv_out.weight
    shipped = UNet2DModel.from_pretrained(resolve("embedded:inpainter")).conv_out.weight
    assert tuned.abs().max() > 0 and torch.allclose(tuned, shipped, atol=1e-3)  # a fresh model's is all zero
    pairs = out / "pairs-2-28.safetensors"
    before = pairs.read_bytes()
    pairs.rename(out / "pairs-3-28.safetensors")  # a file that does not hold what is asked for
    assert main([*args[:-2], "--pairs", "3", "--out", str(out)]) == 2
    assert (out / "pairs-3-28.safetensors").read_bytes() == before
    assert main([*args[:10], "--crop", "64", "--out", str(tmp_path / "c")]) == 2 and not (tmp_path / "c").exists()
    with pytest.raises(SystemExit) as exit:
        main([*args, "--high-noise", "2"])
    assert exit.value.code == 2


@pytest.mark.parametrize("model", ["depth", "inpainter"])
def test_training_on_an_accelerator_resumes_and_gives_the_hosts_model(tmp_path, model):
    from safetensors.torch import load_file

    from tests.device_check import StandInDevice

    def train(out, steps, device):
        if model == "depth":
            return train_depth(out, DepthTraining(steps=steps, batch=2, pairs=4, size=28, save_every=1), device=device)
        return train_inpainter(out, InpainterTraining(steps=steps, batch=2, crop=16, pairs=4, size=28, save_every=1), device=device)

    for steps in (1, 2):  # the second run resumes from the first's checkpoint
        host = train(tmp_path / "host", steps, "cpu")
        with StandInDevice():  # cpu:0 plays a GPU: a host tensor meeting a device one raises
            device = train(tmp_path / "device", steps, "cpu:0")
    weights = [load_file(str(next(folder.glob("*.safetensors")))) for folder in (host, device)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # the same batches, the same steps
