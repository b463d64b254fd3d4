"""The fit foresees a turn from a photo: frame 0 mirrored where the view looks beyond it, as the
flight shows it (``engine.mirror_beyond``), so a pan toward blander land or away from the sky
stops before the view keeps too little of the photo's detail or too little of its sky."""

import pytest
import torch

from perpetual.config import GuardSettings
from perpetual.drift import Anchor
from perpetual.engine import Flythrough
from perpetual.geometry import intrinsics_from_fov, invert_pose
from perpetual.health import Health
from perpetual.paths import forward, pan
from perpetual.paths.fit import Fit, fit_path, foresee, kept_detail, turned_plan
from perpetual.sky import sky_change
from tests.conftest import model_free

SIZE = 48


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.arange(SIZE, dtype=torch.float32).view(1, 1, SIZE, 1).expand(1, 1, SIZE, SIZE)
    u = torch.arange(SIZE, dtype=torch.float32).view(1, 1, 1, SIZE).expand(1, 1, SIZE, SIZE)
    return u, v


def _temple_then_trees() -> tuple[torch.Tensor, torch.Tensor]:
    """Frame 0 ``(image, disparity)``: fine stripes over its left half, a smooth wash over its right
    half, all of it land 5 away: the detail is on the left."""
    u, v = _grid()
    stripes = 0.5 + 0.4 * torch.sign(torch.sin(u * 1.3 + v * 0.4))
    image = torch.where(u < SIZE // 2, stripes, 0.3 + 0.3 * v / SIZE).expand(1, 3, SIZE, SIZE).contiguous()
    return image, torch.full((1, 1, SIZE, SIZE), 0.2)


def _sky_on_the_left(rows: int = SIZE // 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame 0 ``(image, disparity)``: sky over the top ``rows`` of its left half (disparity 0),
    textured land 5 away everywhere else: a wooded bank rising to the top edge on the right. Up to
    a quarter of its field beyond its right edge the mirror shows that bank (further out, it shows
    sky above the skyline: :func:`~perpetual.beyond.beyond_photo`)."""
    u, v = _grid()
    sky = (u < SIZE // 2) & (v < rows)
    land = 0.3 + 0.2 * torch.sign(torch.sin(u * 0.9 + v * 0.7))
    image = torch.where(sky, torch.tensor(0.8), land).expand(1, 3, SIZE, SIZE).contiguous()
    return image, torch.where(sky, torch.tensor(0.0), torch.tensor(0.2))


def _path(degrees: float):
    return pan(40, degrees=degrees).with_size(SIZE, SIZE)


def _view(path, progress: float) -> torch.Tensor:
    return (path.pose_at(progress) @ invert_pose(path.poses[0])).float()


def _fit(path, image, disparity, mirror, **limits) -> float:
    return _fitted(path, image, disparity, mirror, **limits).share


def _fitted(path, image, disparity, mirror, **limits) -> Fit:
    K = path.intrinsics()[:1]
    return fit_path(path, disparity, K, most_magnified=1.0, limit=4.0, keep=0.0, image=image, mirror=mirror, **limits)


def test_kept_detail_with_the_mirror_foresees_a_pan_toward_blander_land():
    image, disparity = _temple_then_trees()
    K = intrinsics_from_fov(60.0, SIZE, SIZE).unsqueeze(0)
    anchor = Anchor(image, disparity, _path(40.0).poses[0], K)
    right, left = _view(_path(40.0), 39), _view(_path(-40.0), 39)
    assert kept_detail(image, disparity, K, K, right) == 1.0  # without the mirror a turn alone keeps it all
    toward_trees = kept_detail(image, disparity, K, K, right, mirror=anchor)
    toward_temple = kept_detail(image, disparity, K, K, left, mirror=anchor)
    assert toward_trees < 0.3  # the view is the smooth half and its mirror: the stripes have left it
    assert toward_temple > 0.8  # the stripes and their mirror
    assert kept_detail(image, disparity, K, K, torch.eye(4), mirror=anchor) == pytest.approx(1.0, abs=1e-4)


def test_fit_speed_stops_a_pan_before_it_keeps_too_little_detail():
    image, disparity = _temple_then_trees()
    path = _path(40.0)
    anchor = Anchor(image, disparity, path.poses[0], path.intrinsics()[:1])
    assert _fit(path, image, disparity, None, least_detail=0.55) == 1.0
    kept = _fit(path, image, disparity, anchor, least_detail=0.55)
    assert 0.1 < kept < 0.9 and _fitted(path, image, disparity, anchor, least_detail=0.55).bound == "detail"
    K = path.intrinsics()[:1]
    held = [kept_detail(image, disparity, K, K, _view(path, p), mirror=anchor) for p in torch.linspace(0.0, kept * 39, 6).tolist()]
    assert min(held) >= 0.55 and held[-1] < 0.7  # turned until it is about to drop below
    assert _fit(_path(-40.0), image, disparity, anchor, least_detail=0.55) == 1.0  # toward the stripes: the whole pan


def test_fit_speed_stops_a_pan_before_the_sky_changes_past_the_factor():
    image, disparity = _sky_on_the_left()
    path = _path(15.0)  # a quarter of the 60-degree field
    K = path.intrinsics()[:1]
    anchor = Anchor(image, disparity, path.poses[0], K)
    first = float((disparity == 0).float().mean())

    def change(progress: float) -> float:
        return sky_change(float(foresee(image, disparity, K, K, _view(path, progress).unsqueeze(0), anchor)[1].float().mean()), first)

    assert change(39) > 1.5  # the whole pan leaves most of the sky behind
    assert _fit(path, image, disparity, anchor, most_sky_change=0.0) == 1.0
    assert _fit(path, image, disparity, None, most_sky_change=1.35) == 1.0  # no mirror: not foreseen
    kept = _fit(path, image, disparity, anchor, most_sky_change=1.35)
    assert kept < 0.9 and _fitted(path, image, disparity, anchor, most_sky_change=1.35).bound == "sky"
    assert max(change(p) for p in torch.linspace(0.0, kept * 39, 6).tolist()) <= 1.35
    assert change(kept * 39 + 2) > 1.35  # turned until the sky is about to change too much
    sliver, land = _sky_on_the_left(rows=2)  # 2% of frame 0 is sky: gaps in a canopy, not held to
    assert _fit(path, sliver, land, Anchor(sliver, land, path.poses[0], K), most_sky_change=1.35) == 1.0


class _Known:
    """A depth estimator that returns the same disparity for any image."""

    def __init__(self, disparity: torch.Tensor) -> None:
        self.disparity = disparity

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.disparity


def test_a_flight_from_a_photo_fits_its_pan_to_the_sky_it_keeps_with_the_mirror_only_and_says_so():
    image, disparity = _sky_on_the_left()
    path = _path(15.0)
    fitted = GuardSettings(fit=True, min_detail=0.0)
    fly = Flythrough(model_free(guard=fitted), depth=_Known(disparity))
    flight = fly.begin(image, path)
    assert flight.guard.speed < 0.9 and flight.last.fitted_by == "sky"
    health = Health(0.15, "slow", fit=True)
    for frame in fly.run(image, path):
        health.add(frame)
    said = [line for line in health.messages(len(path)) if "fitted to what the start image holds" in line]
    assert len(said) == 1 and "sky would change by more than guard.max_sky_change" in said[0]
    assert health.summary()["path_fitted_by"] == "sky"
    off = model_free(guard=fitted, engine=model_free().engine.__class__(open_sky=False, mirror_beyond=False))
    flight = Flythrough(off, depth=_Known(disparity)).begin(image, path)
    assert flight.guard.speed == 1.0 and flight.last.fitted_by == ""


def test_max_sky_change_is_a_factor_or_off():
    assert GuardSettings(max_sky_change=0.0).max_sky_change == 0.0
    assert GuardSettings(max_sky_change=2.0).max_sky_change == 2.0
    with pytest.raises(ValueError, match="guard.max_sky_change must be 0"):
        GuardSettings(max_sky_change=0.5)


def test_a_turned_plan_flies_the_plan_at_its_share_along_each_frames_heading():
    """Headings of 0: the plan itself, each camera at ``share`` of its distance; headings of 90
    degrees: the same steps to the right (+x), each camera looking that way."""
    plan = forward(20, speed=0.05)
    centres = invert_pose(plan.poses)[:, :3, 3]
    straight = turned_plan(plan, [0.0] * 20, 0.5)
    assert torch.allclose(invert_pose(straight.poses)[:, :3, 3], 0.5 * centres, atol=1e-9)
    assert torch.allclose(straight.poses[:, :3, :3], plan.poses[:, :3, :3], atol=1e-9)
    right = turned_plan(plan, [90.0] * 20, 1.0)
    moved = invert_pose(right.poses)
    assert torch.allclose(moved[:, :3, 3], centres[:, [2, 1, 0]], atol=1e-9)
    assert torch.allclose(moved[:, :3, 2], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).expand(20, 3), atol=1e-9)
