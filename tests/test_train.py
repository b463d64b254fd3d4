"""Training runs end to end (a few steps), resume, and produce models that load like real ones."""

import torch

from perpetual.evaluate import eval_depth, eval_inpainter
from perpetual.models.base import ClassicalInpainter, GroundPlaneDepth
from perpetual.models.depth import TransformersDepth
from perpetual.models.pixel_diffusion import PixelDiffusionInpainter
from perpetual.models.registry import quiet_libraries
from perpetual.train.data import TRAIN_SEEDS, make_pairs
from perpetual.train.depth import train_depth
from perpetual.train.inpainter import train_inpainter

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
    train_depth(tmp_path, steps=2, batch=2, pairs_count=4, size=28, save_every=1)
    final = train_depth(tmp_path, steps=3, batch=2, pairs_count=4, size=28, save_every=1)  # resumes at step 2
    import json

    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 3
    depth = TransformersDepth(str(final))
    assert depth(torch.rand(1, 3, 28, 28)).shape == (1, 1, 28, 28)


def test_inpainter_training_and_eval(tmp_path):
    final = train_inpainter(tmp_path, steps=2, batch=2, crop=16, pairs_count=4, size=28, sample_every=1)
    pairs = make_pairs(4, 28, TRAIN_SEEDS, worlds=1, seed=9)
    learned = eval_inpainter(PixelDiffusionInpainter(str(final), steps=2), pairs)
    classical = eval_inpainter(ClassicalInpainter(), pairs)
    for s in (learned, classical):
        assert 0 < s.psnr < 100 and -1 <= s.ssim <= 1 and 0 <= s.mae <= 1
    prior = eval_depth(GroundPlaneDepth(), pairs)
    assert 0 <= prior.delta_1 <= 1 and prior.abs_rel > 0
