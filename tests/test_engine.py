"""The render-refine-repeat engine through its Python API."""

import torch

from perpetual.config import DriftSettings, EngineSettings, GuardSettings, RenderSettings
from perpetual.engine import Flythrough
from perpetual.paths import forward, from_poses, pan
from perpetual.world import World, WorldSettings
from tests.conftest import model_free


def world_start(size=64):
    world = World(WorldSettings(seed=2, resolution=256))
    _, view = world.start_view(size, size)
    return view.image, view.disparity


def test_identity_path_reproduces_the_start_frame():
    image, disparity = world_start()
    path = from_poses(torch.eye(4).repeat(20, 1, 1), width=64, height=64)
    frames = list(Flythrough().run(image, path, disparity))
    assert len(frames) == 20
    assert sum(f.is_keyframe for f in frames) == 1  # a static camera makes no new keyframe
    for f in frames:
        assert torch.allclose(f.image, image, atol=1e-4)


def test_same_seed_same_frames():
    image, disparity = world_start()
    path = forward(15, speed=0.05).with_size(64, 64)
    a = [f.image for f in Flythrough().run(image, path, disparity, seed=3)]
    b = [f.image for f in Flythrough().run(image, path, disparity, seed=3)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_fast_moves_make_keyframes_and_frames_stay_valid():
    image, disparity = world_start()
    fly = Flythrough(model_free(engine=EngineSettings(max_invalid=0.01, max_age=100), guard=GuardSettings(on_clearance="off")))  # fast, as given
    frames = list(fly.run(image, (forward(10, speed=0.08) + pan(10, degrees=40)).with_size(64, 64), disparity))
    assert sum(f.is_keyframe for f in frames) >= 4
    for f in frames:
        assert torch.isfinite(f.image).all() and torch.isfinite(f.disparity).all()
        assert f.image.min() >= 0 and f.image.max() <= 1 and f.disparity.min() >= 0
        # Ground-sky silhouettes render to mixtures; none may stay as ground at an absurd depth.
        assert not ((f.disparity > 0) & (f.disparity < 0.005)).any()


def test_scene_scale_is_normalised_on_frame_zero():
    image, disparity = world_start()
    first = next(iter(Flythrough().run(image, forward(2).with_size(64, 64), disparity * 7.3)))
    d = first.disparity[first.disparity > 0]
    assert abs(float((1.0 / d).median()) - 1.0) < 1e-5
    assert torch.equal(first.disparity == 0, disparity == 0)  # sky stays sky


def test_memory_is_flat_over_a_300_frame_flight():
    image, disparity = world_start(48)
    path = forward(300, speed=0.01).with_size(48, 48)

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    marks = {}
    for frame in Flythrough().run(image, path, disparity):
        if frame.index in (50, 299):
            marks[frame.index] = rss_mb()
    assert marks[299] - marks[50] < 30.0


def test_sky_anchor_restores_frame_zero_sky_under_rotation():
    from perpetual.drift import Anchor, anchor_sky
    from perpetual.geometry import intrinsics_from_fov
    from tests.conftest import pose

    image, disparity = world_start(48)
    K = intrinsics_from_fov(60.0, 48, 48).unsqueeze(0)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    turned = pose(axis_angle=(0.0, 0.05, 0.0), dtype=torch.float64)[0]
    blurred = torch.full_like(image, 0.5)  # a drifted frame: the sky went grey
    fixed = anchor_sky(blurred, disparity, turned, K, anchor)
    sky = disparity == 0
    changed = (fixed != blurred).any(1, keepdim=True)
    assert changed.sum() > 0.5 * sky.sum() and not (changed & ~sky).any()


def test_sky_beyond_frame_zero_view_is_mirrored_in_without_seams():
    from perpetual.drift import Anchor, anchor_sky, sky_lookup
    from perpetual.geometry import intrinsics_from_fov, pixel_grid
    from tests.conftest import pose

    image, disparity = world_start(48)
    K = intrinsics_from_fov(60.0, 48, 48).unsqueeze(0)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
    inside = sky_lookup(torch.eye(4, dtype=torch.float64), K, anchor, (48, 48))
    assert torch.allclose(inside[..., 2:-2, 2:-2], pixel_grid(48, 48)[..., 2:-2, 2:-2], atol=1e-4)
    turned = pose(axis_angle=(0.0, 1.6, 0.0), dtype=torch.float64)[0]  # 92 degrees: nothing in view was seen
    uv = sky_lookup(turned, K, anchor, (48, 48))
    assert uv.min() >= -0.5 and uv[0, 0].max() <= 47.5 and uv[0, 1].max() <= 47.5
    assert (uv[..., 1:] - uv[..., :-1]).abs().max() < 3.0 and (uv[..., 1:, :] - uv[..., :-1, :]).abs().max() < 3.0
    sky_everywhere = torch.zeros_like(disparity)
    fixed = anchor_sky(torch.full_like(image, 0.5), sky_everywhere, turned, K, anchor)
    assert (fixed != 0.5).any(1).float().mean() > 0.2  # frame 0's sky, not the grey fill
    # Where the mirror image lands on frame 0's land, the sky behind that land is continued:
    # sky colours, and no edge sharper than frame 0's own sky has.
    on_ground = sample_alpha(anchor, uv) < 0.5
    low, high = image[0][:, disparity[0, 0] == 0].aminmax(dim=1)  # (3,) each: frame 0's sky colours
    seen = fixed[0][:, on_ground[0, 0]]  # (3, N)
    assert on_ground.any() and (seen >= low[:, None] - 1e-4).all() and (seen <= high[:, None] + 1e-4).all()

    def steepest(x, inside):
        across, down = (x[..., 1:] - x[..., :-1]).abs().amax(1), (x[..., 1:, :] - x[..., :-1, :]).abs().amax(1)
        both_x, both_y = inside[..., 1:] & inside[..., :-1], inside[..., 1:, :] & inside[..., :-1, :]
        return max(across[both_x[:, 0]].max(), down[both_y[:, 0]].max())

    assert steepest(fixed, torch.ones_like(disparity, dtype=torch.bool)) <= steepest(image, disparity == 0) + 1e-4


def _directional_sky(pose: torch.Tensor, K: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """``(1, 3, H, W)``: a sky that is a function of direction alone, with detail down to 3.5 of
    frame 0's pixels, as a camera at ``pose`` sees it."""
    import math

    from perpetual.geometry import pixel_grid

    uv = pixel_grid(H, W, dtype=torch.float64)[0]
    rays = torch.linalg.solve(K[0], torch.cat([uv, torch.ones(1, H, W, dtype=torch.float64)]).reshape(3, -1))
    world = pose[:3, :3].T @ rays
    azimuth, elevation = torch.atan2(world[0], world[2]), torch.atan2(world[1], world[2])
    k = 2 * math.pi * float(K[0, 0, 0]) / 3.5
    sky = 0.5 + 0.2 * torch.sin(k * azimuth) + 0.15 * torch.sin(0.7 * k * elevation + 1.0)
    return sky.reshape(1, 1, H, W).expand(1, 3, H, W).clone()


def test_the_sky_after_a_turn_of_a_fraction_of_a_pixel_is_the_sky_in_those_directions():
    """Frame 0's sky is read once per frame, as the renderer reads (Catmull-Rom): against a sky
    known in every direction, within 0.03 RMS (a bilinear read, which halves the finest detail at
    half a pixel, is 0.04-0.05 off)."""
    import math

    from perpetual.drift import Anchor, anchor_sky
    from perpetual.geometry import intrinsics_from_fov

    H, W = 48, 64
    K = intrinsics_from_fov(torch.tensor([50.0]), H, W).double()
    eye = torch.eye(4, dtype=torch.float64)
    sky = torch.zeros(1, 1, H, W, dtype=torch.float64)
    anchor = Anchor(_directional_sky(eye, K, H, W), sky, eye, K)
    for pixels in (0.25, 0.5, 3.5):
        turned = pan(2, degrees=math.degrees(math.atan(pixels / float(K[0, 0, 0])))).with_size(W, H).poses[1].double()
        shown = anchor_sky(torch.zeros(1, 3, H, W, dtype=torch.float64), sky, turned, K, anchor)
        error = (shown - _directional_sky(turned, K, H, W))[..., 4:-4, 4:-8]
        assert float(error.pow(2).mean().sqrt()) < 0.03, pixels


def test_an_in_between_frames_sky_is_frame_zeros_in_its_direction():
    """An in-between frame shows frame 0's sky read once in each direction, as a keyframe does
    (``drift.anchor_sky``), not the keyframe's sky read again; without the setting, the keyframe's."""
    from perpetual.drift import Anchor, sky_seen

    image, disparity = world_start(64)
    clouds = 0.7 + 0.2 * torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    image = torch.where(disparity == 0, clouds, image)  # a sky with detail, which a second read softens
    path = pan(10, degrees=2.0).with_size(64, 64)  # turns of fractions of a pixel, few holes
    K = path.intrinsics()[:1]

    def in_between(anchored: bool) -> tuple:
        """Frame 0 and the in-between frames of the flight."""
        config = model_free(drift=DriftSettings(anchor_sky=anchored), engine=EngineSettings(max_invalid=0.05))
        frames = list(Flythrough(config).run(image, path, disparity, seed=0))
        return frames[0], [f for f in frames if not f.is_keyframe]

    first, frames = in_between(True)
    anchor = Anchor(first.image, first.disparity, first.pose, K)
    assert frames
    for frame in frames:
        sky = (frame.disparity == 0).expand_as(frame.image)
        seen = sky_seen(frame.pose, K, anchor, frame.disparity == 0).to(frame.image.dtype)
        assert sky.any() and torch.allclose(frame.image[sky], seen[sky], atol=1e-6)
    _, plain = in_between(False)  # frame 9 reads keyframe 6, which read frame 0: its sky twice
    sky = (plain[-1].disparity == 0).expand_as(plain[-1].image)
    assert float((plain[-1].image - frames[-1].image)[sky].abs().mean()) > 0.01


def test_frame_zero_sky_profile_follows_elevation():
    """A sky that brightens toward the horizon: the profile gives each elevation above frame 0's
    skyline its colour, and elevations beyond frame 0's sky keep the nearest one."""
    from perpetual.drift import Anchor, elevation
    from perpetual.geometry import intrinsics_from_fov

    K = intrinsics_from_fov(60.0, 48, 48).unsqueeze(0)
    eye = torch.eye(4, dtype=torch.float64)
    disparity = torch.where(elevation(eye, K, eye, (48, 48)) > 0.05, 0.0, 0.5)  # sky above a low horizon, land below
    level = Anchor(torch.zeros(1, 3, 48, 48), disparity, eye, K).level  # frame 0's axes levelled to that skyline
    up = elevation(eye, K, level, (48, 48))
    brightness = (0.9 - up.clamp_min(0) * 1.2).clamp(0, 1)  # (1, 1, 48, 48): 0.9 at the horizon, darker above
    image = torch.cat([brightness * 0.5, brightness * 0.7, brightness], dim=1)
    anchor = Anchor(image, disparity, eye, K)
    colour = anchor.sky_colour(up)
    sky = disparity == 0
    assert (colour - image).abs().amax(dim=1, keepdim=True)[sky].max() < 0.03
    low = anchor.sky_colour(torch.full_like(up, -0.5))  # below every sky pixel: the lowest band's colour
    assert torch.allclose(low, anchor.profile[2][0].view(1, 3, 1, 1).expand_as(low))


def sample_alpha(anchor, uv):
    from perpetual.render.sampling import sample

    return sample(anchor.sky, uv.float())


def test_colour_matching_pulls_statistics_toward_frame_zero():
    from kornia.color import rgb_to_lab

    from perpetual.drift import Anchor, match_colour

    image, disparity = world_start(48)
    anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), torch.eye(3)[None])
    tinted = (image * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)).clamp(0, 1)
    lab = lambda x: rgb_to_lab(x).mean(dim=(2, 3))  # noqa: E731
    before = (lab(tinted) - lab(image)).norm()
    half = (lab(match_colour(tinted, anchor, 0.5)) - lab(image)).norm()
    full = (lab(match_colour(tinted, anchor, 1.0)) - lab(image)).norm()
    assert full < half < before and full < 0.1 * before
    assert torch.equal(match_colour(tinted, anchor, 0.0), tinted)


def test_detail_restoration_keeps_ground_detail_over_a_forward_flight():
    from perpetual.drift import detail_level

    image, disparity = world_start(96)
    path = forward(40, speed=0.06).with_size(96, 96)

    def last(detail: float):
        # The grain alone: render.resharpen (its own tests) would give the last frame its keyframe's look.
        fly = Flythrough(model_free(drift=DriftSettings(detail=detail), guard=GuardSettings(on_clearance="off"),  # the whole path: the blur it brings
                                    render=RenderSettings(resharpen=False)))
        return list(fly.run(image, path, disparity, seed=1))[-1]

    plain, kept = last(0.0), last(1.0)
    ground = (plain.disparity > 0) & (kept.disparity > 0)
    ground[..., :8, :] = ground[..., -8:, :] = ground[..., :, :8] = ground[..., :, -8:] = False
    start = detail_level(image)[(disparity > 0)].median()
    lost = detail_level(plain.image)[ground].median()
    restored = detail_level(kept.image)[ground].median()
    assert lost < 0.7 * start  # flying forward blurs the ground ...
    assert restored > 1.3 * lost and restored < 1.5 * start  # ... and detail restoration puts it back


def test_a_sliver_of_estimated_disparity_is_sky_from_frame_zero_on():
    """Estimators give the sky over the horizon a sliver of disparity; frame 0 must call it sky,
    not ground hundreds of units away (the sky anchor, the autopilot and the haze read the mask)."""

    class Sliver:
        def __call__(self, image: torch.Tensor) -> torch.Tensor:
            out = torch.ones_like(image[:, :1])
            out[..., :12, :] = 1e-3  # 0.1% of the largest: sky
            out[..., 12:16, :] = 0.2  # far ground
            return out

    path = forward(3).with_size(32, 32)
    key = Flythrough(depth=Sliver()).start(torch.rand(1, 3, 32, 32), path)
    assert (key.disparity[..., :12, :] == 0).all()
    assert (key.disparity[..., 12:, :] > 0).all()


def test_visible_pixels_are_refreshed_only_when_asked_and_holes_always():
    from perpetual.models import InpaintRequest
    from perpetual.models.base import strength_map
    from perpetual.render import fill_holes

    class Recorder:  # fills holes classically; keeps what it was asked to refresh
        def __init__(self):
            self.strengths = []

        def __call__(self, request: InpaintRequest) -> torch.Tensor:
            self.strengths.append(strength_map(request))
            return fill_holes(request.image, request.valid)

    image, disparity = world_start(64)
    path = forward(12, speed=0.05).with_size(64, 64)
    for refresh in (0.0, 0.3):
        recorder = Recorder()
        list(Flythrough(model_free(engine=EngineSettings(refresh=refresh)), inpainter=recorder).run(image, path, disparity))
        assert recorder.strengths
        for s in recorder.strengths:
            hole = torch.isclose(s, torch.ones_like(s))
            assert hole.any() and torch.allclose(s[~hole], torch.full_like(s[~hole], refresh))


def test_a_flight_records_no_autograd_graph_and_leaves_grad_mode_to_the_caller():
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    frames = Flythrough().run(image, forward(4, speed=0.05).with_size(32, 32), torch.full((1, 1, 32, 32), 0.5))
    for frame in frames:
        assert torch.is_grad_enabled()  # between frames the caller's mode holds
        assert frame.image.grad_fn is None and (frame.index == 0 or not frame.image.requires_grad)  # frame 0: the input
