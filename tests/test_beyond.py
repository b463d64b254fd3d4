"""Where the camera looks beyond the photo (``engine.mirror_beyond``): frame 0 mirrored back at
its edge, its distances kept along the mirrored rays, towers mirrored once and the sky beyond."""

import copy
import math
from dataclasses import replace

import pytest

import torch

from perpetual.beyond import EDGE, beyond_photo, mirror_lookup
from perpetual import drift
from perpetual.config import load_config
from perpetual.drift import Anchor
from perpetual.engine import Flythrough
from perpetual.geometry import intrinsics_from_fov, pixel_grid
from perpetual.health import Health
from perpetual.paths import CameraPath, forward, meander, orbit, pan
from perpetual.paths.autopilot import Autopilot
from perpetual.paths.fit import Fit
from tests.test_photo import _sky_over_land

H, W = 48, 64


def _anchor(image: torch.Tensor, disparity: torch.Tensor) -> tuple[Anchor, torch.Tensor]:
    K = intrinsics_from_fov(torch.tensor([50.0]), H, W).double()
    return Anchor(image.double(), disparity.double(), torch.eye(4, dtype=torch.float64), K), K


def _turned(degrees: float) -> torch.Tensor:
    return pan(2, degrees=degrees).with_size(W, H).poses[1].double()


def test_directions_frame_0_saw_read_themselves_and_the_rest_are_mirrored_at_the_edge_they_crossed():
    anchor, K = _anchor(torch.rand(1, 3, H, W), torch.ones(1, 1, H, W))
    uv, outside, past = mirror_lookup(torch.eye(4, dtype=torch.float64), K, anchor, (H, W), EDGE)[:3]
    assert not outside.any() and float(past.max()) == 0.0
    assert torch.allclose(uv, pixel_grid(H, W, dtype=torch.float64), atol=1e-6)

    uv, outside, past = mirror_lookup(_turned(40.0), K, anchor, (H, W), EDGE)[:3]  # turned right: the right of the view is new
    row = H // 2
    new = outside[0, 0, row]
    assert new[-W // 4 :].all() and not new[: W // 4].any()
    u = uv[0, 0, row]
    # Mirrored within the quarter of frame 0's field (in angle) nearest its right edge, back and forth.
    fx, cx = float(K[0, 0, 0]), float(K[0, 0, 2])
    half = math.atan(cx / fx)
    inner = cx + fx * math.tan(half - 2 * half * EDGE)
    assert float(u[new].min()) >= inner - 1e-6 and float(u[new].min()) < inner + 1.5 and float(u[new].max()) <= W - 1 + 1e-6
    first = new.nonzero()[0, 0]  # the first new column reads next to the edge, the next ones further in
    assert float(u[first]) > W - 3.0 and float(u[first + 3]) < float(u[first])
    assert bool((past[0, 0, row, new] > 0).all()) and bool((past[0, 0, row].diff() >= -1e-9).all())


def test_the_mirrored_land_keeps_frame_0s_colours_and_its_distance_along_the_ray():
    torch.manual_seed(0)
    image = torch.rand(1, 3, H, W)
    rows = torch.linspace(0.2, 1.0, H).view(1, 1, H, 1).expand(1, 1, H, W)  # nearer toward the bottom
    anchor, K = _anchor(image, rows.clone())
    pose = _turned(35.0)
    beyond = beyond_photo(anchor, pose, K, (H, W))
    uv = mirror_lookup(pose, K, anchor, (H, W), EDGE)[0]
    mask = beyond.mask[0, 0]
    assert mask.float().mean() > 0.2 and bool((beyond.disparity[0, 0][mask] > 0).all())
    from perpetual.render.sampling import sample

    inside = beyond.mask.expand_as(beyond.image)
    assert torch.allclose(beyond.image[inside], sample(anchor.image, uv, "cubic")[inside])
    # The same distance along both rays: the range of the new pixel equals frame 0's at the read.
    def rng(Km, uvs, disparity):
        x = (uvs[:, :1] - Km[0, 0, 2]) / Km[0, 0, 0]
        y = (uvs[:, 1:] - Km[0, 1, 2]) / Km[0, 1, 1]
        return torch.sqrt(x * x + y * y + 1) / disparity

    here = rng(K, pixel_grid(H, W, dtype=torch.float64), beyond.disparity)
    there = rng(anchor.K, uv, sample(anchor.disparity, uv))
    assert torch.allclose(here[beyond.mask], there[beyond.mask], rtol=1e-5)


def test_a_pan_beyond_the_photo_continues_its_ground_and_mirrors_a_tower_once():
    image = _sky_over_land(H, W)  # sky over land, a dark tower up the right eighth
    path = pan(16, degrees=45).with_size(W, H)
    config = load_config("default")
    fly = Flythrough(config, device="cpu")
    first = fly.start(image, path)
    anchor = Anchor(first.image, first.disparity, first.pose, first.K)
    last = list(fly.run(image, path))[-1]

    uv, outside, past = mirror_lookup(last.pose, first.K, anchor, (H, W), EDGE)[:3]
    below = anchor.below_sky_floor(last.pose, first.K, (H, W)) & outside
    above = anchor.above_skyline(last.pose, first.K, (H, W)) & outside
    assert below.float().mean() > 0.15 and above.float().mean() > 0.15
    # The ground beyond the edge is the ground, at the distance frame 0's ground is along the same
    # elevation: not the tower's disparity continued (the default's depth there is the tower's).
    mirrored = beyond_photo(anchor, last.pose, first.K, (H, W))
    ground = below & (mirrored.disparity > 0)
    ratio = last.disparity[ground] / mirrored.disparity[ground]
    assert float(ratio.median()) == pytest.approx(1.0, abs=0.05)
    # Above the skyline: the tower mirrored once next to the edge, the sky beyond that.
    once, further = above & (past <= EDGE), above & (past > EDGE + 0.05)
    assert further.float().mean() > 0.1 and float((last.disparity[further] > 0).float().mean()) < 0.05
    assert float((last.disparity[once & (mirrored.disparity > 0)] > 0).float().mean()) > 0.9
    # Each keyframe shows the mirror afresh (drift.anchor_land): the land there is its colours.
    land = outside & (last.disparity > 0) & (mirrored.disparity > 0)
    assert float((last.image - mirrored.image).abs().mean(1, keepdim=True)[land].mean()) < 0.03

    assert fly.begin(image, path).mirror_beyond and not fly.begin(image, path, first.disparity).mirror_beyond
    off = Flythrough(replace(config, engine=replace(config.engine, mirror_beyond=False)), device="cpu")
    assert not off.begin(image, path).mirror_beyond


def test_a_side_with_something_near_across_its_edge_is_mirrored_too():
    """A person across the left edge, in front of everything, is repeated beside himself rather
    than left to an inpainter that has only seen the procedural world (it painted a dark slab)."""
    K = intrinsics_from_fov(torch.tensor([50.0]), H, W)
    disparity = torch.linspace(0.3, 1.0, H).view(1, 1, H, 1).expand(1, 1, H, W).clone()  # ground, nearer below
    disparity[..., : H // 3, :] = 0.0  # sky
    disparity[..., :, : W // 4 + 2] = 2.0  # a person across the left edge's strip
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    left = _turned(-35.0).float()
    uv, outside, past = mirror_lookup(left, K, anchor, (H, W), EDGE)[:3]
    beyond = beyond_photo(anchor, left, K, (H, W))
    assert (past < 0).float().mean() > 0.2 and bool(beyond.mask[past < 0].all())
    near = outside & (past > -0.05)  # just past the edge: the person, mirrored, at his distance
    assert bool(near.any()) and float(beyond.disparity[near].min()) > 1.5


def test_a_level_skyline_below_the_photos_middle_goes_on_level_beyond_its_edge():
    """A lake's far shore a fifth of the way below the photo's middle row: turned past the photo's
    left edge, the shore mirrored there goes on along the straight line it makes in the view
    (frame 0's axes are levelled to its skyline), where a mirror in frame 0's own elevation bends
    it down toward the view's side, the mirror image of its rise toward the photo's edge."""
    K = intrinsics_from_fov(torch.tensor([50.0]), H, W).double()
    rows = torch.arange(H, dtype=torch.float64).view(1, 1, H, 1).expand(1, 1, H, W)
    disparity = torch.where(rows >= 33, 0.5, 0.0).double()  # sky down to row 32, land below
    anchor = Anchor(torch.rand(1, 3, H, W, dtype=torch.float64), disparity, torch.eye(4, dtype=torch.float64), K)
    left = _turned(-35.0)
    beyond = beyond_photo(anchor, left, K, (H, W))
    # Land in the view: where frame 0 saw it, its own rows, else the mirror's.
    rays = left[:3, :3].T @ torch.linalg.solve(K[0], torch.cat([pixel_grid(H, W, dtype=torch.float64)[0],
                                                                torch.ones(1, H, W, dtype=torch.float64)]).reshape(3, -1))
    seen_row = (K[0, 1, 1] * rays[1] / rays[2] + K[0, 1, 2]).view(1, 1, H, W)
    land = torch.where(beyond.mask, beyond.disparity > 0, seen_row >= 32.5)
    shore = (~land).sum(dim=2).flatten().double() - 0.5  # (W,) per column: where the land starts
    columns = torch.arange(W, dtype=torch.float64)
    mirrored = beyond.mask[0, 0, H // 2]
    assert 0.2 < float(mirrored.float().mean()) < 0.8
    fit = torch.linalg.lstsq(torch.stack([columns, torch.ones(W, dtype=torch.float64)], 1)[~mirrored], shore[~mirrored, None]).solution
    line = fit[0, 0] * columns + fit[1, 0]
    assert float((shore - line)[~mirrored].abs().max()) <= 1.0  # the seen shore is a straight line in the view
    assert float((shore - line)[mirrored].abs().max()) <= 1.0  # and the mirrored shore goes on along it


def test_a_preset_from_a_photo_is_flown_about_the_level_axes_of_its_skyline():
    """From a photo whose sky ends a quarter of the way down (a camera looking down at the land), a
    preset is flown levelled to that skyline: its turns with ``engine.level_paths = "turns"``, its
    turns and moves with ``"all"``, nothing with ``"off"``; not from a known depth, and not poses
    flown before (``fit=False``), which replay as they were flown. The autopilot is handed the
    same levelling. This short path fits whole either way, so the default, ``"auto"``, levels its
    turns only."""
    photo = _sky_over_land(H, W)
    image = torch.cat([photo[..., H // 4 :, :], photo[..., -(H // 4) :, :]], dim=2)  # sky down to row H / 4
    path = meander(8, sway=0.2, period=8).with_size(W, H)
    config = load_config("default")

    def flown(level: str, *args, **kwargs) -> torch.Tensor:
        fly = Flythrough(replace(config, engine=replace(config.engine, level_paths=level)), device="cpu")
        return fly.begin(image, path, *args, **kwargs).path.poses

    first = Flythrough(config, device="cpu").start(image, path)
    anchor = Anchor(first.image, first.disparity, first.pose, first.K)
    assert anchor.tilt > math.radians(5.0)
    assert torch.allclose(flown("all"), path.levelled(anchor.tilt).poses)
    assert torch.allclose(flown("turns"), path.levelled(anchor.tilt, moves=False).poses)
    assert torch.equal(Flythrough(config, device="cpu").begin(image, path).path.poses, flown("turns"))
    assert not torch.allclose(flown("turns"), flown("all"))
    assert torch.equal(flown("off"), path.poses)
    assert torch.equal(flown("all", fit=False), path.poses)
    assert torch.equal(flown("all", first.disparity), path.poses)
    for level, expected in (("turns", (anchor.tilt, False)), ("auto", (anchor.tilt, False)), ("all", (anchor.tilt, True)),
                            ("off", (0.0, False))):
        pilot = Autopilot()  # the autopilot turns about the same axes
        flown(level, autopilot=pilot)
        assert pilot.level == pytest.approx(expected)


def test_auto_levelling_flies_a_path_level_where_the_fit_foresees_it_going_further_so(monkeypatch):
    """From a photo taken looking down 17 degrees at land, a fast forward path flown along the
    camera's axis descends toward the land and is magnified sooner than flown level: with
    ``engine.level_paths = "auto"`` (the default) its moves are levelled, as with ``"all"``, it is
    fitted further, and the autopilot is handed that levelling; not where the level path would
    only reach the detail limit further. An orbit, which already circles its target on a level
    circle (its cameras turned about their pivot), keeps its moves."""
    photo = _sky_over_land(H, W)
    image = torch.cat([photo[..., H // 4 :, :], photo[..., -(H // 4) :, :]], dim=2)
    config = load_config("default")
    assert config.engine.level_paths == "auto"

    def begun(level: str, path: CameraPath, **kwargs):
        return Flythrough(replace(config, engine=replace(config.engine, level_paths=level)), device="cpu").begin(image, path, **kwargs)

    fast = forward(8, speed=0.2).with_size(W, H)
    auto, turns, level = (begun(mode, fast) for mode in ("auto", "turns", "all"))
    assert torch.equal(auto.path.poses, level.path.poses) and not torch.allclose(auto.path.poses, turns.path.poses)
    assert auto.guard.speed == level.guard.speed > turns.guard.speed
    assert auto.last.flown_level and level.last.flown_level and not turns.last.flown_level
    health = Health(config.guard.clearance, "slow", fit=True)
    health.add(auto.last)
    assert health.summary()["path_flown_level"] and any("level with the photo's horizon" in line for line in health.messages(8))
    pilot = Autopilot()
    begun("auto", fast, autopilot=pilot)
    assert pilot.level[1]
    fly = Flythrough(config, device="cpu")
    fits = iter([Fit(0.5, "magnified"), Fit(0.6, "detail")])  # along the camera's axis, then level
    monkeypatch.setattr(fly, "_fit", lambda *args: next(fits))
    assert torch.equal(fly.begin(image, fast).path.poses, turns.path.poses)
    circle = orbit(8, degrees=60.0).with_size(W, H)
    assert torch.equal(begun("auto", circle).path.poses, begun("turns", circle).path.poses)
    assert not torch.allclose(begun("all", circle).path.poses, begun("turns", circle).path.poses)


def test_a_sky_darker_toward_the_photos_sides_is_mirrored_at_its_edges_brightness_not_brighter_again():
    """A photo vignetted as ``exp(-0.5 r²)`` (r in half widths from its centre): its falloff is
    measured on its sky, and a pan past its left edge shows the mirrored sky at the brightness of
    the edge, where the mirror alone brightens it again toward the photo's middle (a dark crease
    along the mirror line). The mirrored land keeps the photo's own brightness (and contrast). A
    photo not vignetted has no falloff."""
    sky_rows = torch.linspace(0.55, 0.85, H // 2).view(1, 1, H // 2, 1).expand(1, 3, H // 2, W)
    flat = torch.cat([sky_rows, torch.full((1, 3, H - H // 2, W), 0.35)], dim=2).double()
    disparity = torch.cat([torch.zeros(1, 1, H // 2, W), torch.ones(1, 1, H - H // 2, W)], dim=2)
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    plain, K = _anchor(flat, disparity)
    cx, cy = float(K[0, 0, 2]), float(K[0, 1, 2])
    vignetted, _ = _anchor(flat * torch.exp(-0.5 * ((u - cx) ** 2 + (v - cy) ** 2) / (cx + 0.5) ** 2), disparity)
    assert plain.falloff == 0.0 and abs(vignetted.falloff + 0.5) < 0.03
    unshaded = copy.copy(vignetted)
    unshaded.falloff = 0.0
    pose, everywhere = _turned(-40.0), torch.ones(1, 1, H, W, dtype=torch.bool)

    def shown(anchor: Anchor) -> torch.Tensor:  # (H, W): the sky above the middle row, the mirrored land below it
        image = torch.cat([drift.sky_seen(pose, K, anchor, everywhere)[..., : H // 2, :], beyond_photo(anchor, pose, K, (H, W)).image[..., H // 2 :, :]], dim=2)
        return image[0].mean(dim=0)

    mask = beyond_photo(plain, pose, K, (H, W)).mask[0, 0]
    rises = {}
    for row in (H // 4, 3 * H // 4):  # one in the sky, one in the land
        new = mask[row].nonzero()[:, 0]
        # The mirrored column next to the edge reads the edge's own pixels; further out, the edge
        # the rays leave by moves along it (a view's row is not one of frame 0's), a little darker or brighter.
        edge = int(new.max())
        darkened = [shown(anchor)[row] / shown(plain)[row] for anchor in (vignetted, unshaded)]  # the vignette alone
        rises[row] = [float((d[new] / d[edge]).max()) for d in darkened]
    assert rises[H // 4][0] < 1.05 and rises[H // 4][1] > 1.3  # the sky: held at the edge's; mirrored alone, brighter again
    assert rises[3 * H // 4][0] == rises[3 * H // 4][1] > 1.3  # the land: as the photo shows it
