"""The real layouts load: full-size SD 1.5 inpainting, its depth ControlNet and Depth Anything V2 Small with random
weights, saved in their checkpoints' layout and loaded by folder through the normal code path."""

import shutil

import pytest
import torch

from perpetual.models import InpaintRequest
from tests.architectures import depth_anything_v2_small, sd15_controlnet_depth, sd15_inpainting
from perpetual.models.depth import TransformersDepth
from perpetual.models.hub import check_folder, select_files
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
def test_full_size_sd15_inpainting_controlnet_and_depth_anything_small_load_and_run(scratch):
    """As ``perpetual download sd15-controlnet-depth`` leaves them on a GPU machine: fp16 variant files
    (``*.fp16.safetensors``) of the pipeline and the ControlNet, Depth Anything's only copy."""
    torch.manual_seed(0)
    depth = TransformersDepth(str(depth_anything_v2_small(scratch / "da-v2-small")), resolution=70)
    assert depth.processor is not None
    assert sum(p.numel() for p in depth.model.parameters()) == pytest.approx(24.8e6, rel=0.01)
    image = torch.rand(1, 3, 64, 96)
    disparity = depth(image)
    assert disparity.shape == (1, 1, 64, 96) and torch.isfinite(disparity).all()

    sd, controlnet = sd15_inpainting(scratch / "sd15", variant="fp16"), sd15_controlnet_depth(scratch / "cn", variant="fp16")
    for folder in (sd, controlnet):
        listing = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
        assert select_files(listing, fp16=True) == sorted(listing) and any(".fp16.safetensors" in f for f in listing)
        assert all(not c.problem for c in check_folder(folder))
    inpaint = DiffusersInpainter(str(sd), controlnet=str(controlnet), steps=1, guidance=2.0, device="cpu")
    assert sum(p.numel() for p in inpaint.pipe.unet.parameters()) == pytest.approx(859.5e6, rel=0.001)
    assert inpaint.pipe.unet.dtype == torch.float32  # fp16 files, upcast for the CPU
    valid = torch.ones(1, 1, 64, 96, dtype=torch.bool)
    valid[..., 16:48, 24:72] = False
    out = inpaint(InpaintRequest(image * valid, valid, disparity, prompt="hills", seed=1))
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.equal(out[valid.expand_as(out)], image[valid.expand_as(out)])
