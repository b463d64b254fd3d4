"""Colour reads at sub-pixel points: clamped Catmull-Rom against bilinear, alone and in the warp."""

import torch

from perpetual.geometry import pixel_grid
from perpetual.render import WarpSettings, warp
from perpetual.render.sampling import catmull_rom, sample, sample_where
from tests.conftest import camera, pose, smooth_image


def test_catmull_rom_is_exact_at_pixel_centres_and_on_ramps():
    image = torch.rand(2, 3, 9, 13)
    grid = pixel_grid(9, 13).expand(2, 2, 9, 13)
    assert torch.allclose(catmull_rom(image, grid), image, atol=1e-6)
    ramp = (0.5 * torch.arange(13.0) + 0.25 * torch.arange(9.0).view(9, 1)).expand(1, 1, 9, 13)
    uv = grid[:1] * 0.6 + 1.3  # interior points (all four taps inside) at fractional offsets
    expected = 0.5 * uv[:, 0:1] + 0.25 * uv[:, 1:2]
    assert torch.allclose(catmull_rom(ramp, uv), expected, atol=1e-5)


def test_catmull_rom_stays_within_the_nearest_pixels():
    step = torch.zeros(1, 1, 8, 16)
    step[..., 8:] = 1.0  # a hard edge: plain cubic rings on both sides of it
    uv = pixel_grid(8, 16) + torch.tensor([0.3, 0.0]).view(1, 2, 1, 1)
    out = catmull_rom(step, uv)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[..., :6], step[..., :6]) and torch.equal(out[..., 9:15], step[..., 9:15])


def test_a_read_of_part_of_a_frame_is_the_whole_read_there_and_0_elsewhere():
    image = torch.rand(1, 3, 9, 13)
    uv = pixel_grid(7, 11) * 1.1 + 0.37
    where = torch.rand(1, 1, 7, 11, generator=torch.Generator().manual_seed(0)) < 0.4
    for mode in ("bilinear", "cubic"):
        part = sample_where(image, uv, where, mode)
        inside = where.expand_as(part)
        assert torch.allclose(part[inside], sample(image, uv, mode)[inside]) and not part[~inside].any()
    assert not sample_where(image, uv, torch.zeros_like(where), "cubic").any()


def test_repeated_half_pixel_reads_keep_detail_that_bilinear_loses():
    texture = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    shift = pixel_grid(64, 64) + torch.tensor([0.5, 0.5]).view(1, 2, 1, 1)
    back = pixel_grid(64, 64) - torch.tensor([0.5, 0.5]).view(1, 2, 1, 1)
    energy = {}
    for mode in ("bilinear", "cubic"):
        x = texture
        for i in range(10):  # there and back, as keyframe after keyframe
            x = sample(x, shift if i % 2 == 0 else back, mode)
        inner = x[..., 8:-8, 8:-8]
        energy[mode] = float(inner.var())
    assert energy["cubic"] > 3 * energy["bilinear"]
    assert energy["cubic"] <= float(texture.var())  # never amplifies


def test_cubic_warp_matches_bilinear_where_it_must():
    H, W = 24, 40
    image = smooth_image(H, W)
    disparity = torch.full((1, 1, H, W), 0.5)
    disparity[..., 8:16, 10:20] = 1.0  # a box in front of a plane
    K, move = camera(H, W), pose(translation=(-0.31, 0.02, 0.0))
    cubic = warp(image, disparity, K, move, settings=WarpSettings(sampling="cubic"))
    linear = warp(image, disparity, K, move)
    assert torch.equal(cubic.valid, linear.valid) and torch.equal(cubic.disparity, linear.disparity)
    identity = warp(image, disparity, K, pose(), settings=WarpSettings(sampling="cubic"))
    assert torch.allclose(identity.image, image, atol=1e-5)
    # The only colour differences are sub-pixel detail on smooth surfaces, never across the box edge.
    assert (cubic.image - linear.image).abs().max() < 0.05
    assert cubic.image.min() >= 0 and cubic.image.max() <= 1
