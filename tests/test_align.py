"""Depth maths between frames (perpetual.align): alignment, scale rule, floating ground."""

import math

import pytest
import torch
from kornia.filters import median_blur

from perpetual.align import (align_disparity, clear_floating_ground, deepen_far_land, despeckle_median, ground_under_horizon,
                             median_depth_scale, snap_to_edges)
from perpetual.geometry import intrinsics_from_fov


def test_align_disparity_recovers_scale_and_shift_despite_outliers():
    g = torch.Generator().manual_seed(0)
    estimate = torch.rand(1, 1, 32, 32, generator=g) + 0.1
    target = 2.5 * estimate + 0.3
    target[..., :3, :] = 9.0  # a band of bad pixels
    fitted = align_disparity(estimate, target, torch.ones_like(estimate, dtype=torch.bool))
    assert torch.allclose(fitted[..., 3:, :], 2.5 * estimate[..., 3:, :] + 0.3, atol=5e-3)  # least squares alone: off by ~0.8


def test_median_depth_scale_makes_the_median_ground_depth_one():
    disparity = torch.tensor([0.0, 0.5, 0.25, 0.2, 0.0]).view(1, 1, 1, 5)
    assert abs(float((1 / (disparity[disparity > 0] * median_depth_scale(disparity))).median()) - 1) < 1e-6


def test_small_ground_floating_in_the_sky_becomes_sky_and_the_rest_stays():
    d = torch.zeros(1, 1, 128, 128)
    d[..., 80:, :] = 1.0  # ground up to the bottom edge
    d[..., 40:80, 100:110] = 0.8  # a peak rising from it
    d[..., 10:16, 30:50] = 0.4  # a dark patch of sky the estimator took for ground
    out = clear_floating_ground(d)
    assert (out[..., 10:16, 30:50] == 0).all()
    assert torch.equal(out[..., 16:, :], d[..., 16:, :])
    d[..., 5:60, 10:70] = 0.6  # a large floating thing (over 2% of the view) is kept
    assert torch.equal(clear_floating_ground(d), d)
    side = torch.zeros(1, 1, 64, 64)
    side[..., 5:20, :6] = 0.5  # touching the side edge: a cliff entering the view, kept
    assert torch.equal(clear_floating_ground(side), side)


def test_snap_to_edges_pulls_a_smeared_depth_edge_onto_the_colour_edge():
    image = torch.zeros(1, 3, 32, 32)
    image[..., 16:] = torch.tensor([0.8, 0.6, 0.3]).view(1, 3, 1, 1)  # a cliff face from column 16
    truth = torch.where(torch.arange(32) >= 16, 2.0, 0.2).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    smeared = torch.nn.functional.avg_pool2d(truth, (1, 9), 1, (0, 4), count_include_pad=False)
    snapped = snap_to_edges(smeared, image, spacing=2)
    jump = lambda d: float((d[..., 16] - d[..., 15]).mean())  # noqa: E731
    assert jump(smeared) < 0.25 and jump(snapped) > 1.2  # the true jump is 1.8
    assert (snapped - truth).abs().mean() < 0.85 * (smeared - truth).abs().mean()
    flat = torch.full((1, 1, 8, 8), 0.7)
    assert torch.allclose(snap_to_edges(flat, torch.rand(1, 3, 8, 8)), flat)  # constants stay put
    despeckled = snap_to_edges(smeared, image, spacing=2, despeckle=5)
    assert jump(despeckled) > 1.2 and (despeckled - truth).abs().mean() < 0.85 * (smeared - truth).abs().mean()


def test_snap_to_edges_leaves_a_slope_under_grass_smooth_when_despeckled():
    """The colour weights copy a texture into the depth; a slope under it would tear at every speck."""
    generator = torch.Generator().manual_seed(0)
    grass = 0.3 + 0.4 * torch.rand(1, 3, 64, 64, generator=generator)  # every pixel its own colour
    slope = torch.linspace(0.2, 2.0, 64).view(1, 1, 64, 1).expand(1, 1, 64, 64).contiguous()
    roughness = lambda d: float((d.diff(dim=-2).abs().mean() + d.diff(dim=-1).abs().mean()))  # noqa: E731
    assert roughness(snap_to_edges(slope, grass, spacing=4)) > 3 * roughness(slope)  # the speckle
    despeckled = snap_to_edges(slope, grass, spacing=4, despeckle=5)
    assert roughness(despeckled) < 1.3 * roughness(slope)
    assert (despeckled - slope)[..., 8:-8, 8:-8].abs().mean() < 0.015  # and still the slope


def test_despeckle_median_keeps_a_stalk_that_a_plain_median_flattens():
    """A stalk two pixels wide against the sky or far land is a structure, not a speck."""
    sky = torch.zeros(1, 1, 32, 32)
    land = torch.full((1, 1, 32, 32), 0.2)
    for behind in (sky, land):
        stalk = behind.clone()
        stalk[..., 4:28, 15:17] = 0.5
        assert median_blur(stalk, 5)[..., 8:24, 15:17].max() == behind.max()  # a plain median flattens it
        assert torch.equal(despeckle_median(stalk, 5), stalk)
    rippled = land * (1 + 0.05 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(despeckle_median(rippled, 5), median_blur(rippled, 5))  # a ripple is a speck


def _lake(horizon_disparity: float) -> torch.Tensor:
    """``(1, 1, 60, 80)``: sky over the top third, then land whose disparity rises linearly from
    ``horizon_disparity`` at the skyline to 2 at the bottom, scaled to median depth 1."""
    rows = torch.linspace(horizon_disparity, 2.0, 40).view(1, 1, 40, 1).expand(1, 1, 40, 80)
    disparity = torch.cat([torch.zeros(1, 1, 20, 80), rows], dim=2)
    return disparity * median_depth_scale(disparity)


def test_deepen_far_land_takes_the_skyline_land_far_and_keeps_the_median_and_the_near_land():
    lake = _lake(0.5)
    deep = deepen_far_land(lake)
    land = lake > 0
    assert torch.equal(deep == 0, lake == 0)  # the sky stays sky
    assert float(deep[0, 0, 20].quantile(0.1)) == pytest.approx(0.1, rel=1e-4)  # the skyline land, far
    assert median_depth_scale(deep) == pytest.approx(1.0, abs=1e-6)
    near = land & (lake >= 1.0)
    assert torch.equal(deep[near], lake[near]) and near.float().mean() > 0.3
    order = lake[0, 0, 20:, 0]
    assert bool((deep[0, 0, 21:, 0] > deep[0, 0, 20:-1, 0]).all()) and bool((order[1:] > order[:-1]).all())


def test_deepen_far_land_leaves_land_already_far_and_a_photo_with_no_skyline():
    far = _lake(0.05)
    assert torch.equal(deepen_far_land(far), far)
    room = _lake(0.5)
    room[..., :20, 3:] = 1.0  # sky in only three of the 80 columns: a window, not a skyline
    assert torch.equal(deepen_far_land(room), room)


def _level_lake(H: int, W: int, horizon: int, height: float) -> tuple[torch.Tensor, float, torch.Tensor]:
    """A camera ``height`` above a level lake, its horizon on row ``horizon`` of an ``H`` x ``W``
    view (60 degrees high): its intrinsics ``(1, 3, 3)``, its tilt (radians) and the lake's true
    disparity ``(1, 1, H, W)``, sky (0) down to the horizon row."""
    K = intrinsics_from_fov(60.0, H, W).unsqueeze(0).double()
    tilt = math.atan2(float(K[0, 1, 2]) - horizon, float(K[0, 1, 1]))
    rows = torch.arange(H, dtype=torch.float64).view(1, 1, H, 1)
    drop = (rows - K[0, 1, 2]) / K[0, 1, 1] * math.cos(tilt) + math.sin(tilt)
    water = (drop / height).clamp_min(0.0).expand(1, 1, H, W).clone()
    water[..., : horizon + 1, :] = 0.0
    return K, tilt, water


def test_ground_under_horizon_takes_a_shore_read_near_out_to_the_level_ground_and_keeps_what_stands_near():
    """A camera 0.3 above a level lake, its horizon 9.5 rows above the middle (tilted down): the
    model reads the band just under the horizon (a far shore) at 0.8, farther than the median but
    far nearer than the water there. That band goes out to the plane the land's implied heights
    give (no farther than disparity 0.1), and the far shore's trees on the horizon as far; a
    person at the median depth whose head reaches the horizon keeps the model's reading, as do
    the columns where a tree rises high above the horizon, and the water already on the plane."""
    H, W, horizon = 60, 80, 20
    K, tilt, water = _level_lake(H, W, horizon, 0.3)
    read = water.clone()
    read[..., horizon + 1 : horizon + 5, :] = 0.8  # the far shore read near
    read[..., horizon + 1 : H, 30:34] = 1.5  # a person standing at the median depth
    read[..., 5:, 70:] = 0.9  # a tree rising above the horizon
    read[..., horizon - 1 : horizon + 1, 10:20] = 0.7  # trees on the far shore, their tops two rows above the horizon
    held = ground_under_horizon(read, K, tilt)
    assert torch.allclose(held[..., horizon - 1 : horizon + 1, 10:20], torch.tensor(0.1, dtype=torch.float64))
    shore = held[..., horizon + 1 : horizon + 5, :30]
    assert torch.allclose(shore, water[..., horizon + 1 : horizon + 5, :30].clamp_min(0.1), rtol=0.05)
    assert float(shore.max()) < 0.3
    kept = torch.ones_like(read, dtype=torch.bool)
    kept[..., horizon + 1 : horizon + 5, :70] = False
    kept[..., horizon - 1 : horizon + 1, 10:20] = False
    kept[..., horizon + 1 : horizon + 5, 30:34] = True
    assert torch.equal(held[kept], read[kept])


def test_ground_under_horizon_takes_sky_read_under_a_level_horizon_for_the_water_or_the_far_shore():
    """A misty lake whose side the model took for sky down to 25 rows under the horizon (the sky's
    reflection), and a gap between a far shore's trees it read as sky 4 rows down: both are the
    level ground the land gives. A ridge taken for the horizon that falls 2 rows over a quarter of
    the width leaves sky there, and all sky above the horizon stays."""
    H, W, horizon = 60, 80, 20
    K, tilt, water = _level_lake(H, W, horizon, 0.3)
    read = water.clone()
    read[..., horizon + 1 : horizon + 26, :12] = 0.0  # the lake's left side read as sky
    read[..., horizon + 1 : horizon + 5, 66:69] = 0.0  # a gap in the far shore
    read[..., horizon + 1 : horizon + 3, 30:50] = 0.0  # a ridge falling to just under the horizon
    held = ground_under_horizon(read, K, tilt)
    # The first row taken for ground: past 2% of the height under the horizon in a gap, past 5%
    # where the sky under the horizon spans as wide as a valley (the lake's side, 15% of the width).
    for columns, share in ((slice(66, 69), 0.02), (slice(0, 12), 0.05)):
        under = int(horizon + share * H) + 1
        assert torch.allclose(held[..., under:, columns], water[..., under:, columns].clamp_min(0.1), rtol=0.05)
        assert (held[..., horizon + 1 : under, columns] == 0).all()
    assert (held[..., : horizon + 1, :] == 0).all()
    assert (held[..., horizon + 1 : horizon + 3, 30:50] == 0).all()
