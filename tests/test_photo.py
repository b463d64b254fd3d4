"""Flights from a photo: the clearance guard on every path, how much of each view is still the
photo's, the sky prior, and ``perpetual eval photo``."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from perpetual.cli import main
from perpetual.config import Config, GuardSettings
from perpetual.engine import Flythrough
from perpetual.geometry import intrinsics_from_fov, invert_pose, look_at, pixel_grid
from perpetual.paths import CameraPath, forward, pan, rise
from perpetual.frame import MAGNIFIED
from perpetual.health import Health
from perpetual.paths.clearance import ClearanceGuard
from perpetual.paths.fit import Fit, fit_path, ground_height, hidden_sky, kept_detail, magnified_share
from perpetual.photo_eval import TARGETS, PhotoReport
from perpetual.sky import grow_sky, sky_prior, skyline_sky
from tests.conftest import model_free

SIZE = 32


def _wall(pose: torch.Tensor, at: float = 1.0) -> torch.Tensor:
    """The disparity ``(1, 1, S, S)`` of a wall across the view at ``z = at`` (world), seen from a
    camera at ``pose`` looking down +z."""
    z = at - float(invert_pose(pose)[2, 3])
    return torch.full((1, 1, SIZE, SIZE), 1.0 / max(z, 1e-6))


def _fly_guard(mode: str, path, clearance: float = 0.2) -> list:
    guard = ClearanceGuard(path, clearance, mode)
    K = intrinsics_from_fov(torch.tensor([60.0]), SIZE, SIZE)
    pose, progress, steps = path.poses[0], 0.0, []
    for t in range(1, len(path)):
        step = guard.next(t, progress, _wall(pose), K, pose)
        pose, progress = step.pose, step.progress
        steps.append(step)
    return steps


def _z(pose: torch.Tensor) -> float:
    return float(invert_pose(pose)[2, 3])


def _yaw(pose: torch.Tensor) -> float:
    """Degrees right of frame 0's heading that a ``cam_from_world`` ``(4, 4)`` looks."""
    return math.degrees(math.atan2(float(pose[2, 0]), float(pose[2, 2])))


def test_slow_keeps_the_clearance_from_a_wall_the_path_runs_into_and_glides_to_a_halt():
    path = forward(60, speed=0.05).with_size(SIZE, SIZE)  # 2.95 units straight into a wall 1 ahead
    steps = _fly_guard("slow", path)
    z = [_z(s.pose) for s in steps]
    assert max(z) <= 1.0 - 0.2 + 1e-9  # never closer than the clearance
    assert all(b >= a for a, b in zip(z, z[1:]))  # never backwards
    assert z[-1] > 0.7  # but it gets near: it slowed, it did not stop dead
    gaps = [b - a for a, b in zip(z, z[1:])]
    assert max(gaps[-20:]) < 0.01 and not any(s.broken for s in steps)
    assert steps[0].progress == 1.0 and steps[-1].progress < 20  # retimed: the path's far end was never reached
    assert steps[-1].slowed == "clearance"


def test_warn_flies_the_path_as_given_and_flags_every_frame_too_close_and_stop_holds():
    path = forward(40, speed=0.05).with_size(SIZE, SIZE)
    warned = _fly_guard("warn", path)
    assert torch.equal(torch.stack([s.pose for s in warned]), path.poses[1:])
    too_close = [t for t, s in enumerate(warned, start=1) if s.broken]
    assert too_close and too_close[0] == 17  # the step to z = 0.85 is the first within 0.2 of z = 1
    stopped = _fly_guard("stop", path)
    halt = next(t for t, s in enumerate(stopped, start=1) if s.broken)
    assert _z(stopped[-1].pose) == _z(stopped[halt - 1].pose) <= 0.8 + 1e-9


def test_turning_in_place_is_never_slowed():
    path = pan(20, degrees=60).with_size(SIZE, SIZE)
    steps = _fly_guard("slow", path, clearance=5.0)  # a clearance larger than the wall's distance
    assert [s.progress for s in steps] == [float(t) for t in range(1, 20)]
    assert all(math.isinf(s.free) and not s.slowed for s in steps)


def _classical(**guard) -> Config:
    return model_free(guard=GuardSettings(**guard))


def test_the_engine_guards_every_path_and_reports_what_is_magnified():
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    path = forward(60, speed=0.05).with_size(SIZE, SIZE)
    wall = torch.full((1, 1, SIZE, SIZE), 1.0)  # a wall across the view at the median depth, 1
    fly = Flythrough(_classical(max_magnified=1.0, fit=False), device="cpu")  # the path's own speed: the guard alone
    frames = list(fly.run(image, path, wall))
    assert max(_z(f.pose) for f in frames) <= 1.0 - fly.config.guard.clearance + 1e-6
    assert frames[-1].progress < 59 and not any(f.too_close for f in frames)
    assert frames[0].magnified_share == frames[0].invented_share == 0.0
    # Flown to 0.15 of the wall, it is shown ~6x larger than the photo showed it.
    assert frames[-1].magnified_share > 0.9 and frames[5].magnified_share == 0.0
    off = list(Flythrough(_classical(on_clearance="off"), device="cpu").run(image, path, wall))
    assert torch.equal(torch.stack([f.pose for f in off]), path.poses)



def test_the_path_slows_as_the_view_fills_with_magnified_land():
    """At the path's own speed, a path slows once a quarter of the view is land magnified beyond
    4x and halts at half: over a ground plane it ends short of where the unpaced flight ends."""
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    path = forward(80, speed=0.05).with_size(SIZE, SIZE)
    unpaced, paced = (list(Flythrough(_classical(max_magnified=m, fit=False), device="cpu").run(image, path)) for m in (1.0, 0.5))
    assert max(f.magnified_share for f in paced) <= 0.5
    assert _z(paced[-1].pose) < _z(unpaced[-1].pose) - 0.1
    assert _z(paced[-1].pose) - _z(paced[-2].pose) < 0.5 * 0.05  # moving at under half the path's speed
    assert paced[-1].progress < 70 and not any(f.too_close for f in paced)
    assert paced[-1].slowed == "magnified"


def test_panning_beyond_the_view_counts_as_invented():
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    frames = list(Flythrough(_classical(), device="cpu").run(image, pan(12, degrees=50).with_size(SIZE, SIZE), torch.ones(1, 1, SIZE, SIZE)))
    shares = [f.invented_share for f in frames]
    assert shares[0] == 0.0 and 0.5 < shares[-1] < 1.0 and shares == sorted(shares)


def test_sky_prior_finds_a_smooth_bright_or_blue_top_and_not_a_dark_roof():
    g = torch.Generator().manual_seed(0)
    rows = torch.linspace(0.6, 0.9, 48).view(1, 1, 48, 1).expand(1, 1, 48, 64)
    land = 0.3 + 0.2 * torch.rand(1, 3, 48, 64, generator=g)
    image = torch.cat([torch.cat([rows * 0.7, rows * 0.8, rows], dim=1), land], dim=2)  # (1, 3, 96, 64): sky over land
    found = sky_prior(image)
    assert found[..., :44, :].all() and not found[..., 50:, :].any()
    dusk = torch.cat([torch.cat([rows * 0.1, rows * 0.12, rows * 0.35], dim=1), land], dim=2)  # dark, but blue
    assert sky_prior(dusk)[..., :44, :].float().mean() > 0.95
    roof = torch.cat([torch.full((1, 3, 48, 64), 0.05), land], dim=2)  # smooth and dark at the top: not sky
    assert not sky_prior(roof).any()


def test_grow_sky_takes_a_smooth_far_band_below_the_sky_and_not_far_hills_or_a_near_wall():
    g = torch.Generator().manual_seed(0)
    top, bottom = torch.tensor([0.3, 0.3, 0.6]).view(1, 3, 1, 1), torch.tensor([0.35, 0.18, 0.25]).view(1, 3, 1, 1)
    ramp = torch.linspace(0, 1, 56).view(1, 1, 56, 1).expand(1, 1, 56, 64)
    land = 0.3 + 0.2 * torch.rand(1, 3, 40, 64, generator=g)
    image = torch.cat([torch.lerp(top, bottom, ramp), land], dim=2)  # (1, 3, 96, 64): blue sky fading to a dusk band
    estimate = torch.cat([torch.zeros(1, 1, 30, 64), torch.full((1, 1, 26, 64), 0.05),
                          torch.linspace(0.3, 1.0, 40).view(1, 1, 40, 1).expand(1, 1, 40, 64)], dim=2)
    sky = estimate == 0  # what the model calls sky: the top 30 rows
    grown = grow_sky(image, sky, estimate)
    assert grown[..., :54, :].all() and not grown[..., 58:, :].any()
    hills = image.clone()
    blocks = torch.rand(1, 3, 7, 16, generator=g).repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    hills[:, :, 30:56] = 0.2 + 0.3 * blocks[:, :, :26]  # textured, as far: distant land
    assert not grow_sky(hills, sky, estimate)[..., 34:, :].any()  # a block at the band's top may match the sky above it
    near = estimate.clone()
    near[:, :, 30:56] = 0.5  # smooth but near: a wall
    assert not grow_sky(image, sky, near)[..., 32:, :].any()
    inside = torch.zeros_like(sky)
    inside[:, :, 10:30] = True  # sky that does not reach the top edge does not grow
    assert torch.equal(grow_sky(image, inside, estimate), inside)


def test_grow_sky_floods_a_dark_corner_of_the_sky_and_not_a_smooth_far_band_below_the_skyline():
    g = torch.Generator().manual_seed(0)
    rows = torch.linspace(0.6, 0.8, 40).view(1, 1, 40, 1).expand(1, 1, 40, 64)
    sky_colour = torch.cat([rows * 0.7, rows * 0.8, rows], dim=1)
    vignette = torch.linspace(0.7, 1.0, 12)
    vignette = torch.cat([vignette, torch.ones(52)]).view(1, 1, 1, 64)
    land = 0.3 + 0.2 * torch.rand(1, 3, 56, 64, generator=g)
    image = torch.cat([sky_colour * vignette, land], dim=2)  # (1, 3, 96, 64): sky darkening smoothly into the left edge
    estimate = torch.cat([torch.full((1, 1, 40, 64), 0.02), torch.linspace(0.3, 1.0, 56).view(1, 1, 56, 1).expand(1, 1, 56, 64)], dim=2)
    sky = torch.zeros(1, 1, 96, 64, dtype=torch.bool)
    sky[..., :40, 6:] = True  # the model and the colour test missed the six darkest columns
    grown = grow_sky(image, sky, estimate)
    assert grown[..., :36, :].all() and not grown[..., 42:, :].any()
    # Below the skyline (a thin dark shore line, gone only at the left edge) the smooth water, as
    # far as the sky to the model, stays land: the sky grown down the four edge columns does not
    # flood it.
    lake = torch.cat([sky_colour, sky_colour[:, :, -1:].expand(1, 3, 20, 64), land[:, :, 20:]], dim=2)
    lake[:, :, 40:42, 4:] = 0.1
    far = torch.cat([torch.full((1, 1, 60, 64), 0.02), estimate[:, :, 60:]], dim=2)
    sky = torch.zeros_like(sky)
    sky[..., :40, :] = True
    grown = grow_sky(lake, sky, far)
    assert grown[..., :56, :2].all() and not grown[..., 44:, 8:].any()


def _sunset() -> tuple[torch.Tensor, torch.Tensor]:
    """A sunset ``(1, 3, 96, 128)`` whose skyline is row 40, and a depth estimate ``(1, 1, 96, 128)``
    that reads all of it as land sloping up to the top edge."""
    g = torch.Generator().manual_seed(0)
    glow = torch.linspace(0, 1, 40).view(1, 1, 40, 1)
    sky = torch.lerp(torch.tensor([0.5, 0.5, 0.75]).view(1, 3, 1, 1), torch.tensor([0.8, 0.6, 0.45]).view(1, 3, 1, 1), glow)
    sky = sky.expand(1, 3, 40, 128).clone()  # blue fading to an orange glow
    for top, left, right in ((8, 10, 70), (18, 50, 120), (28, 0, 60)):
        sky[:, :, top : top + 4, left:right] *= 0.45  # slate clouds with sharp edges
    land = 0.08 + 0.1 * torch.rand(1, 3, 56, 128, generator=g)  # dark hills and shore
    return torch.cat([sky, land], dim=2), torch.linspace(0.3, 1.0, 96).view(1, 1, 96, 1).expand(1, 1, 96, 128)


def test_skyline_sky_takes_a_sunset_full_of_cloud_edges_down_to_the_skyline_and_not_a_tower():
    image, estimate = _sunset()
    found = torch.zeros(1, 1, 96, 128, dtype=torch.bool)
    found[..., :8, :] = True  # what the other rules find: the clear strip above the first cloud
    extended = skyline_sky(image, found, estimate)
    assert extended[..., :38, :].all() and not extended[..., 42:, :].any()
    tower = image.clone()
    tower[:, :, 24:40, 76:92] = 0.1  # a dark tower rising into the glow, as far as the sky to the model
    extended = skyline_sky(tower, found, estimate)
    assert extended[..., :22, 76:92].all() and not extended[..., 26:, 78:90].any()
    assert extended[..., :38, :72].all() and extended[..., :38, 96:].all()
    lake = image.clone()
    lake[:, :, 48:60] = 0.85  # a bright lake below the hills, over a darker shore: a stronger step, not a skyline
    extended = skyline_sky(lake, found, estimate)
    assert extended[..., :38, :].all() and not extended[..., 42:, :].any()
    hazy = estimate.clone()
    hazy[..., 8:40, :] = 0.04  # what the model reads as a far range, not as land sloping up: it has seen those
    assert torch.equal(skyline_sky(image, found, hazy), found)
    sliver = torch.ones(1, 1, 32, 32)
    sliver[..., :12, :], sliver[..., 12:16, :] = 1e-3, 0.2  # the model's sky, far ground, near ground
    for seed in (8, 9, 10):  # noise: what the model calls sky in it is no sky to follow down
        noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(skyline_sky(noise, sliver < 0.01, sliver), sliver < 0.01)
    portrait = found.clone()
    portrait[..., 40:] = False  # sky in under 60% of the columns' tops: a portrait, a room; left alone
    portrait[..., :8, 40:] = False
    assert torch.equal(skyline_sky(image, portrait, estimate), portrait)


def test_skyline_sky_takes_a_dim_side_of_the_sky_read_as_near_land_down_to_the_horizon():
    """A dusk sky darkening smoothly toward its left edge (summer_1am.jpg): the colour test stops
    early there and the model reads that side as land sloping down toward the camera, nearer than
    the land's median. The sky found runs down into it without an edge, so that near reading does
    not bound the skyline; a near wall with edges of its own still does."""
    g = torch.Generator().manual_seed(0)
    glow = torch.linspace(0, 1, 56).view(1, 1, 56, 1)
    sky = torch.lerp(torch.tensor([0.3, 0.3, 0.7]).view(1, 3, 1, 1), torch.tensor([0.95, 0.75, 0.8]).view(1, 3, 1, 1), glow)
    dim = torch.cat([torch.linspace(0.6, 1.0, 40), torch.ones(88)]).view(1, 1, 1, 128)
    water = 0.15 + 0.1 * torch.rand(1, 3, 40, 128, generator=g)
    image = torch.cat([sky * dim, water], dim=2)  # (1, 3, 96, 128): skyline at row 56
    estimate = torch.cat([torch.full((1, 1, 56, 128), 1e-3), torch.linspace(0.3, 1.0, 40).view(1, 1, 40, 1).expand(1, 1, 40, 128)], dim=2)
    estimate[..., :56, :40] = torch.linspace(0.0, 1.2, 56).view(56, 1)  # the dim side: land sloping toward the camera
    found = torch.zeros(1, 1, 96, 128, dtype=torch.bool)
    found[..., :56, 40:], found[..., :20, :40] = True, True  # the model's sky, and the colour test's on the dim side
    extended = skyline_sky(image, found, estimate)
    assert extended[..., :54, :].all() and not extended[..., 58:, :].any()
    wall = image.clone()
    wall[:, :, 30:56, :40] = 0.35 + 0.2 * torch.rand(1, 3, 26, 40, generator=g)  # a near building with edges, below dim sky
    extended = skyline_sky(wall, found, estimate)
    assert not extended[..., 32:, :36].any()


def test_a_photo_flight_takes_a_sunset_down_to_its_skyline_for_sky():
    image, estimate = _sunset()
    path = forward(2).with_size(128, 96)
    config = model_free()
    with_prior = replace(config, models=replace(config.models, sky_prior=True))
    disparity = Flythrough(with_prior, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    assert (disparity[..., :38, :] == 0).all() and (disparity[..., 42:, :] > 0).all()
    disparity = Flythrough(config, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    assert (disparity > 0).all()  # without the prior, the model's reading stands


def test_a_photo_flight_takes_the_land_under_its_sky_far_unless_told_not_to():
    """The model reads the land meeting the sky at a quarter of the median disparity (a lake's
    far shore at four times the median depth); frame 0 puts it at ``models.far_land`` (0.1), the
    median and the nearer land kept as read. 0 keeps the model's reading; a known depth (the
    world's) is never changed. (``models.ground_plane``, which would also take this level
    skyline's land far, is off here; it has its own test.)"""
    H, W = 96, 128
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    land = torch.linspace(0.5, 3.5, H - 32).view(1, 1, H - 32, 1).expand(1, 1, H - 32, W)
    estimate = torch.cat([torch.zeros(1, 1, 32, W), land], dim=2)
    path = forward(2).with_size(W, H)
    config = model_free()
    config = replace(config, models=replace(config.models, ground_plane=0.0))
    off = replace(config, models=replace(config.models, far_land=0.0))
    deep = Flythrough(config, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    read = Flythrough(off, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    known = Flythrough(config, device="cpu").start(image, path, read).disparity
    assert float(deep[..., 32, :].quantile(0.1)) == pytest.approx(0.1, rel=1e-3)
    assert float(read[..., 32, :].min()) == pytest.approx(0.25, rel=0.05)
    near = read >= 1.0
    assert torch.equal(deep[near], read[near]) and near.float().mean() > 0.3
    assert torch.equal(deep == 0, read == 0) and torch.allclose(known, read)


def _level_lake_photo() -> tuple[torch.Tensor, CameraPath, torch.Tensor]:
    """A 128x96 photo of a level lake (noise), its horizon on row 32, a path to fly from it and
    the lake's disparity ``(1, 1, 96, 128)`` as a plane (sky, 0, down to row 32; any scale)."""
    H, W = 96, 128
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    path = forward(2).with_size(W, H)
    K = path.intrinsics()[:1]
    tilt = math.atan2(float(K[0, 1, 2]) - 32, float(K[0, 1, 1]))
    rows = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1)
    water = ((rows - K[0, 1, 2]) / K[0, 1, 1] * math.cos(tilt) + math.sin(tilt)).clamp_min(0.0).expand(1, 1, H, W).clone()
    water[..., :33, :] = 0.0
    return image, path, water


def test_a_photo_flight_holds_the_land_under_a_level_horizon_to_a_level_ground_unless_told_not_to():
    """The model reads a level lake's water as a plane but its far shore, the rows just under the
    horizon, at the median depth's disparity less a little: frame 0 takes that band out toward the
    plane (``models.ground_plane``), keeps the median depth at 1 and the water's shape (every depth
    scaled alike); 0 keeps the model's reading, and a known depth (the world's) is never changed."""
    image, path, water = _level_lake_photo()
    estimate = water.clone()
    estimate[..., 33:37, :] = 0.9 * float(water[water > 0].median())  # the shore: farther than the median, but near
    estimate = estimate * 0.3  # any scale: the engine sets the median depth
    config = replace(model_free(), models=replace(model_free().models, far_land=0.0))
    off = replace(config, models=replace(config.models, ground_plane=0.0))
    held = Flythrough(config, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    read = Flythrough(off, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    known = Flythrough(config, device="cpu").start(image, path, read).disparity
    assert float(read[..., 33:37, :].min()) > 0.85
    assert float(held[..., 33:37, :].max()) < 0.5
    assert float((1.0 / held[held > 0]).median()) == pytest.approx(1.0, rel=1e-3)
    on_plane = (read > 0) & (torch.arange(read.shape[-2]).view(1, 1, -1, 1) >= 37)
    ratio = held[on_plane] / read[on_plane]
    assert float(ratio.max() - ratio.min()) < 1e-4  # the water scaled as a whole
    assert torch.equal(held == 0, read == 0) and torch.allclose(known, read)


def test_a_photo_flight_takes_sky_read_under_a_level_horizon_for_water_and_keeps_its_land_s_scale():
    """The model reads a misty lake's far water on the left as sky: frame 0 takes it for the water
    it is (``models.ground_plane``), and the median depth of the land the model read stays 1, so
    distances (the clearance, the pace) are what they would be without it."""
    image, path, water = _level_lake_photo()
    estimate = 0.3 * water
    estimate[..., 33:60, :40] = 0.0  # the far water on the left, mist and its reflection, read as sky
    config = replace(model_free(), models=replace(model_free().models, far_land=0.0))
    off = replace(config, models=replace(config.models, ground_plane=0.0))
    held = Flythrough(config, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    read = Flythrough(off, depth=lambda frame: estimate, device="cpu").start(image, path).disparity
    assert (held[..., 40:60, :40] > 0).all() and (read[..., 40:60, :40] == 0).all()
    assert float((1.0 / held[read > 0]).median()) == pytest.approx(1.0, rel=1e-3)


def test_a_real_dusk_photo_keeps_its_sky_on_the_embedded_default():
    skimage = pytest.importorskip("skimage")

    from perpetual.config import load_config
    from perpetual.io.images import load_image

    photo = Path(skimage.__file__).parent / "data" / "rocket.jpg"  # a launch pad under a dusk sky
    image = load_image(photo, 192, 128)
    config = load_config("default")
    fly = Flythrough(config, device="cpu")
    without = Flythrough(replace(config, models=replace(config.models, sky_prior=False)), fly.depth, fly.inpainter, device="cpu")
    path = forward(2).with_size(192, 128)
    shares = [float((f.start(image, path).disparity == 0).float().mean()) for f in (fly, without)]
    assert shares[0] > 0.4 > 2 * shares[1]  # about 55% of the frame is sky; the model alone finds a few per cent


def test_the_sky_ratio_counts_a_hundredth_of_the_frame_so_a_forest_losing_its_last_sky_pixels_keeps_its_sky():
    def ratio(*fractions: float) -> float:
        return PhotoReport(Health(0.15, "slow"), sky_fraction=list(fractions)).sky_ratio()

    assert ratio(0.002, 0.0) == pytest.approx(1.2)  # a few pixels between the leaves, then none
    assert ratio(0.4, 0.6) == pytest.approx(0.61 / 0.41)
    assert ratio(0.1, 0.05, 0.1) == pytest.approx(0.11 / 0.06) and 0.11 / 0.06 > TARGETS["sky_ratio"]  # half the sky lost
    assert ratio(0.0, 0.3) > 30  # sky where the photo had none


def test_photo_sharpness_counts_edges_not_grain_and_keeps_most_of_a_magnified_view():
    skimage = pytest.importorskip("skimage")
    import torch.nn.functional as F
    from kornia.filters import gaussian_blur2d

    from perpetual.structure import edge_energy, sharpness
    from perpetual.io.images import load_image

    photo = load_image(Path(skimage.__file__).parent / "data" / "camera.png", 192, 128)  # a photograph no one here made
    noise = torch.randn(1, 1, 128, 192, generator=torch.Generator().manual_seed(0))
    noise = noise - gaussian_blur2d(noise, (7, 7), (1.0, 1.0))  # fine isotropic grain
    grain = 0.5 + noise.expand(1, 3, 128, 192) * (sharpness(photo) / sharpness(noise.expand(1, 3, 128, 192))) ** 0.5
    assert sharpness(grain) == pytest.approx(sharpness(photo), rel=0.05)  # as "sharp" as the photo to the Laplacian
    assert edge_energy(grain) < 0.1 * edge_energy(photo)
    closer = F.interpolate(photo[..., 21:107, 32:160], size=(128, 192), mode="bicubic", align_corners=False)  # 1.5x
    assert edge_energy(closer) > 0.6 * edge_energy(photo) and sharpness(closer) < 0.5 * sharpness(photo)
    assert edge_energy(gaussian_blur2d(photo, (13, 13), (2.0, 2.0))) < 0.5 * edge_energy(photo)


def test_eval_photo_prints_a_table_writes_json_and_contact_sheets(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    pixels = (torch.rand(48, 64, 3, generator=g) * 255).byte().numpy()
    pixels[:16] = (120, 160, 230)  # a sky band
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    code = main(["eval", "photo", str(tmp_path / "photo.png"), "--trajectory", "forward,pan-left", "--frames", "8", "--size", "64x48",
                 "--config", "classical", "--json", str(tmp_path / "eval.json"), "--contact-sheets", str(sheets)])
    table = capsys.readouterr().out
    data = json.loads((tmp_path / "eval.json").read_text())
    assert [r["trajectory"] for r in data["runs"]] == ["forward", "pan-left"]
    met = [r["summary"]["targets_met"] for r in data["runs"]]
    assert code == (0 if all(met) else 1)
    assert "sharpness_min" in table and "pan-left" in table and "path_fitted_by" in table
    assert all(r["summary"]["path_fitted_by"] in ("", "clearance", "magnified", "hidden sky", "detail", "sky") for r in data["runs"])
    assert len(data["runs"][0]["sharpness"]) == 8 and data["runs"][0]["sharpness"][0] == 1.0
    assert len(data["runs"][0]["laplacian"]) == 8 and data["runs"][0]["laplacian"][0] == 1.0
    assert sorted(p.name for p in sheets.iterdir()) == ["photo-forward.png", "photo-pan-left.png"]
    assert main(["eval", "photo", str(tmp_path / "photo.png"), "--contact-sheets", str(tmp_path / "missing")]) == 2


def _sky_over_land(H: int, W: int) -> torch.Tensor:
    """A photo ``(1, 3, H, W)``: a smooth blue sky over textured land from row ``H // 2`` down, and a
    tower up its right edge (what lies beyond it, the inpainter continues as land)."""
    rows = torch.linspace(0.6, 0.9, H // 2).view(1, 1, H // 2, 1).expand(1, 1, H // 2, W)
    land = 0.25 + 0.2 * torch.rand(1, 3, H - H // 2, W, generator=torch.Generator().manual_seed(0))
    image = torch.cat([torch.cat([rows * 0.6, rows * 0.75, rows], dim=1), land], dim=2)
    image[..., : H // 2, -W // 8 :] = land[..., : H // 2, -W // 8 :] * 0.5  # a dark tower up the right edge
    return image


def test_the_skyline_is_the_median_lowest_sky_and_rays_above_it_are_sky():
    from perpetual.drift import Anchor

    disparity = torch.ones(1, 1, 40, 40)
    disparity[..., :20, :] = 0.0  # sky down to row 19...
    disparity[..., :, 30:] = 1.0  # ...but a tower over the last 10 columns
    K = intrinsics_from_fov(60.0, 40, 40).unsqueeze(0)
    anchor = Anchor(torch.rand(1, 3, 40, 40), disparity, torch.eye(4, dtype=torch.float64), K)
    above = anchor.above_skyline(torch.eye(4, dtype=torch.float64), K, (40, 40))
    assert above[..., :17, :].all() and not above[..., 18:, :].any()  # two pixels of margin; the tower is not the skyline
    assert Anchor(torch.rand(1, 3, 40, 40), torch.ones(1, 1, 40, 40), torch.eye(4), K).skyline is None


def test_the_sky_floor_is_where_almost_no_column_shows_sky_and_rays_below_it_are_land():
    from perpetual.drift import Anchor

    disparity = torch.ones(1, 1, 40, 40)
    disparity[..., :20, :30] = 0.0  # sky down to row 19 beside a tower...
    disparity[..., 20:30, 0] = 0.0  # ...and down to row 29 in one column: a gap, not the floor
    K = intrinsics_from_fov(60.0, 40, 40).unsqueeze(0)
    anchor = Anchor(torch.rand(1, 3, 40, 40), disparity, torch.eye(4, dtype=torch.float64), K)
    below = anchor.below_sky_floor(torch.eye(4, dtype=torch.float64), K, (40, 40))
    assert below[..., 22:, :].all() and not below[..., :21, :].any()  # two pixels of margin
    assert Anchor(torch.rand(1, 3, 40, 40), torch.ones(1, 1, 40, 40), torch.eye(4), K).below_sky_floor(torch.eye(4), K, (40, 40)) is None


@pytest.fixture(scope="module")
def camera_pan():
    """camera.png (a photograph no one here made) panned 30 degrees right over 40 frames at
    192x128, beyond the photographer, on the default config: frame 0 and the last frame."""
    skimage = pytest.importorskip("skimage")
    from perpetual.config import load_config
    from perpetual.io.images import load_image

    image = load_image(Path(skimage.__file__).parent / "data" / "camera.png", 192, 128)
    path = pan(40, degrees=30).with_size(192, 128)
    fly = Flythrough(load_config("default"), device="cpu")
    return fly.start(image, path), list(fly.run(image, path))[-1]


def test_a_pan_from_a_photo_grows_no_sky_below_the_lowest_sky_it_showed(camera_pan):
    """The inpainter continues camera.png's horizon beyond its edge. Without a floor the invented
    strips' sky crept down strip by strip (5% of the last view was sky below any sky frame 0
    showed; at 384x256 over 120 frames the horizon tilted)."""
    from perpetual.drift import Anchor

    first, last = camera_pan
    anchor = Anchor(first.image, first.disparity, first.pose, first.K)
    below = anchor.below_sky_floor(last.pose, first.K, last.image.shape[-2:])
    assert below.float().mean() > 0.5
    assert ((last.disparity == 0) & below).float().mean() < 0.01


def test_a_pan_from_a_photo_keeps_the_distances_frame_0_gave_its_land(camera_pan):
    """Each of the pan's 40 keyframes is rendered from the one before, its disparity resampled
    each time. Given frame 0's distances back wherever it shows frame 0's land
    (:class:`~perpetual.drift.AnchorLand`), the last keyframe's land matches frame 0's warped
    there within 5% on over 95% of it; left to the chain of resamplings, 0.91 (the soft depth
    edges then fail the tolerance, and keep their blurred pixels)."""
    from perpetual.render import warp

    first, last = camera_pan
    assert last.is_keyframe
    ideal = warp(first.image, first.disparity, first.K, (last.pose @ invert_pose(first.pose)).float().unsqueeze(0), first.K)
    land = ideal.valid & (ideal.disparity > 0) & (last.disparity > 0)
    assert land.float().mean() > 0.4  # half the last view is still the photo's
    within = land & ((last.disparity - ideal.disparity).abs() <= 0.05 * ideal.disparity)
    assert within.float().sum() / land.float().sum() > 0.95


def test_the_autopilot_from_a_photo_turns_away_before_it_flies_into_a_blur():
    """camera.png: the autopilot heads for the photographer. Unpaced (``guard.max_magnified=1``)
    it flies on until nearly half the view is his coat magnified over 4x; paced, it foresees that
    (frame 0's land followed ten steps on, its climb included), slows from an eighth of the view
    and glides to a halt at a quarter without crossing it, turns further toward the open field
    (18 degrees by frame 40, where the unpaced one turns 15; up to its bound over the photo, 21), and
    reports the frames it held back and the free space it kept. Its climb is paced with its step:
    rising over the ground, seen at a slant, magnifies it as much as flying toward it (climbing
    in place while held had taken the view to 0.263). Its speed is not fitted to the photo here
    (``fit=False``, as in the studio, which has no end to fit to): the pace is what holds it back."""
    skimage = pytest.importorskip("skimage")
    from perpetual.config import load_config
    from perpetual.io.images import load_image
    from perpetual.paths.autopilot import Autopilot

    W, H = 128, 80
    image = load_image(Path(skimage.__file__).parent / "data" / "camera.png", W, H)  # a photograph no one here made
    path = forward(70).with_size(W, H)
    config = load_config("default")
    flights = {}
    for most in (1.0, 0.5):
        pilot = Autopilot()
        fly = Flythrough(replace(config, guard=replace(config.guard, max_magnified=most)), device="cpu")
        flights[most] = (list(fly.run(image, path, autopilot=pilot, fit=False)), pilot)
    (unpaced, free), (paced, held) = flights[1.0], flights[0.5]
    assert max(f.magnified_share for f in unpaced) > 0.35 and not any(f.slowed for f in unpaced)
    shares = [f.magnified_share for f in paced]
    assert max(shares) <= 0.25 and shares[-1] > 0.24 and sum(f.slowed == "magnified" for f in paced) > 30
    # Nearing the quarter it all but stops: its whole move, climb included, is under a tenth of a step.
    centres = torch.stack([invert_pose(f.pose.double())[:3, 3] for f in paced[-5:]])
    assert float((centres[1:] - centres[:-1]).norm(dim=1).max()) < 0.1 * held.settings.speed
    assert _z(paced[-1].pose) < _z(unpaced[-1].pose) - 0.2
    assert _yaw(paced[40].pose) > _yaw(unpaced[40].pose) + 3  # held back, it turns faster
    assert _yaw(paced[-1].pose) <= held.heading_bound[1] + 1e-6
    assert all(0.15 < f.free_space < math.inf for f in paced[1:]) and not any(f.too_close for f in paced)


def _camera_autopilot() -> tuple:
    """camera.png at 128x80, the 40-frame forward plan an autopilot flies by, and the default Flythrough."""
    skimage = pytest.importorskip("skimage")
    from perpetual.config import load_config
    from perpetual.io.images import load_image

    image = load_image(Path(skimage.__file__).parent / "data" / "camera.png", 128, 80)  # a photograph no one here made
    return image, forward(40).with_size(128, 80), Flythrough(load_config("default"), device="cpu")


def test_the_autopilot_from_a_photo_turns_only_as_far_as_the_turn_keeps_to_it():
    """camera.png: the fit foresees the autopilot turning to its bound early on either side and
    flying on turned (:func:`~perpetual.paths.fit.fit_turn`); turned left, toward the
    photographer, his coat would take more of the sky from the view than ``guard.max_sky_change``
    allows, so that side's bound is cut short (a sixteenth further breaks that rule), and the
    right keeps its whole bound. Unfitted (the studio), both sides keep it."""
    from perpetual.paths.autopilot import Autopilot, photo_heading, turn_headings
    from perpetual.paths.fit import fit_path, turned_plan

    image, path, fly = _camera_autopilot()
    fitted, unfitted = Autopilot(), Autopilot()
    flight = fly.begin(image, path, autopilot=fitted)
    fly.begin(image, path, autopilot=unfitted, fit=False)
    bound = photo_heading(flight.Ks[:1], path.width)
    left, right = fitted.heading_bound
    assert 0 < left < 0.8 * bound and right == pytest.approx(bound)
    assert unfitted.heading_bound == pytest.approx((bound, bound))
    share = fitted.speed / fitted.settings.speed  # the plan's fitted speed
    limits = fly._fit_limits(flight.start, flight.anchor)

    def turned_left(degrees: float):
        turned = turned_plan(path, turn_headings(fitted.settings, -degrees, len(path)), share)
        return fit_path(turned, flight.start.disparity, flight.start.K, **limits)

    assert turned_left(left + bound / 16) == Fit(pytest.approx(0.75, abs=0.25), "sky")
    assert turned_left(left).share > turned_left(left + bound / 16).share


def test_open_sky_keeps_the_sky_of_a_photo_when_the_camera_turns_beyond_it():
    from perpetual.config import load_config
    from perpetual.drift import Anchor

    H = W = 64
    image, path = _sky_over_land(H, W), pan(16, degrees=45).with_size(W, H)
    config = load_config("default")  # open sky alone: engine.mirror_beyond has its own rule there (tests/test_beyond.py)
    fly = Flythrough(replace(config, engine=replace(config.engine, mirror_beyond=False)), device="cpu")
    first = fly.start(image, path)
    anchor = Anchor(first.image, first.disparity, first.pose, first.K)
    last = list(fly.run(image, path))[-1]
    rays = torch.linalg.inv(first.K[0].double()) @ torch.cat([pixel_grid(H, W).double().reshape(2, -1), torch.ones(1, H * W, dtype=torch.float64)])
    in_frame0 = (first.pose @ invert_pose(last.pose))[:3, :3] @ rays
    unseen = (first.K[0].double() @ in_frame0)[0] / in_frame0[2] > W - 0.5  # beyond frame 0's right edge
    new_sky = anchor.above_skyline(last.pose, first.K, (H, W)) & unseen.view(1, 1, H, W)
    assert new_sky.float().mean() > 0.2
    # Sky, not the tower continued (without open_sky about 90% of it is land). The few land pixels
    # left are the tower's edge, smeared into the sky by a fraction of a pixel at each keyframe
    # (the renderer draws the quad between a skyline pixel and the sky, docs/renderer.md).
    assert (last.disparity[new_sky] > 0).float().mean() < 0.15
    assert fly.begin(image, path).open_sky
    assert not fly.begin(image, path, first.disparity).open_sky  # a known depth (the world): left alone


def _wall_start(path) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((1, 1, SIZE, SIZE), 1.0), path.intrinsics()[:1]


def test_fit_speed_flies_a_path_only_as_far_as_the_start_image_holds():
    """Straight at a wall 1 ahead (it fills the view), 0.05 a frame: the fit stops where the camera
    would come within ``keep`` of it, or where the wall would show over ``limit`` times larger
    (at 1 / limit from it: the whole view at once)."""
    path = forward(60, speed=0.05).with_size(SIZE, SIZE)
    wall, K = _wall_start(path)
    near = fit_path(path, wall, K, most_magnified=0.25, limit=4.0, keep=0.3)
    assert near.share * 59 == pytest.approx(0.7 / 0.05, abs=0.1) and near.bound == "clearance"
    magnified = fit_path(path, wall, K, most_magnified=0.25, limit=4.0, keep=0.0)
    assert magnified.share * 59 == pytest.approx(0.75 / 0.05, abs=0.1) and magnified.bound == "magnified"
    turning = pan(20, degrees=60).with_size(SIZE, SIZE)
    assert fit_path(turning, *_wall_start(turning), most_magnified=0.25, limit=4.0, keep=0.3) == Fit(1.0, "")


def _ground(height: float, rise: float = 0.0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame 0 ``(disparity, K)`` of a camera ``height`` over ground that rises ``rise`` per unit
    ahead (``y = height - rise * z``, up is -y), sky above it."""
    K = intrinsics_from_fov(60.0, size, size).unsqueeze(0)
    v = pixel_grid(size, size)[0, 1:2].unsqueeze(0)  # (1, 1, S, S) pixel rows
    slope = (v - K[0, 1, 2]) / K[0, 1, 1] + rise  # y / z along each ray, less the ground's
    return torch.where(slope > 0, slope / height, torch.zeros_like(slope)), K


def test_a_camera_low_over_level_ground_flies_over_it_and_stops_short_of_ground_that_rises():
    """A camera 0.1 over a lawn, under the clearance: its nearest ground in view is farther than
    that, and the ground beneath it nearer. Level, the whole path flies over it; rising to the
    camera's height 1.5 ahead, the fit stops it short of the ground."""
    path = forward(60, speed=0.02).with_size(64, 64)
    level, K = _ground(0.1)
    assert ground_height(level, K, path.poses[0]) == pytest.approx(0.1, rel=1e-3)
    assert fit_path(path, level, K, most_magnified=1.0, limit=4.0, keep=0.3) == Fit(1.0, "")
    rising = fit_path(path, _ground(0.1, rise=0.1 / 1.5)[0], K, most_magnified=1.0, limit=4.0, keep=0.3)
    assert rising.bound == "clearance" and rising.share < 0.6


def _person_before_the_sky(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame 0 ``(disparity, K)``: sky over the top half, ground 4 away below it, and a slab 1
    away (a person) over the middle third of the columns, from the bottom up to a quarter of the view."""
    disparity = torch.full((1, 1, size, size), 0.25)
    disparity[..., : size // 2, :] = 0.0
    disparity[..., size // 4 :, size // 3 : 2 * size // 3] = 1.0
    return disparity, intrinsics_from_fov(60.0, size, size).unsqueeze(0)


def test_hidden_sky_counts_the_sky_that_nearer_land_covers_not_a_turn_or_a_pass():
    disparity, K = _person_before_the_sky()
    still = torch.eye(4)

    def moved(x: float = 0.0, z: float = 0.0, yaw: float = 0.0) -> torch.Tensor:
        c, s = math.cos(yaw), math.sin(yaw)
        T = torch.tensor([[c, 0.0, s, 0.0], [0.0, 1.0, 0.0, 0.0], [-s, 0.0, c, 0.0], [0.0, 0.0, 0.0, 1.0]])
        T[:3, 3] = torch.tensor([-x, 0.0, -z])
        return T

    assert hidden_sky(disparity, K, K, still) == 0.0
    assert hidden_sky(disparity, K, K, moved(yaw=0.3)) == 0.0  # a turn hides no sky
    near = hidden_sky(disparity, K, K, moved(z=0.5))  # halfway to the person: they fill twice the width
    assert 0.2 < near < 0.5
    assert 0.0 < hidden_sky(disparity, K, K, moved(z=0.25)) < near
    # Stepping sideways past them hides sky on one side and uncovers unseen sky on the other.
    assert hidden_sky(disparity, K, K, moved(x=0.5)) < near / 2
    assert hidden_sky(torch.ones(1, 1, 64, 64), K, K, moved(z=0.5)) == 0.0  # no sky to hide


def test_fit_speed_stops_a_path_before_near_land_hides_the_sky():
    disparity, K = _person_before_the_sky(SIZE)
    path = forward(60, speed=0.02).with_size(SIZE, SIZE)
    free = fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0).share
    kept = fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0, most_hidden=0.25).share
    assert kept < free
    assert fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0, most_hidden=0.25).bound == "hidden sky"
    end = path.pose_at(kept * 59) @ invert_pose(path.poses[0])
    assert 0.2 < hidden_sky(disparity, K, K, end) <= 0.25
    sliver = disparity.clamp_min(0.25)  # a room: a window just over the person's head is all its sky
    sliver[..., SIZE // 8 : SIZE // 4, 3 * SIZE // 8 : 5 * SIZE // 8] = 0.0
    assert fit_path(path, sliver, K, most_magnified=1.0, limit=4.0, keep=0.0, most_hidden=0.25).share == \
        fit_path(path, sliver, K, most_magnified=1.0, limit=4.0, keep=0.0).share


def test_the_predicted_magnified_share_is_what_the_flight_measures():
    """:func:`magnified_share` follows frame 0's points into a later view without rendering; the
    engine measures each frame's share through its chain of warps and keyframes. Over a ground
    plane they agree to within a tenth of the view; the prediction never counts more (a flight
    adds stretch over keyframes that the guard still watches)."""
    size = 64
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    path = forward(40, speed=0.05).with_size(size, size)
    fly = Flythrough(_classical(max_magnified=1.0, fit=False), device="cpu")
    frames = list(fly.run(image, path))
    first = fly.start(image, path)
    measured = [f.magnified_share for f in frames]
    predicted = [magnified_share(first.disparity, first.K, first.K, f.pose @ invert_pose(first.pose), MAGNIFIED) for f in frames]
    assert max(measured) > 0.3 and max(predicted) > 0.25  # the flight does magnify
    assert max(abs(m - p) for m, p in zip(measured, predicted)) < 0.1
    assert all(p <= m + 0.02 for m, p in zip(measured, predicted))


def test_land_beside_the_camera_near_its_plane_is_not_read_as_magnified_in_the_view():
    """Turned 90 degrees right, the camera stands where one column of frame 0's land straddles its
    plane: every other row is 1% farther, just in front of it, its neighbours above and below just
    behind. Those pixels land hundreds of thousands of pixels outside the view, and nothing of
    frame 0 lands in it; their footprints' bounding boxes span it (once read as a third of it)."""
    H, W = 32, 48
    K = intrinsics_from_fov(60.0, W, H).unsqueeze(0)
    disparity = torch.ones(1, 1, H, W)
    disparity[..., 1::2, :] = 1.0 / 1.01
    x = (W // 2 + 3 - float(K[0, 0, 2])) / float(K[0, 0, 0])  # the column's x at depth 1
    centre = torch.tensor([0.5 * (x + 1.01 * x), 0.0, 0.0], dtype=torch.float64)
    turned = look_at(centre, centre + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert magnified_share(disparity, K, K, turned, MAGNIFIED) == 0.0
    ahead = look_at(torch.tensor([0.0, 0.0, 0.8], dtype=torch.float64), torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64))
    assert magnified_share(disparity, K, K, ahead, MAGNIFIED) > 0.9  # 0.2 from that wall, it fills the view


def test_a_fitted_path_moves_on_every_frame_to_the_last_and_says_so():
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    path = forward(60, speed=0.05).with_size(SIZE, SIZE)
    wall = torch.full((1, 1, SIZE, SIZE), 1.0)
    frames = list(Flythrough(_classical(), device="cpu").run(image, path, wall))  # guard.fit is on by default
    z = [_z(f.pose) for f in frames]
    steps = [b - a for a, b in zip(z, z[1:])]
    assert min(steps) > 0  # moving to the last frame
    assert min(steps[:45]) > 0.99 * max(steps[:45])  # at an even pace (the guard may ease the last frames)
    # As near as the fit allows: the wall would show over 4x larger beyond z = 0.75 (it binds
    # before 1.5 times the clearance, z = 0.775); the guard eases the last frames a little short.
    assert 0.72 < z[-1] <= 0.75 + 1e-6
    assert not any(f.too_close for f in frames) and not any(f.slowed for f in frames[:45])
    health = Health(0.15, "slow", fit=True)
    for f in frames:
        health.add(f)
    assert any("fitted to what the start image holds" in line for line in health.messages(len(path)))


def test_the_autopilot_from_a_photo_flies_at_its_plans_fitted_speed_and_says_so():
    """camera.png: the autopilot's speed is fitted as its open-loop plan's (a forward flight of
    the same frames) would be, so it covers that distance over the whole flight instead of racing
    to the photographer and standing there; each frame's progress is the distance flown in the
    plan's frames, and the run summary says how far it got."""
    from perpetual.paths.autopilot import Autopilot

    image, path, fly = _camera_autopilot()
    fitted, unfitted = Autopilot(), Autopilot()
    frames = list(fly.run(image, path, autopilot=fitted))
    fly.begin(image, path, autopilot=unfitted, fit=False)
    share = fitted.speed / fitted.settings.speed
    assert unfitted.speed == unfitted.settings.speed and 0.05 < share < 0.9
    assert frames[-1].progress == pytest.approx(fitted.distance / fitted.settings.speed)
    assert frames[-1].progress <= share * (len(path) - 1) + 1e-6
    health = Health(0.15, "autopilot", fit=True)
    for f in frames:
        health.add(f)
    said = [line for line in health.messages(len(path)) if line.startswith("the autopilot flew as far as its plan's first")]
    assert len(said) == 1 and "fitted to what the start image holds" in said[0]
    # Its turns' bounds, as fitted (test_the_autopilot_from_a_photo_turns_only_as_far_as_the_turn_keeps_to_it).
    assert frames[0].turn_bound == fitted.heading_bound and health.summary()["autopilot_turn_bound"] == list(fitted.heading_bound)
    left, right = fitted.heading_bound
    assert f"the autopilot kept its heading within {left:.1f} degrees left and {right:.1f} right of frame 0's" in \
        "\n".join(health.messages(len(path)))


def _rocks_before_a_far_slope(size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame 0 ``(image, disparity, K)``: fine stripes (rocks) 0.5 away over the bottom third of
    the view, a smooth slope 5 away above them: nearly all of the photo's detail is near."""
    v = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1).expand(1, 1, size, size)
    u = torch.arange(size, dtype=torch.float32).view(1, 1, 1, size).expand(1, 1, size, size)
    near = v >= 2 * size // 3
    stripes = 0.5 + 0.4 * torch.sign(torch.sin(u * 1.3 + v * 0.4))
    image = torch.where(near, stripes, 0.3 + 0.4 * v / size).expand(1, 3, size, size).contiguous()
    disparity = torch.where(near, torch.tensor(2.0), torch.tensor(0.2))
    return image, disparity, intrinsics_from_fov(60.0, size, size).unsqueeze(0)


def test_kept_detail_foresees_a_rise_leaving_the_near_detail_behind_not_a_turn():
    image, disparity, K = _rocks_before_a_far_slope()

    def risen(height: float = 0.0, yaw: float = 0.0) -> torch.Tensor:
        c, s = math.cos(yaw), math.sin(yaw)
        T = torch.tensor([[c, 0.0, s, 0.0], [0.0, 1.0, 0.0, height], [-s, 0.0, c, 0.0], [0.0, 0.0, 0.0, 1.0]])
        return T  # camera up (-y) by height: the scene moves +y in its axes

    assert kept_detail(image, disparity, K, K, torch.eye(4)) == pytest.approx(1.0, abs=1e-4)
    assert kept_detail(image, disparity, K, K, risen(yaw=0.4)) == 1.0  # a turn alone leaves it to the mirror
    assert kept_detail(image, disparity, K, K, risen(0.01)) > 0.9
    assert kept_detail(image, disparity, K, K, risen(0.15)) < 0.5  # the rocks leave the bottom of the view
    assert kept_detail(image, disparity, K, K, risen(0.05)) > kept_detail(image, disparity, K, K, risen(0.1))


def test_fit_speed_stops_a_rise_before_the_view_keeps_too_little_of_the_photo():
    image, disparity, K = _rocks_before_a_far_slope(SIZE)
    path = rise(60, speed=0.005).with_size(SIZE, SIZE)
    free = fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0).share
    fitted = fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0, image=image, least_detail=0.55)
    kept = fitted.share
    assert free == 1.0 and kept < 0.8 and fitted.bound == "detail"
    views = [path.pose_at(p) @ invert_pose(path.poses[0]) for p in torch.linspace(0.0, kept * 59, 8).tolist()]
    held = [kept_detail(image, disparity, K, K, v) for v in views]
    assert min(held) >= 0.55 and held[-1] < 0.65  # flown until it is about to drop below
    assert fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0, image=image, least_detail=0.0).share == free
