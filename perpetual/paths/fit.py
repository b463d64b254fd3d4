"""Fitting a path's speed to what its start image holds. Pure tensor code.

A path is planned before anything is seen. Flown from a photo at its own speed, a forward path
soon shows the photo's surfaces many times larger than the photo did, and the clearance guard
(:mod:`perpetual.paths.clearance`) then slows it to a halt part way: a flight that moves for a
third of its frames and stands still for the rest. :func:`fit_path` instead looks ahead before
the first frame: it follows frame 0's surfaces into the path's later views (no rendering: each
pixel's 3D point projected, :func:`magnified_share`) and finds how far along the path the camera
can go before too much of the view would be magnified, the camera would come too near a
surface, near land would hide too much of the sky (:func:`hidden_sky`: a flight toward a
person in front of the horizon ends as a view of their coat), or the view would keep too little
of the photo's detail (:func:`kept_detail`: frame 0 rendered there; a rise past the near rocks
that made a photo's detail, a push into land whose estimated depth waves), or its sky would be
too far from frame 0's (:func:`~perpetual.sky.sky_change` of that render). From a photo the render shows frame 0
mirrored where the view looks beyond it, as the flight does (``engine.mirror_beyond``), so a pan
or an orbit is foreseen too: a pan turning from a temple to blander trees, or from the sky to a
wooded bank. The path is then flown that far, at an even pace over all of its frames.

What it cannot see: surfaces frame 0 does not show (the inpainter's), and the stretch a flight
adds at depth edges over many keyframes; the guard still watches each frame for those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch

from perpetual.beyond import Anchor, beyond_photo
from perpetual.geometry import invert_pose, pixel_jacobian, reproject, stretch, world_points
from perpetual.paths.autopilot import UNLEVELLED, AutopilotSettings, heading_pose, turn_headings
from perpetual.paths.clearance import nearest, surface_points
from perpetual.paths.path import CameraPath
from perpetual.render import WarpSettings, fill_holes, warp
from perpetual.sky import SKY_FLOOR, sky_change
from perpetual.structure import edge_energy

__all__ = ["Fit", "fit_path", "fit_turn", "foresee", "ground_height", "hidden_sky", "kept_detail", "magnified_share", "turned_plan"]

_SAMPLES = 48  # progress values tried along the path, then bisected between the last good and first bad
_BISECTIONS = 6
_SKY_STRIDE = 4  # hidden_sky renders at a quarter of the size: a share of the view, not its pixels
_LEAST_SKY = 0.1  # a start image with less sky than this (a portrait, a room: a sliver read as sky) has none to keep
# A start image with less sky than this is not held to its sky fraction: Path.jpg's gaps in the
# canopy (1% of it) leave a forest's views as it moves, and would hold it still.
_LEAST_SKY_CHANGE = 5 * SKY_FLOOR
_SKY_WARP = WarpSettings(sky_apart=True)  # a skyline moving over the sky shows sky behind it, not smeared land
# A flight's keyframes stretch frame 0 in small steps, each under the renderer's tear limit, so in
# one warp to a far view it is one surface that tears nowhere; read as the engine reads it.
_DETAIL_WARP = WarpSettings(max_stretch=1e4, sampling="cubic")
_DETAIL_SAMPLES = 4  # kept_detail renders at full size: tried at a few points up to where the rest fits
_DETAIL_BISECTIONS = 4
_TURN_BISECTIONS = 4  # a turn's share is found to a sixteenth


def magnified_share(disparity: torch.Tensor, K: torch.Tensor, K_view: torch.Tensor, view_from_start: torch.Tensor,
                    limit: float) -> float:
    """The share of a view that frame 0's land fills magnified more than ``limit`` times (in the
    direction it is magnified most), frame 0 being ``disparity`` ``(1, 1, H, W)`` with intrinsics
    ``K`` ``(1, 3, 3)`` and the view a camera ``view_from_start`` ``(4, 4)`` away with ``K_view``
    ``(1, 3, 3)``, the same size. Each land pixel covers its Jacobian's area of the view, as much
    of it as falls inside (its footprint's bounding box clipped to the view). A footprint larger
    than the view counts only where the pixel itself lands in the view: beside the camera, near
    its plane, a pixel's neighbours land hundreds of thousands of pixels apart (or behind it), and
    the bounding box of that sliver spans a view that the sliver misses. Occlusion is ignored, so
    overlapping surfaces can count twice. At most 1."""
    H, W = disparity.shape[-2:]
    moved = reproject(disparity, K, view_from_start.to(disparity).unsqueeze(0), K_view)
    du, dv = pixel_jacobian(moved.uv)
    smaller, larger = stretch(du, dv)
    half = 0.5 * (du.abs() + dv.abs())  # (1, 2, H, W): the footprint's half extent in u and v
    low, high = moved.uv - half, moved.uv + half
    view_end = torch.tensor([W, H], dtype=low.dtype, device=low.device).view(1, 2, 1, 1) - 0.5
    inside = (torch.minimum(high, view_end) - low.clamp_min(-0.5)).clamp_min(0) / (2 * half).clamp_min(1e-6)
    covered = inside.clamp_max(1.0).prod(dim=1, keepdim=True)
    lands = ((moved.uv >= -0.5) & (moved.uv <= view_end)).all(dim=1, keepdim=True)
    placed = lands | (2 * half <= view_end + 0.5).all(dim=1, keepdim=True)
    counted = (disparity > 0) & moved.in_front & placed & (larger > limit)
    area = torch.where(counted, smaller * larger * covered, torch.zeros_like(larger))
    return min(1.0, float(area.sum()) / (H * W))


def ground_height(disparity: torch.Tensor, K: torch.Tensor, pose: torch.Tensor) -> float:
    """How high a camera (``pose`` ``(4, 4)``) stands over the ground it stands on, in scene
    units: the median height over the land at the middle half of its bottom edge (the nearest
    ground it shows; the ground beneath it no view shows), from its disparity ``(1, 1, H, W)``
    and intrinsics ``K`` ``(1, 3, 3)``. Up is -y. Infinite without land below the camera there."""
    H, W = disparity.shape[-2:]
    edge = torch.zeros_like(disparity)
    edge[..., -1, W // 4 : W - W // 4] = disparity[..., -1, W // 4 : W - W // 4]
    drop = world_points(edge, K, pose)[0][1] - invert_pose(pose.cpu().double())[1, 3]
    below = drop[drop > 0]
    return float(below.median()) if below.numel() > drop.numel() // 2 else math.inf


def hidden_sky(disparity: torch.Tensor, K: torch.Tensor, K_view: torch.Tensor, view_from_start: torch.Tensor) -> float:
    """How much less sky a view shows than it would from frame 0's place, as a share of that sky:
    the view ``view_from_start`` ``(4, 4)`` against the same view without its translation (sky is
    at infinity: a turn alone hides none of it, and a camera turning away from the sky is not
    counted), both rendered from frame 0's ``disparity`` ``(1, 1, H, W)`` and intrinsics ``K``
    ``(1, 3, 3)``. A hole the move opens where the turned view shows sky counts as sky; the sky a
    move uncovers behind land is unseen and not counted, so land passing in front of the sky
    counts part of what it covers (under half as much as coming nearer by the same distance, in the
    tests), and land magnified past the renderer's ``max_stretch`` (3x) tears into holes that
    count as sky (a path meets any useful limit long before). Rendered at 1 / ``_SKY_STRIDE`` of
    the size; 0 when the turned view shows no sky."""
    s = _SKY_STRIDE
    coarse = disparity[..., s // 2 :: s, s // 2 :: s]
    scale = torch.tensor([[1 / s, 0, 0.5 / s - 0.5], [0, 1 / s, 0.5 / s - 0.5], [0, 0, 1]], dtype=K.dtype, device=K.device)
    Kc, Kc_view = scale @ K, scale @ K_view.to(K)
    moved = view_from_start.to(disparity).unsqueeze(0)
    turned = moved.clone()
    turned[:, :3, 3] = 0.0
    image = coarse.expand(-1, 3, -1, -1)
    seen = warp(image, coarse, Kc, turned, Kc_view, settings=_SKY_WARP)
    sky = seen.valid & (seen.disparity == 0)
    if not bool(sky.any()):
        return 0.0
    there = warp(image, coarse, Kc, moved, Kc_view, settings=_SKY_WARP)
    sky_there = (there.valid & (there.disparity == 0)) | (~there.valid & sky)
    return max(0.0, 1.0 - float(sky_there.sum()) / float(sky.sum()))


def foresee(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, K_view: torch.Tensor,
            view_from_start: torch.Tensor, mirror: Anchor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame 0 (``image`` ``(1, 3, H, W)``, ``disparity`` ``(1, 1, H, W)``, intrinsics ``K``
    ``(1, 3, 3)``) rendered at the camera ``view_from_start`` ``(1, 4, 4)`` away (``K_view``) as a
    flight shows it there: one warp in which frame 0 tears nowhere (a flight's keyframes stretch it
    in steps, each under the tear limit), the holes whose rays point beyond frame 0's field of view
    showing it mirrored there (given ``mirror``, frame 0 as :class:`~perpetual.beyond.Anchor`:
    ``engine.mirror_beyond``), the rest filled from their neighbours. The image ``(1, 3, H, W)``
    and where it shows sky ``(1, 1, H, W)`` (bool; never in a filled hole)."""
    seen = warp(image, disparity, K, view_from_start, K_view, settings=_DETAIL_WARP)
    shown = fill_holes(seen.image, seen.valid)
    sky = seen.valid & (seen.disparity == 0)
    if mirror is not None and not bool(seen.valid.all()):  # as the engine: the mirror only where there are holes
        pose = view_from_start[0].to(mirror.pose) @ mirror.pose
        beyond = beyond_photo(mirror, pose, K_view, tuple(image.shape[-2:]))
        mirrored = beyond.mask & ~seen.valid
        shown = torch.where(mirrored, beyond.image, shown)
        sky = sky | (mirrored & (beyond.disparity == 0))
    return shown, sky


def kept_detail(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, K_view: torch.Tensor,
                view_from_start: torch.Tensor, own: float | None = None, mirror: Anchor | None = None) -> float:
    """The share of frame 0's detail a view keeps: the edge energy
    (:func:`~perpetual.structure.edge_energy`, what ``perpetual eval photo`` scores as sharpness)
    of frame 0 (``image`` ``(1, 3, H, W)``, ``disparity`` ``(1, 1, H, W)``, intrinsics ``K``
    ``(1, 3, 3)``) rendered at the camera ``view_from_start`` ``(4, 4)`` away (``K_view``,
    :func:`foresee`). Given ``mirror`` (frame 0 as :class:`~perpetual.beyond.Anchor`), over frame
    0's own, the photo mirrored where the view looks beyond it: on pans from three photos this was
    within 0.04 of the flown frames' sharpness at every frame. Without it, over that of the same
    view turned without moving: a turn alone keeps 1 (beyond the photo's edges the inpainter
    decides, not the distance flown). On five flights from photos it was within 0.04 of the flown
    frames' sharpness on the two forward flights and 0.05-0.12 below it on the three rises, down
    to where either crosses a half. ``own``: frame 0's own edge energy, where already taken (a fit
    asks at several views)."""
    moved = view_from_start.to(disparity).unsqueeze(0)
    return _foreseen(image, disparity, K, K_view, moved, own, mirror)[0]


def _foreseen(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, K_view: torch.Tensor, moved: torch.Tensor,
              own: float | None, mirror: Anchor | None) -> tuple[float, float]:
    """:func:`kept_detail` at the view ``moved`` ``(1, 4, 4)``, and the share of that view
    :func:`foresee` shows as sky."""
    shown, sky = foresee(image, disparity, K, K_view, moved, mirror)
    turned = moved.clone()
    turned[:, :3, 3] = 0.0
    # Cubic sampling reads pixel centres exactly: the unturned view is frame 0 itself.
    unturned = torch.equal(K_view, K) and torch.allclose(turned, torch.eye(4, dtype=turned.dtype, device=turned.device))
    if mirror is None and not unturned:  # without the mirror: against the same view turned without moving
        reference = edge_energy(foresee(image, disparity, K, K_view, turned)[0])
    else:  # against frame 0's own
        reference = edge_energy(image) if own is None else own
    return edge_energy(shown) / max(reference, 1e-12), float(sky.float().mean())


@dataclass(frozen=True)
class Fit:
    """How fast a path is flown from its start image (:func:`fit_path`): ``share`` of its speed, in
    ``(0, 1]``, and ``bound``, the rule that stops it going further: ``"clearance"``,
    ``"magnified"``, ``"hidden sky"``, ``"detail"``, ``"sky"``, or ``""`` where the whole path fits."""

    share: float = 1.0
    bound: str = ""


def fit_path(path: CameraPath, disparity: torch.Tensor, K: torch.Tensor, *, most_magnified: float, limit: float,
             keep: float, most_hidden: float = 1.0, image: torch.Tensor | None = None, least_detail: float = 0.0,
             mirror: Anchor | None = None, most_sky_change: float = 0.0) -> Fit:
    """The share of ``path``'s speed (in ``(0, 1]``) at which its ``N`` frames reach only as far as
    frame 0 holds, frame 0 being ``disparity`` ``(1, 1, H, W)`` with intrinsics ``K`` ``(1, 3, 3)``
    at the path's first pose: every view up to there shows at most ``most_magnified`` of itself
    magnified beyond ``limit`` (:func:`magnified_share`), near land hides at most ``most_hidden``
    of the sky it would show from frame 0's place (:func:`hidden_sky`; only where at least
    ``_LEAST_SKY`` of frame 0 is sky), no camera comes nearer than ``keep`` scene units to a
    surface frame 0 shows (or than frame 0's camera is, if nearer, or than it stands over the
    ground, :func:`ground_height`: a camera held low over a lawn flies level over it), and, given
    frame 0's ``image`` ``(1, 3, H, W)``, every view keeps at least ``least_detail`` of its detail
    (:func:`kept_detail`, the photo mirrored beyond its edges given ``mirror``, frame 0 as
    :class:`~perpetual.beyond.Anchor`) and, given ``mirror`` and ``most_sky_change`` (0: no limit),
    shows a sky fraction within that factor of frame 0's (:func:`~perpetual.sky.sky_change`, as
    ``perpetual eval photo`` scores it; only where at least ``_LEAST_SKY_CHANGE`` of frame 0 is
    sky). 1 when the whole path fits; at least one sample's worth of the path otherwise. With it,
    which rule stopped the path (:class:`Fit`)."""
    last = len(path) - 1
    if last < 1 or not bool((disparity > 0).any()):
        return Fit()
    rules = _Rules(path, disparity, K, most_magnified=most_magnified, limit=limit, keep=keep, most_hidden=most_hidden,
                   image=image, least_detail=least_detail, mirror=mirror, most_sky_change=most_sky_change)
    reach, bound = _reach(partial(rules.geometry, path), float(last), _SAMPLES, _BISECTIONS)
    if rules.rendered:  # a render per try: only up to where the rest fits, at fewer points
        reach, bound = _reach(partial(rules.render, path), reach, _DETAIL_SAMPLES, _DETAIL_BISECTIONS, bound)
    return Fit(max(reach, float(last) / _SAMPLES) / last, bound)


def fit_turn(plan: CameraPath, degrees: float, settings: AutopilotSettings, share: float, disparity: torch.Tensor,
             K: torch.Tensor, level: tuple[float, bool] = UNLEVELLED, **limits: Any) -> float:
    """The share (in ``[0, 1]``) of a turn to ``degrees`` (right positive) that an autopilot with
    ``settings`` flying ``plan`` (its open-loop plan: level, straight ahead from the origin) at
    ``share`` of its speed may make: the autopilot turns to its bound early, as fast as it may
    (:func:`~perpetual.paths.autopilot.turn_headings`), and flies the rest of the way turned, so
    the turned plan (:func:`turned_plan`) must keep the rules of :func:`fit_path` (frame 0 and
    ``limits`` as there) at every one of ``_DETAIL_SAMPLES`` views along it, the last one
    included; ``level`` as the autopilot's (:meth:`~perpetual.paths.autopilot.Autopilot.keep_to_photo`).
    Bisected ``_TURN_BISECTIONS`` times below the whole turn."""
    if len(plan) < 2 or not bool((disparity > 0).any()):
        return 1.0
    rules = _Rules(plan, disparity, K, **limits)
    last = len(plan) - 1
    views = [last * i / _DETAIL_SAMPLES for i in range(_DETAIL_SAMPLES, 0, -1)]  # the farthest, likeliest to break, first

    def broken(turn: float) -> str:
        turned = turned_plan(plan, turn_headings(settings, turn * degrees, len(plan)), share, level)
        checks = [partial(rules.geometry, turned)] + ([partial(rules.render, turned)] if rules.rendered else [])
        return next((rule for check in checks for v in views if (rule := check(v))), "")

    return _reach(broken, 1.0, 1, _TURN_BISECTIONS)[0]


class _Rules:
    """The rules :func:`fit_path` holds each view of a path from frame 0 to (arguments as there),
    frame 0 taken at the first pose of ``path``; the paths asked about (``path``, or the same plan
    turned: :func:`turned_plan`) have its frames' intrinsics."""

    def __init__(self, path: CameraPath, disparity: torch.Tensor, K: torch.Tensor, *, most_magnified: float, limit: float,
                 keep: float, most_hidden: float = 1.0, image: torch.Tensor | None = None, least_detail: float = 0.0,
                 mirror: Anchor | None = None, most_sky_change: float = 0.0) -> None:
        self.disparity, self.K, self.image, self.mirror = disparity, K, image, mirror
        self.most_magnified, self.limit, self.least_detail = most_magnified, limit, least_detail
        self.start = path.poses[0]
        self.Ks = path.intrinsics(disparity.dtype).to(disparity.device)
        self.points = surface_points(disparity, K, self.start)
        centre = invert_pose(self.start)[:3, 3]
        self.keep = min(keep, float(nearest(self.points, centre[None])[0]), ground_height(disparity, K, self.start))
        self.first_sky = float((disparity == 0).float().mean())
        self.most_hidden = most_hidden if most_hidden < 1.0 and self.first_sky >= _LEAST_SKY else 1.0
        self.sky_limit = most_sky_change if mirror is not None and self.first_sky >= _LEAST_SKY_CHANGE else 0.0
        self.rendered = image is not None and (least_detail > 0 or self.sky_limit > 0)
        self.own = edge_energy(image) if self.rendered else 0.0

    def _view(self, path: CameraPath, progress: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pose at ``progress``, its intrinsics ``(1, 3, 3)`` and its ``view_from_start``."""
        pose = path.pose_at(progress)
        return pose, self.Ks[min(round(progress), len(path) - 1)].unsqueeze(0), pose @ invert_pose(self.start)

    def geometry(self, path: CameraPath, progress: float) -> str:
        """The first rule the view at ``progress`` breaks by its geometry alone, or ``""``."""
        pose, K_view, view_from_start = self._view(path, progress)
        if float(nearest(self.points, invert_pose(pose)[None, :3, 3])[0]) < self.keep:
            return "clearance"
        if magnified_share(self.disparity, self.K, K_view, view_from_start, self.limit) > self.most_magnified:
            return "magnified"
        hidden = self.most_hidden < 1.0 and hidden_sky(self.disparity, self.K, K_view, view_from_start) > self.most_hidden
        return "hidden sky" if hidden else ""

    def render(self, path: CameraPath, progress: float) -> str:
        """The rule the view at ``progress``, rendered (:func:`foresee`), breaks, or ``""``."""
        _, K_view, view_from_start = self._view(path, progress)
        moved = view_from_start.to(self.disparity).unsqueeze(0)
        detail, sky = _foreseen(self.image, self.disparity, self.K, K_view, moved, self.own, self.mirror)
        if detail < self.least_detail:
            return "detail"
        return "sky" if self.sky_limit > 0 and sky_change(sky, self.first_sky) > self.sky_limit else ""


def turned_plan(plan: CameraPath, headings: Sequence[float], share: float,
                level: tuple[float, bool] = UNLEVELLED) -> CameraPath:
    """``plan``, a level flight straight ahead from the origin (the autopilot's open-loop plan),
    flown at ``share`` of its speed with frame ``i`` heading ``headings[i]`` degrees right of
    it, each step along the heading of the frame it leaves, turned about the ``level`` axes
    (:func:`~perpetual.paths.autopilot.heading_pose`): what an autopilot turning so would see.
    :func:`fit_turn` finds how far the turn keeps to the photo."""
    centres = invert_pose(plan.poses)[:, :3, 3]  # (N, 3)
    steps = share * (centres[1:] - centres[:-1]).norm(dim=1)
    centre, poses = torch.zeros(3, dtype=torch.float64), []
    for i, degrees in enumerate(headings):
        yaw = math.radians(degrees)
        poses.append(heading_pose(centre, yaw, 0.0, level))
        if i < len(steps):
            centre = centre + steps[i] * torch.tensor([math.sin(yaw), 0.0, math.cos(yaw)], dtype=torch.float64)
    return replace(plan, poses=torch.stack(poses))


def _reach(broken: Callable[[float], str], end: float, samples: int, bisections: int, bound: str = "") -> tuple[float, str]:
    """How far along ``[0, end]`` a path goes while ``broken`` (the rule a view breaks) is ``""``:
    ``samples`` even steps tried in order, then the step between the last that holds and the first
    that breaks a rule bisected ``bisections`` times. ``end`` and ``bound`` (the rule that stopped
    it before ``end``) when every step holds; else the rule the nearest breaking view breaks."""
    step = end / samples
    good = 0.0
    for i in range(1, samples + 1):
        rule = broken(i * step)
        if rule:
            break
        good = i * step
    else:
        return end, bound
    bad = good + step
    for _ in range(bisections):
        middle = 0.5 * (good + bad)
        found = broken(middle)
        if found:
            bad, rule = middle, found
        else:
            good = middle
    return good, rule
