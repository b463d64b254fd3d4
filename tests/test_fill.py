import pytest
import torch

from perpetual.render import complete_disparity, fill_holes, push_pull


def test_disparity_completion_prefers_the_background():
    d = torch.full((1, 1, 16, 32), 0.2)
    d[..., :, :12] = 1.0  # a near occluder on the left, far background on the right
    valid = torch.ones_like(d, dtype=torch.bool)
    valid[..., :, 12:18] = False  # the disocclusion strip beside the occluder
    filled = complete_disparity(d, valid)
    hole = filled[..., :, 12:18]
    assert torch.equal(filled[valid], d[valid])
    assert hole.mean() < 0.6 * (1.0 + 0.2) / 2  # far nearer the background than the midpoint
    assert (hole[..., 2:] - 0.2).abs().max() < 1e-6  # the background half of the hole is exact


def test_fill_keeps_valid_pixels_and_interpolates_smoothly():
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 3, 20, 40).contiguous()
    valid = torch.ones(1, 1, 20, 40, dtype=torch.bool)
    valid[..., 8:11, 18:22] = False
    out = fill_holes(ramp, valid)
    assert torch.equal(out[valid.expand_as(out)], ramp[valid.expand_as(ramp)])
    assert (out - ramp).abs().max() < 0.05


def test_constant_image_fills_with_the_constant():
    img = torch.full((2, 3, 9, 13), 0.3)
    valid = torch.rand(2, 1, 9, 13, generator=torch.Generator().manual_seed(0)) > 0.8
    assert torch.allclose(fill_holes(img, valid), img, atol=1e-6)
    assert torch.allclose(complete_disparity(img[:, :1], valid), img[:, :1], atol=1e-6)


@pytest.mark.parametrize("reduce", ["mean", "min"])
def test_degenerate_masks(reduce):
    img = torch.rand(1, 3, 7, 5)
    nothing = torch.zeros(1, 1, 7, 5, dtype=torch.bool)
    assert torch.equal(push_pull(img, nothing, reduce), torch.zeros_like(img))
    everything = torch.ones(1, 1, 7, 5, dtype=torch.bool)
    assert torch.equal(push_pull(img, everything, reduce), img)
    one = nothing.clone()
    one[..., 3, 2] = True
    out = push_pull(img, one, reduce)
    assert torch.isfinite(out).all() and torch.allclose(out, img[..., 3:4, 2:3].expand_as(img))


def test_unknown_reduce_is_a_value_error():
    with pytest.raises(ValueError, match="reduce"):
        push_pull(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.bool), "median")
