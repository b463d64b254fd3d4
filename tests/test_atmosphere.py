"""Aerial perspective: each surface's haze changed to that of its new distance before a warp."""

import math

import pytest
import torch

from perpetual.align import median_depth_scale
from perpetual.atmosphere import Atmosphere, carry_haze, estimate_atmosphere, ray_distance
from perpetual.geometry import intrinsics_from_fov
from perpetual.render import warp
from perpetual.world import World, WorldSettings
from perpetual.world.shading import HAZE

SIZE = 96


@pytest.fixture(scope="module")
def world_frame():
    """Seed 1's start view in scene units, its world scale and the world."""
    world = World(WorldSettings(seed=1, resolution=384))
    start = world.start_camera()
    K = intrinsics_from_fov(60.0, SIZE, SIZE).unsqueeze(0)
    view = world.render(start[None], K, SIZE, SIZE)
    scale = median_depth_scale(view.disparity)
    return world, start, K, view.image, view.disparity * scale, scale


def test_ray_distance_is_depth_on_the_axis_and_longer_off_it():
    K = intrinsics_from_fov(90.0, 3, 3).unsqueeze(0)  # centre pixel on the axis, corners 45° off in x and y
    d = ray_distance(torch.full((1, 1, 3, 3), 0.5), K)
    assert d[0, 0, 1, 1] == pytest.approx(2.0)
    assert d[0, 0, 0, 0] == pytest.approx(2.0 * math.sqrt(1 + 2 * (1 / 1.5) ** 2 * 1.0), rel=0.05)
    assert torch.isinf(ray_distance(torch.zeros(1, 1, 3, 3), K)).all()


def test_estimate_recovers_a_known_haze():
    """Random albedos at random distances, hazed with a known A and beta, under a strip of sky."""
    gen = torch.Generator().manual_seed(0)
    K = intrinsics_from_fov(60.0, 64, 64).unsqueeze(0)
    disparity = 1.0 / (0.5 + 6.0 * torch.rand(1, 1, 64, 64, generator=gen))
    disparity[..., :10, :] = 0
    A = torch.tensor([0.72, 0.80, 0.88]).view(1, 3, 1, 1)
    albedo = 0.1 + 0.4 * torch.rand(1, 3, 64, 64, generator=gen)
    t = torch.exp(-0.25 * ray_distance(disparity, K))  # Koschmieder's law, beta = 0.25
    image = torch.where(disparity > 0, A + (albedo - A) * t, A.expand(1, 3, 64, 64))
    estimate = estimate_atmosphere(image, disparity, K)
    assert torch.allclose(estimate.light, A, atol=1e-4)
    assert estimate.extinction == pytest.approx(0.25, rel=0.1)
    # Colours that do not fade with distance: no haze to undo.
    assert estimate_atmosphere(albedo, disparity, K).extinction < 0.02
    # No sky, no horizon to take the haze's colour from: nothing is changed, however the view fades.
    everywhere = disparity.clone()
    everywhere[..., :10, :] = 0.2
    assert estimate_atmosphere(image, everywhere, K).extinction == 0.0


def test_world_haze_is_estimated_from_the_start_view(world_frame):
    _, _, K, image, disparity, scale = world_frame
    estimate = estimate_atmosphere(image, disparity, K)
    # The horizon's sky is the haze colour plus some of the sun's glow.
    assert torch.allclose(estimate.light, HAZE.view(1, 3, 1, 1), atol=0.05)
    truth = scale / WorldSettings().fog_distance  # the world's extinction, per scene unit
    assert 0.5 * truth < estimate.extinction < 1.5 * truth


def test_warping_with_the_haze_matches_the_true_view_ahead(world_frame):
    """Fly half a scene unit forward: surfaces come nearer and lose haze in the true render; a
    warp that carries the haze along misses that by several dB."""
    world, start, K, image, disparity, scale = world_frame
    ahead = torch.eye(4)
    ahead[2, 3] = -0.5
    cam = ahead.clone()
    cam[:3, 3] *= scale
    truth = world.render((cam @ start)[None], K, SIZE, SIZE)

    def psnr(atmosphere: Atmosphere) -> float:
        warped = warp(carry_haze(image, disparity, K, ahead[None], atmosphere), disparity, K, ahead[None])
        shown = warped.image
        ground = (warped.valid & (truth.disparity > 0)).expand_as(shown)
        return -10 * math.log10(float(((shown - truth.image) ** 2)[ground].mean()))

    none = psnr(Atmosphere(HAZE.view(1, 3, 1, 1), 0.0))
    estimated = psnr(estimate_atmosphere(image, disparity, K))
    assert estimated > none + 2.0


def test_flights_carry_the_haze_with_the_distance():
    """Through the engine: flying forward with aerial perspective on matches the truth better."""
    from perpetual.config import apply_overrides, load_config
    from perpetual.engine import Flythrough
    from perpetual.flight_eval import evaluate_flight
    from perpetual.paths import forward

    world = World(WorldSettings(seed=0, resolution=384))
    path = forward(16, speed=0.04).with_size(SIZE, SIZE)
    scores = {}
    for on in (True, False):
        # The path flown as given (the clearance guard would slow it near the ground, and with it the haze's change).
        config = apply_overrides(load_config("classical"), [f"render.aerial_perspective={str(on).lower()}", "guard.on_clearance=off"])
        summary = evaluate_flight(world, Flythrough(config), path, short=16, truth_every=15).summary()
        scores[on] = (summary["short_psnr"], summary["ground_colour_vs_truth_last"])
    assert scores[True][0] > scores[False][0] + 1.0
    assert scores[True][1] < 0.5 * scores[False][1]


def test_carry_haze_changes_each_surface_by_its_own_new_distance_and_never_the_sky():
    from tests.conftest import ground_and_sky, pose

    S = 33
    K = intrinsics_from_fov(60.0, S, S).unsqueeze(0)
    image = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    disparity = ground_and_sky(S, S)
    disparity[..., S // 2, S // 2] = 0.5  # the centre pixel: a surface 2 units straight ahead
    atmosphere = Atmosphere(torch.tensor([0.7, 0.75, 0.8]).view(1, 3, 1, 1), 0.3)
    turned = carry_haze(image, disparity, K, pose(axis_angle=(0.0, 0.4, 0.0)), atmosphere)
    assert torch.allclose(turned, image, atol=1e-5)  # a turn in place changes no distance
    ahead = carry_haze(image, disparity, K, pose(translation=(0.0, 0.0, -0.5)), atmosphere)
    ratio = math.exp(-0.3 * 1.5) / math.exp(-0.3 * 2.0)  # 2 units away, then 1.5
    expected = 0.7 + (image[0, 0, S // 2, S // 2] - 0.7) * ratio
    assert float(ahead[0, 0, S // 2, S // 2]) == pytest.approx(float(expected.clamp(0, 1)), abs=1e-5)
    sky = (disparity == 0).expand_as(image)
    assert torch.equal(ahead[sky], image[sky])
    A = atmosphere.light  # nearer surfaces show more of their own colour: farther from the haze's
    assert ((ahead - A).abs()[~sky] >= (image - A).abs()[~sky] - 1e-6).all() and not torch.allclose(ahead[~sky], image[~sky])


def test_a_turn_with_haze_leaves_no_halo_along_the_skyline():
    """The renderer blends a skyline pixel with the sky beside it; haze changed per source pixel
    keeps each one's own (re-hazing the blend at its blended disparity tinted it by over 0.05)."""
    from tests.conftest import ground_and_sky, pose

    S = 64
    K = intrinsics_from_fov(60.0, S, S).unsqueeze(0)
    g = torch.Generator().manual_seed(1)
    disparity = ground_and_sky(S, S) * 0.05  # far land: its transmission at the floor
    image = torch.where(disparity > 0, 0.2 + 0.3 * torch.rand(1, 3, S, S, generator=g), torch.tensor([0.1, 0.15, 0.4]).view(1, 3, 1, 1))
    atmosphere = Atmosphere(torch.tensor([0.8, 0.8, 0.85]).view(1, 3, 1, 1), 0.5)
    T = pose(axis_angle=(0.013, 0.021, 0.0))  # a fraction of a pixel: skyline pixels blend
    plain = warp(image, disparity, K, T)
    carried = warp(carry_haze(image, disparity, K, T, atmosphere), disparity, K, T)
    valid = plain.valid.expand_as(image)
    assert (carried.image - plain.image)[valid].abs().max() < 1e-4
