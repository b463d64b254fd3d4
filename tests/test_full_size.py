"""The real layouts load: full-size SD 1.5 inpainting and Depth Anything V2 Small with random
weights, saved in their checkpoints' layout and loaded by folder through the normal code path."""

import shutil

import pytest
import torch

from perpetual.models import InpaintRequest
from perpetual.models.architectures import depth_anything_v2_small, sd15_inpainting
from perpetual.models.depth import TransformersDepth
from perpetual.models.registry import quiet_libraries
from perpetual.models.sd import DiffusersInpainter

quiet_libraries()


@pytest.fixture
def scratch(tmp_path):
    """A folder removed as soon as the test ends: the full-size weights take about 5 GB, and
    pytest would otherwise keep the last three runs' copies on disk."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_full_size_sd15_inpainting_and_depth_anything_small_load_and_run(scratch):
    torch.manual_seed(0)
    depth = TransformersDepth(str(depth_anything_v2_small(scratch / "da-v2-small")), resolution=70)
    assert sum(p.numel() for p in depth.model.parameters()) == pytest.approx(24.8e6, rel=0.01)
    image = torch.rand(1, 3, 64, 96)
    disparity = depth(image)
    assert disparity.shape == (1, 1, 64, 96) and torch.isfinite(disparity).all()

    inpaint = DiffusersInpainter(str(sd15_inpainting(scratch / "sd15")), steps=1, guidance=2.0, device="cpu")
    assert sum(p.numel() for p in inpaint.pipe.unet.parameters()) == pytest.approx(859.5e6, rel=0.001)
    valid = torch.ones(1, 1, 64, 96, dtype=torch.bool)
    valid[..., 16:48, 24:72] = False
    out = inpaint(InpaintRequest(image * valid, valid, disparity, prompt="hills", seed=1))
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.equal(out[valid.expand_as(out)], image[valid.expand_as(out)])
