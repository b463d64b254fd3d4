"""The render-refine-repeat engine: models are loaded once, ``run`` yields frames one by one.

Memory stays flat in the number of frames: only the current keyframe is kept.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import torch

from perpetual.align import align_disparity, clear_floating_ground, deepen_far_land, feather, ground_under_horizon, median_depth_scale
from perpetual.atmosphere import Atmosphere, estimate_atmosphere, warp_hazed
from perpetual.beyond import Beyond, beyond_photo
from perpetual.config import Config
from perpetual.drift import Anchor, Draft, DriftControl, drift_controls, horizon_tilt, magnification, resharpen, sharpness_maps, sky_seen
from perpetual.frame import MAGNIFIED, Frame
from perpetual.geometry import check_shape, invert_pose
from perpetual.models import DepthEstimator, Inpainter, InpaintRequest
from perpetual.models.base import composite
from perpetual.models.loading import auto_device
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot, AutopilotSettings, photo_heading
from perpetual.paths.clearance import ClearanceGuard, nearest, pace, surface_points
from perpetual.paths.fit import Fit, fit_path, fit_turn, magnified_share
from perpetual.paths.schedule import prompt_at
from perpetual.render import WarpSettings, Warped, complete_disparity, fill_holes
from perpetual.render.sampling import sample
from perpetual.sky import FARTHEST_GROUND, estimated_sky, grow_sky, sky_prior, skyline_sky, snap_sky

__all__ = ["Flight", "Flythrough", "Frame", "Keyframe", "View", "build_models"]

AUTOPILOT_LOOKAHEAD = 10  # frames: how far on the autopilot foresees its view's magnification
# At most this magnification is counted per warp (a degenerate Jacobian reads as enormous).
_MAX_STEP_MAGNIFICATION = 8.0


def _complete(warped: Warped, sky: torch.Tensor | None = None, land: torch.Tensor | None = None,
              beyond: Beyond | None = None) -> torch.Tensor:
    """The disparity of ``warped``'s holes, biased to the background (:func:`complete_disparity`);
    0 (sky) in ``sky`` ``(1, 1, H, W)``; never sky in ``land`` ``(1, 1, H, W)``, where a hole the
    completion leaves at sky takes the farthest ground the view shows; frame 0's mirrored in the
    holes ``beyond`` it (:mod:`perpetual.beyond`)."""
    completed = complete_disparity(warped.disparity, warped.valid)
    if sky is not None:
        completed = torch.where(sky, torch.zeros_like(completed), completed)
    if land is not None:
        ground = warped.valid & (warped.disparity > 0)
        farthest = torch.where(ground, warped.disparity, torch.full_like(warped.disparity, math.inf)).amin().clamp(FARTHEST_GROUND, 1.0)
        completed = torch.where(land & (completed < FARTHEST_GROUND), farthest, completed)
    if beyond is not None:
        completed = torch.where(beyond.mask & ~warped.valid, beyond.disparity, completed)
    return completed


@dataclass
class Keyframe:
    """A refined frame that the next frames are rendered from: its ``image`` ``(1, 3, H, W)``,
    ``disparity`` ``(1, 1, H, W)`` (scene units, 0 is sky), ``pose`` ``(4, 4)`` cam_from_world,
    intrinsics ``K`` ``(1, 3, 3)`` and frame ``index``."""

    image: torch.Tensor
    disparity: torch.Tensor
    pose: torch.Tensor
    K: torch.Tensor
    index: int
    detail: torch.Tensor | None = None  # (1, 1, H, W) detail level each surface had when first seen
    provenance: torch.Tensor | None = None  # (1, 2, H, W) see Frame.provenance
    sharpness_maps: torch.Tensor | None = None  # (1, 2, H, W) see Keyframe.sharpness

    def sharpness(self) -> torch.Tensor:
        """``(1, 2, H, W)``: the :func:`~perpetual.drift.sharpness_maps` of :attr:`image`, computed once."""
        if self.sharpness_maps is None:
            self.sharpness_maps = sharpness_maps(self.image)
        return self.sharpness_maps


@dataclass
class View:
    """Frame ``t`` rendered at ``pose`` from the last keyframe, before it is filled or refined:
    the ``warped`` keyframe, its ``provenance`` ``(1, 2, H, W)`` (see :attr:`Frame.provenance`) and
    the holes that are sky, and those that are land, whatever fills them (``engine.open_sky``;
    ``(1, 1, H, W)`` or None), and the pixels beyond frame 0's field of view with what the photo
    shows there, for its holes (``engine.mirror_beyond``; None when off or without holes)."""

    t: int
    pose: torch.Tensor
    warped: Warped
    provenance: torch.Tensor
    sky: torch.Tensor | None = None
    sharpness: torch.Tensor | None = None  # (1, 2, H, W) the keyframe's where each pixel read it (render.resharpen)
    land: torch.Tensor | None = None
    beyond: Beyond | None = None
    K: torch.Tensor | None = None  # (1, 3, 3) its intrinsics
    sky_from: Anchor | None = None  # frame 0, whose sky it shows (drift.anchor_sky; None when off)


class Levelled(NamedTuple):
    """A path as :meth:`Flythrough._level` flies it: the ``path``, its ``level`` (the horizon's
    tilt in radians and whether its moves are levelled too) and its :class:`Fit`."""

    path: CameraPath
    level: tuple[float, bool]
    fit: Fit


@dataclass
class Flight:
    """A flight in progress (:meth:`Flythrough.begin`): what it carries from frame to frame."""

    path: CameraPath
    Ks: torch.Tensor  # (N, 3, 3) every frame's intrinsics
    anchor: Anchor  # frame 0, for the sky rules
    controls: list[DriftControl]  # applied in order at each keyframe (the [drift] settings)
    atmosphere: Atmosphere | None  # frame 0's haze (render.aerial_perspective)
    guard: ClearanceGuard | None  # None when the autopilot steers
    autopilot: Autopilot | None
    open_sky: bool  # engine.open_sky applies: a flight from a photo whose frame 0 shows sky
    mirror_beyond: bool  # engine.mirror_beyond applies: a flight from a photo
    render_settings: WarpSettings
    prompt: str
    seed: int
    start: Keyframe | None  # frame 0 of a flight from a photo (what the autopilot paces itself by); None from known depth
    key: Keyframe  # the keyframe frames are rendered from
    last: Frame  # the frame before the next one
    progress: float  # where along the path the camera is, in frames

    def K(self, t: int) -> torch.Tensor:
        """Frame ``t``'s intrinsics ``(1, 3, 3)``; a live flight (:mod:`perpetual.live`) goes on
        past its path's last frame with that frame's field of view."""
        i = min(t, len(self.Ks) - 1)
        return self.Ks[i : i + 1]


@dataclass
class Timings:
    """Seconds spent per stage, summed over a run.

    On an asynchronous device set ``sync`` (e.g. ``torch.cuda.synchronize``) for true per-stage
    figures, at the cost of the overlap between stages.
    """

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    sync: Callable[[], None] | None = None

    def add(self, stage: str, start: float) -> float:
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


def build_models(config: Config, device: str | torch.device | None = None) -> tuple[DepthEstimator, Inpainter]:
    """The depth estimator and inpainter a config names (see :class:`~perpetual.config.ModelSettings`)."""
    from perpetual.models.registry import load_depth, load_inpainter

    return load_depth(config.models, device), load_inpainter(config.models, device)


def _fresh_provenance(image: torch.Tensor) -> torch.Tensor:
    """The start image's :attr:`Frame.provenance`: all of it from the image, nothing magnified."""
    ones = torch.ones_like(image[:, :1])
    return torch.cat([ones, torch.zeros_like(ones)], dim=1)


def _carry_provenance(provenance: torch.Tensor, warped: Warped) -> torch.Tensor:
    """A keyframe's provenance ``(1, 2, H, W)`` seen through ``warped``: read where each pixel read
    its colour, this warp's magnification added (a surface seen smaller again counts down, not
    below the photo's own scale), holes invented."""
    carried = sample(provenance, warped.source_uv)
    step = magnification(warped.source_uv, warped.valid, least=1.0 / _MAX_STEP_MAGNIFICATION).clamp_max(_MAX_STEP_MAGNIFICATION)
    zero = torch.zeros_like(carried[:, :1])
    seen = torch.where(warped.valid, carried[:, :1], zero)
    log_magnification = torch.where(warped.valid, (carried[:, 1:] + step.log2()).clamp_min(0.0), zero)
    return torch.cat([seen, log_magnification], dim=1)


def _shares(provenance: torch.Tensor, disparity: torch.Tensor) -> tuple[float, float]:
    """:attr:`Frame.magnified_share` and :attr:`Frame.invented_share` of a frame (sky is neither)."""
    land = disparity > 0
    seen = provenance[:, :1] > 0.5
    magnified = land & seen & (provenance[:, 1:] > math.log2(MAGNIFIED))
    invented = land & ~seen
    shares = torch.stack([magnified.float().mean(), invented.float().mean()]).tolist()
    return shares[0], shares[1]


class Flythrough:
    """Render, refine, repeat along a camera path.

    ``config``: the pipeline (None: the ``default`` preset, as the command line flies). ``device``
    is where the loop and its default models run; None (or ``"auto"``) takes cuda,
    else mps, else cpu. Models passed in keep their own device; tensors move at their calls.

    Example:
        >>> from perpetual.paths import forward
        >>> fly = Flythrough()
        >>> frames = list(fly.run(torch.rand(1, 3, 32, 32), forward(4).with_size(32, 32)))
        >>> [f.index for f in frames], frames[0].is_keyframe
        ([0, 1, 2, 3], True)
    """

    def __init__(
        self,
        config: Config | None = None,
        depth: DepthEstimator | None = None,
        inpainter: Inpainter | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.config = config if config is not None else Config()
        self.device = auto_device(device)
        if depth is None or inpainter is None:
            default_depth, default_inpainter = build_models(self.config, self.device)
            depth, inpainter = depth or default_depth, inpainter or default_inpainter
        self.depth, self.inpainter = depth, inpainter
        self.timings = Timings()

    def start(self, image: torch.Tensor, path: CameraPath, disparity: torch.Tensor | None = None) -> Keyframe:
        """Frame 0: its disparity (given, or estimated), normalised so the median depth is 1; an
        estimate's sky found (``models.sky_prior``), its horizon taken far (``models.far_land``)
        and the land under a level horizon held no nearer than a level ground (``models.ground_plane``)."""
        check_shape("image", image, (1, 3, path.height, path.width))
        image = image.to(self.device, torch.float32)
        estimated = disparity is None
        if estimated:
            estimate = self.depth(image)
            sky = estimated_sky(estimate)
            if self.config.models.sky_prior:
                sky = skyline_sky(image, grow_sky(image, sky | sky_prior(image), estimate), estimate)
            disparity = clear_floating_ground(torch.where(sky, torch.zeros_like(estimate), estimate))
        check_shape("disparity", disparity, (1, 1, path.height, path.width))
        disparity = disparity.to(self.device, torch.float32).clamp_min(0.0)
        disparity = disparity * median_depth_scale(disparity)
        if estimated and self.config.models.far_land > 0:
            disparity = deepen_far_land(disparity, self.config.models.far_land)
        K = path.intrinsics()[:1].to(self.device)
        tilt = horizon_tilt(disparity, K) if estimated and self.config.models.ground_plane > 0 else None
        if tilt is not None:
            land = disparity > 0  # the scale stays its land's: the water ground_under_horizon takes from the sky does not move it
            disparity = ground_under_horizon(disparity, K, tilt, self.config.models.ground_plane)
            disparity = disparity * median_depth_scale(torch.where(land, disparity, torch.zeros_like(disparity)))
        return Keyframe(image, disparity, path.poses[0], K, 0)

    @torch.no_grad()  # on a generator: grad mode is off only while it runs, never for the caller between frames
    def run(
        self,
        image: torch.Tensor,
        path: CameraPath,
        disparity: torch.Tensor | None = None,
        *,
        prompt: str = "",
        seed: int = 0,
        resume: Frame | None = None,
        autopilot: Autopilot | None = None,
        fit: bool = True,
    ) -> Iterator[Frame]:
        """Fly ``path`` from ``image`` ``(1, 3, H, W)`` (and its ``disparity`` if known); yields frames.

        ``resume``: a keyframe of an earlier run of the same flight; the flight goes on after it,
        with the same frames as an uninterrupted run.
        ``autopilot``: steer closed-loop from each frame instead of following ``path``'s poses
        (the path still gives the frame count, size and field of view).
        ``fit``: fit the path's speed to what ``image`` holds (``guard.fit``); False flies its
        poses as given, the clearance guard still checking each (for poses that were flown
        before: a recording, a flight's ``poses.json``).

        Each frame after the first is these steps, each timed as the stage it names:
        0. steer: the next pose (the autopilot's, or the path's kept clear of the scene);
        1. render: the last keyframe warped to that pose;
        2. decide: few enough holes, and the keyframe young enough: an in-between frame, its
           holes filled cheaply, emitted (fill); otherwise a new keyframe:
        3. complete the depth of the holes, biased to the background (fill);
        4. refine: inpaint the holes, conditioned on that depth (refine);
        5. re-estimate depth in the holes, aligned to the rendered depth (depth);
        6. drift control: frame 0's sky and land, its colour statistics, the surfaces' detail (drift);
        7. emit the keyframe, which the next frames are rendered from.

        The stages are methods of their own (:meth:`begin`, :meth:`steer`, :meth:`render`,
        :meth:`in_between`, :meth:`fill`, :meth:`new_keyframe`, :meth:`adopt`), so a loop with
        other poses or another schedule can be written from them, under ``torch.no_grad()`` as
        here (:class:`perpetual.live.LiveFlight` steers one pose at a time and refines keyframes
        on a thread).
        """
        flight = self.begin(image, path, disparity, prompt=prompt, seed=seed, resume=resume, autopilot=autopilot, fit=fit)
        if resume is None:
            yield flight.last
        for t in range(flight.key.index + 1, len(path)):
            clock = time.perf_counter()
            pose, checked = self.steer(flight, t)
            clock = self.timings.add("steer", clock)
            view = self.render(flight, pose, t)
            clock = self.timings.add("render", clock)
            if self.in_between(flight, view):
                flight.last = self.fill(view, checked)
                self.timings.add("fill", clock)
                yield flight.last
                continue
            key = self.new_keyframe(flight, view)
            flight.last = self.adopt(flight, key, view, checked)
            yield flight.last

    def begin(self, image: torch.Tensor, path: CameraPath, disparity: torch.Tensor | None = None, *, prompt: str = "",
              seed: int = 0, resume: Frame | None = None, autopilot: Autopilot | None = None, fit: bool = True) -> Flight:
        """A flight's state at frame 0, or at the keyframe it resumes from (arguments as :meth:`run`)."""
        Ks = path.intrinsics().to(self.device)
        first = self.start(image, path, disparity)
        config = self.config
        # Frame 0's haze: surfaces regain (or lose) contrast against it as the camera nears them.
        atmosphere = estimate_atmosphere(first.image, first.disparity, first.K) if config.render.aerial_perspective else None
        anchor = Anchor(first.image, first.disparity, first.pose, first.K)
        mirror = anchor if config.engine.mirror_beyond and disparity is None else None
        levelled = config.engine.level_paths != "off" and fit and disparity is None
        path, level, fitted = self._level(path, first, anchor.tilt if levelled else 0.0, mirror, fit)
        if autopilot is not None and disparity is None:  # from a photo: its sky, height and field, not the world's
            turns = self._fit_turns(path, first, mirror, fitted.share, autopilot.settings, level) if fit else (1.0, 1.0)
            autopilot.keep_to_photo(first.disparity, first.K, fitted.share, turns, level)
        if resume is None:
            key = replace(first, provenance=_fresh_provenance(first.image))
            turn_bound = autopilot.heading_bound if autopilot is not None else None
            last = Frame(0, key.image, key.disparity, key.pose, True, 0.0, progress=0.0, provenance=key.provenance,
                         fitted_by=fitted.bound, turn_bound=turn_bound, flown_level=bool(level[0]) and level[1])
        else:
            if not resume.is_keyframe:
                raise ValueError("a flight can only resume from a keyframe")
            i = resume.index
            detail, provenance = (None if x is None else x.to(self.device) for x in (resume.detail, resume.provenance))
            if provenance is None:
                provenance = _fresh_provenance(resume.image.to(self.device))
            key = Keyframe(resume.image.to(self.device), resume.disparity.to(self.device), resume.pose, Ks[i : i + 1], i, detail,
                            provenance)
            last = resume
        guard = None if autopilot is not None else ClearanceGuard(path, config.guard.clearance, config.guard.on_clearance,
                                                                  max_magnified=config.guard.max_magnified, speed=fitted.share)
        if guard is not None and resume is not None:
            guard.resume_after(resume.too_close)
        open_sky = config.engine.open_sky and disparity is None and anchor.skyline is not None
        warp = WarpSettings(sampling=config.render.sampling, compile=config.render.compile)
        controls = drift_controls(anchor, **asdict(config.drift), seed=seed, atmosphere=atmosphere, settings=warp,
                                  resharpen=config.render.resharpen, photo=disparity is None)
        return Flight(path, Ks, anchor, controls, atmosphere, guard, autopilot, open_sky, mirror is not None, warp,
                       prompt, seed, first if disparity is None else None, key, last, float(last.index) if last.progress is None else last.progress)

    def _level(self, path: CameraPath, first: Keyframe, tilt: float, mirror: Anchor | None,
               fit: bool) -> Levelled:
        """``path`` made about the level axes of frame 0's horizon ``tilt`` radians above its axis
        (0: left as it is) as ``engine.level_paths`` says, the levelling for the autopilot
        (:func:`~perpetual.paths.autopilot.heading_pose`'s ``level``), and its :meth:`_fit` (with
        ``fit``; else the path's own speed). ``"auto"`` levels its moves too where the fit foresees
        it flown further so, before its views are magnified or near a surface: flown level, a
        camera looking up or down reaches those later, keeping more of the photo on the way. Not
        where the level path would end at the detail limit (``guard.min_detail``): it would only
        go further to the same foreseen detail, which late in a flight is the least sure forecast.
        A path whose cameras turn about a :attr:`~CameraPath.pivot` (an orbit) already circles on
        a level circle, and keeps its moves."""
        mode = self.config.engine.level_paths

        def fitted(moves: bool) -> Levelled:
            levelled = path.levelled(tilt, moves) if tilt else path
            return Levelled(levelled, (tilt, moves), self._fit(levelled, first, mirror) if fit else Fit())

        if not tilt or mode != "auto":
            return fitted(mode == "all")
        turns = fitted(False)
        if bool(path.pivot.any()) or turns.fit.share >= 1.0:
            return turns
        moves = fitted(True)
        return moves if moves.fit.share > turns.fit.share and moves.fit.bound != "detail" else turns

    def _fit_turns(self, plan: CameraPath, first: Keyframe, mirror: Anchor | None, share: float,
                   settings: AutopilotSettings, level: tuple[float, bool]) -> tuple[float, float]:
        """The shares of :func:`~perpetual.paths.autopilot.photo_heading` an autopilot with
        ``settings`` from ``first`` may turn left and right while it flies ``share`` of its
        ``plan``, turning about the ``level`` axes: as far as turning there early and flying on
        turned keeps to the photo (:func:`~perpetual.paths.fit.fit_turn`, the rules of :meth:`_fit`)."""
        bound = photo_heading(first.K, first.image.shape[-1])
        left, right = (fit_turn(plan, side * bound, settings, share, first.disparity, first.K, level,
                                **self._fit_limits(first, mirror)) for side in (-1.0, 1.0))
        return left, right

    def _fit(self, path: CameraPath, first: Keyframe, mirror: Anchor | None) -> Fit:
        """The share of ``path``'s speed it is flown at from ``first`` (``guard.fit``), and the rule
        that bounds it, foreseeing its views beyond the photo as ``mirror`` shows them
        (``engine.mirror_beyond``; None: off)."""
        if not self.config.guard.fitted:
            return Fit()
        return fit_path(path, first.disparity, first.K, **self._fit_limits(first, mirror))

    def _fit_limits(self, first: Keyframe, mirror: Anchor | None) -> dict:
        """The limits :func:`~perpetual.paths.fit.fit_path` holds a path from ``first`` to, from ``guard``."""
        guard = self.config.guard
        return dict(most_magnified=0.5 * guard.max_magnified, limit=MAGNIFIED, keep=1.5 * guard.clearance,
                    most_hidden=guard.max_hidden_sky, image=first.image, least_detail=guard.min_detail, mirror=mirror,
                    most_sky_change=guard.max_sky_change)

    def steer(self, flight: Flight, t: int) -> tuple[torch.Tensor, dict]:
        """0. Frame ``t``'s pose, and what the clearance guard found (for :class:`Frame`)."""
        last = flight.last
        if flight.guard is None:
            return self._autopilot_step(flight)
        step = flight.guard.next(t, flight.progress, last.disparity, flight.K(last.index), last.pose,
                                 last.magnified_share)
        flight.progress = step.progress
        return step.pose, {"progress": step.progress, "free_space": step.free, "too_close": step.broken, "slowed": step.slowed}

    def autopilot_pace(self, flight: Flight, autopilot: Autopilot) -> float:
        """The share of a step ``autopilot`` may take next in ``flight`` from a photo: less as its
        last view, or the view :data:`AUTOPILOT_LOOKAHEAD` steps on along its heading (frame 0's
        land followed there, :func:`~perpetual.paths.fit.magnified_share`), fills with magnified
        land; none at half of ``guard.max_magnified`` (the share the fit keeps a path's views
        under). Always all of it with ``guard.max_magnified = 1``, and from known depth (the
        procedural world, whose flights ``perpetual eval flight`` measures against the world's
        own frames: there the ground the camera flies over would hold it nearly still)."""
        most = self.config.guard.max_magnified
        if most >= 1.0 or flight.start is None:
            return 1.0
        start = flight.start
        view_from_start = autopilot.ahead(AUTOPILOT_LOOKAHEAD) @ invert_pose(start.pose.cpu().double())
        foreseen = magnified_share(start.disparity, start.K, flight.K(flight.last.index + 1), view_from_start, MAGNIFIED)
        return pace(max(flight.last.magnified_share, foreseen), 0.5 * most)

    def _autopilot_step(self, flight: Flight) -> tuple[torch.Tensor, dict]:
        """The autopilot's next pose, and the free space it leaves around the camera, measured
        as the guard measures it."""
        last = flight.last
        share = self.autopilot_pace(flight, flight.autopilot)
        pose = flight.autopilot.next_pose(last.disparity, share)
        centre = invert_pose(pose)[:3, 3]
        free = float(nearest(surface_points(last.disparity, flight.K(last.index), last.pose), centre[None])[0])
        flight.progress = flight.autopilot.distance / flight.autopilot.settings.speed  # the frames its plan would take
        return pose, {"progress": flight.progress, "free_space": free, "too_close": free < self.config.guard.clearance,
                      "slowed": "magnified" if share < 1.0 else ""}

    def render(self, flight: Flight, pose: torch.Tensor, t: int) -> View:
        """1. The keyframe warped to frame ``t``'s ``pose`` (hazed for its new distances), the
        surfaces' provenance carried along."""
        key, K = flight.key, flight.K(t)
        dst_from_key = (pose @ invert_pose(key.pose)).to(self.device, torch.float32).unsqueeze(0)
        warped = warp_hazed(key.image, key.disparity, key.K, dst_from_key, K, flight.atmosphere, flight.render_settings)
        sky = land = None
        if flight.open_sky:
            size = warped.image.shape[-2:]
            sky = ~warped.valid & flight.anchor.above_skyline(pose, K, size)
            land = ~warped.valid & flight.anchor.below_sky_floor(pose, K, size)
        holes = float(warped.invalid_fraction[0]) > 0
        beyond = beyond_photo(flight.anchor, pose, K, tuple(warped.image.shape[-2:])) if flight.mirror_beyond and holes else None
        sharpness = sample(key.sharpness(), warped.source_uv) if self.config.render.resharpen else None
        sky_from = flight.anchor if self.config.drift.anchor_sky else None
        return View(t, pose, warped, _carry_provenance(key.provenance, warped), sky, sharpness, land, beyond, K, sky_from)

    def in_between(self, flight: Flight, view: View) -> bool:
        """2. Whether ``view`` is an in-between frame: few holes and a young enough keyframe."""
        settings, invalid = self.config.engine, float(view.warped.invalid_fraction[0])
        stale = view.t - flight.key.index >= settings.max_age and invalid > 0
        return invalid <= settings.max_invalid and not stale

    def fill(self, view: View, checked: dict) -> Frame:
        """2. An in-between frame: holes filled from their neighbours, their depth completed, its
        land as crisp as the keyframe's (``render.resharpen``), its sky read from frame 0 as a
        keyframe's is (``drift.anchor_sky``: one read of the photo, not a second one of the keyframe's)."""
        warped = view.warped
        completed = snap_sky(_complete(warped, view.sky, view.land, view.beyond))
        magnified_share, invented_share = _shares(view.provenance, completed)
        image = fill_holes(warped.image, warped.valid)
        if view.beyond is not None:
            image = torch.where(view.beyond.mask & ~warped.valid, view.beyond.image, image)
        if view.sharpness is not None:
            image = resharpen(image, view.sharpness[:, :1], view.sharpness[:, 1:], completed > 0)
        if view.sky_from is not None:
            sky = completed == 0
            seen = sky_seen(view.pose, view.K, view.sky_from, sky)
            image = image if seen is None else torch.where(sky, seen.to(image.dtype), image)
        return Frame(view.t, image, completed, view.pose, False, float(warped.invalid_fraction[0]),
                     magnified_share=magnified_share, invented_share=invented_share, **checked)

    def new_keyframe(self, flight: Flight, view: View) -> Keyframe:
        """3-6. The keyframe at ``view``'s pose from its render: holes' depth completed, inpainted,
        depth re-estimated in them, drift controlled. Reads ``flight`` without changing it."""
        warped, t = view.warped, view.t
        clock = time.perf_counter()
        completed = _complete(warped, view.sky, view.land, view.beyond)
        clock = self.timings.add("fill", clock)
        refined = self._refine(flight, warped, completed, t)
        mirrored = None if view.beyond is None else view.beyond.mask & ~warped.valid
        if mirrored is not None:
            refined = torch.where(mirrored, view.beyond.image, refined)
        clock = self.timings.add("refine", clock)
        rendered, known = warped.disparity, warped.valid
        if mirrored is not None:  # the mirrored photo's distances are as known as the rendered ones
            rendered, known = torch.where(mirrored, view.beyond.disparity, rendered), known | mirrored
        new_disparity = snap_sky(self._merge_depth(refined, rendered, known, completed, view.sky, view.land))
        clock = self.timings.add("depth", clock)
        refined, new_disparity, detail = self._control_drift(flight, refined, new_disparity, view)
        self.timings.add("drift", clock)
        return Keyframe(refined, new_disparity, view.pose, flight.K(t), t, detail, view.provenance)

    def adopt(self, flight: Flight, key: Keyframe, view: View, checked: dict) -> Frame:
        """7. ``key`` becomes the keyframe the next frames are rendered from; its :class:`Frame`."""
        flight.key = key
        magnified_share, invented_share = _shares(key.provenance, key.disparity)
        return Frame(key.index, key.image, key.disparity, key.pose, True, float(view.warped.invalid_fraction[0]), key.detail,
                     magnified_share=magnified_share, invented_share=invented_share, provenance=key.provenance, **checked)

    def _refine(self, flight: Flight, warped: Warped, completed: torch.Tensor, t: int) -> torch.Tensor:
        """4. The inpainted keyframe: visible pixels exact, or re-noised at ``engine.refresh``."""
        settings = self.config.engine
        strength = torch.full_like(completed, settings.refresh) if settings.refresh > 0 else None
        request = InpaintRequest(warped.image, warped.valid, completed, prompt_at(flight.prompt, t), flight.seed + t, strength)
        refined = self.inpainter(request)
        if strength is None:  # visible pixels exact, whatever the inpainter returned there
            refined = composite(request, refined)
        return refined.clamp(0.0, 1.0)

    def _control_drift(self, flight: Flight, refined: torch.Tensor, disparity: torch.Tensor,
                       view: View) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """6. The flight's drift controls applied in turn (frame 0's sky and land, its colour statistics, the
        detail each surface had when first seen): the keyframe's image and disparity, and the detail
        reference it carries."""
        warped, t = view.warped, view.t
        draft = Draft(refined, disparity, view.pose, flight.K(t), t, warped.source_uv, warped.valid, flight.key.image, flight.key.detail,
                      beyond=view.beyond, photo=view.provenance[:, :1], magnified=view.provenance[:, 1:].exp2())
        for control in flight.controls:
            draft = control(draft)
        return draft.image, draft.disparity, draft.detail

    def _merge_depth(self, image: torch.Tensor, rendered: torch.Tensor, valid: torch.Tensor, completed: torch.Tensor,
                     sky: torch.Tensor | None = None, land: torch.Tensor | None = None) -> torch.Tensor:
        """Rendered disparity where valid; the aligned estimate in holes, feathered across the seam;
        sky in ``sky`` ``(1, 1, H, W)`` and ground in ``land`` ``(1, 1, H, W)`` whatever the estimate says."""
        if bool(valid.all()):
            return rendered
        estimate = self.depth(image)
        anchor = valid & (rendered > 0)
        if int(anchor.sum()) < 16:
            return completed
        aligned = align_disparity(estimate, rendered, anchor)
        # The estimator decides what is sky in the holes (near zero relative disparity). Ground it
        # does not call sky stays ground: an alignment shift must not turn far ground into sky,
        # or sky spreads from keyframe to keyframe over a long flight.
        sky = estimated_sky(estimate) if sky is None else estimated_sky(estimate) | sky
        if land is not None:
            sky = sky & ~land
        aligned = torch.where(sky, torch.zeros_like(aligned), aligned.clamp_min(FARTHEST_GROUND))
        keep = feather(valid, self.config.engine.seam_feather)
        # Feather ground into ground only: blending sky (0) with ground would leave a seam of
        # near-zero disparity, i.e. ground at an absurd depth.
        blend = (rendered > 0) & (aligned > 0)
        seam = torch.where(blend, keep * rendered + (1 - keep) * aligned, rendered)
        return clear_floating_ground(torch.where(valid, seam, aligned))
