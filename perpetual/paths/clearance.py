"""Keeping the camera out of the scene on any path. Pure tensor code.

A path is planned before anything is seen; a photo's geometry may lie across it. Before each
frame the :class:`ClearanceGuard` measures the free space around the camera along the move the
path asks for: the distance to the nearest surface the last frame shows, ahead or beside
(:func:`surface_points`, :func:`nearest`), and, by its mode:

* ``"slow"`` (the default): the path is flown more slowly where it nears a surface, so the camera
  never comes closer than ``clearance``: its speed is relative to the free space it has. It
  also slows, and in the end halts, as the view fills with land magnified beyond what the start
  image can show (:func:`pace`). Rotations keep pace with the slowed path (the path is retimed, not reshaped).
  Before the first frame the engine may also fit the path's speed to the start image
  (``guard.fit``, :mod:`perpetual.paths.fit`): the guard then flies it at that share of its
  speed (``speed``), and slows it further only for what the fit could not foresee.
* ``"stop"``: the camera halts where the next step would break the clearance and holds that
  pose to the end.
* ``"warn"``: the path is flown as given and each frame that breaks the clearance is reported.
* ``"off"``: no check.

Distances are in scene units (frame 0's median depth is 1); poses are ``cam_from_world``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from perpetual.geometry import invert_pose, world_points
from perpetual.paths.path import CameraPath

__all__ = ["MODES", "ClearanceGuard", "Step", "nearest", "pace", "surface_points"]

MODES = ("slow", "stop", "warn", "off")
_HALVINGS = 8  # "slow" tries the whole step, then halves it this many times, then no step


def surface_points(disparity: torch.Tensor, K: torch.Tensor, pose: torch.Tensor, most: int = 16384) -> torch.Tensor:
    """``(3, N)`` world points of the surfaces a frame sees (sky left out; pixels on a regular
    grid, at most ``most`` of them), from its disparity ``(1, 1, H, W)``, intrinsics ``K``
    ``(1, 3, 3)`` and ``pose`` ``(4, 4)``."""
    H, W = disparity.shape[-2:]
    return world_points(disparity, K, pose, stride=max(1, math.ceil(math.sqrt(H * W / most))))[0]


def nearest(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``(M,)``: the distance from each of ``centres`` ``(M, 3)`` to the nearest of ``points``
    ``(3, N)`` (inf without points)."""
    if points.shape[1] == 0:
        return torch.full((centres.shape[0],), math.inf, dtype=torch.float64)
    return torch.cdist(centres.double(), points.T).amin(dim=1)  # no (M, 3, N) difference tensor: ~20x faster


def pace(magnified: float, most: float) -> float:
    """The share of a frame's step a camera may take when ``magnified`` of the last view is land
    magnified beyond what the start image can show (``Frame.magnified_share``): all of it up to
    half of ``most``, then less, none at ``most`` (1 or more: always all of it)."""
    if most >= 1.0:
        return 1.0
    return min(1.0, max(0.0, (most - magnified) / (0.5 * most)))


@dataclass(frozen=True)
class Step:
    """The guard's answer for one frame: its ``pose`` ``(4, 4)``, where along the path it is
    (``progress``, in frames; the frame index when nothing was changed), the free space around
    it (``free``, scene units, as far as the last frame shows), why the path was slowed
    (``slowed``: ``"clearance"``, ``"magnified"`` (:func:`pace`) or ``""``) and
    whether the clearance broke (``broken``: ``"warn"`` let the path come closer, or ``"stop"``
    halted)."""

    pose: torch.Tensor
    progress: float
    free: float
    slowed: str
    broken: bool


class ClearanceGuard:
    """Flies ``path`` keeping ``clearance`` from what each frame sees (see the module docstring).

    ``brake``: in ``"slow"``, each step covers at most ``1 / brake`` of the free space beyond the
    clearance: the camera glides to a halt over about ``brake`` frames instead of stopping dead.
    ``speed``: the share of a path frame each frame moves on (1: the path's own timing; below 1,
    the path's first ``speed * (N - 1)`` frames spread over all ``N``, see :func:`~perpetual.paths.fit.fit_path`).
    """

    def __init__(self, path: CameraPath, clearance: float = 0.2, mode: str = "slow", brake: float = 10.0,
                 max_magnified: float = 1.0, speed: float = 1.0) -> None:
        if mode not in MODES:
            raise ValueError(f"guard.on_clearance must be one of {', '.join(MODES)}, got {mode!r}")
        self.path, self.clearance, self.mode, self.brake = path, clearance, mode, brake
        self.max_magnified, self.speed = max_magnified, speed
        self.centres = path.centres()
        self.halted = False

    def resume_after(self, too_close: bool) -> None:
        """Continue a flight whose last frame was ``too_close``: in ``stop`` mode that frame had halted it."""
        self.halted = self.mode == "stop" and too_close

    def _centre(self, progress: float) -> torch.Tensor:
        return invert_pose(self.path.pose_at(progress))[:3, 3]

    def next(self, index: int, progress: float, disparity: torch.Tensor, K: torch.Tensor, pose: torch.Tensor,
             magnified: float = 0.0) -> Step:
        """Frame ``index``'s step, from the last frame: its path position ``progress``, disparity
        ``(1, 1, H, W)``, intrinsics ``(1, 3, 3)``, pose ``(4, 4)`` and magnified share (see :func:`pace`)."""
        if self.mode == "off":
            return Step(self.path.poses[index], float(index), math.inf, "", False)
        if self.halted:
            return Step(pose, progress, self.clearance, "", True)
        paced = pace(magnified, self.max_magnified) if self.mode == "slow" else 1.0
        wanted = min(progress + paced * self.speed, float(len(self.path) - 1))
        if paced < 1.0 and wanted <= progress:
            return Step(pose, progress, math.inf, "magnified", False)
        here = invert_pose(pose.cpu().double())[:3, 3]
        target = self._centre(wanted)
        if float((target - here).norm()) < 1e-9:  # turning in place: nothing to run into
            return Step(self.path.pose_at(wanted), wanted, math.inf, "magnified" if paced < 1.0 else "", False)
        # The free space at fractions of this frame's step, the whole step first.
        shares = torch.tensor([1.0] + [0.5**k for k in range(1, _HALVINGS)] + [0.0], dtype=torch.float64)
        free = nearest(surface_points(disparity, K, pose), here + shares[:, None] * (target - here))
        now, room = float(free[-1]), float(free[-1]) - self.clearance
        if self.mode != "slow":
            if float(free[0]) >= self.clearance or self.mode == "warn":
                return Step(self.path.pose_at(wanted), wanted, float(free[0]), "", float(free[0]) < self.clearance)
            self.halted = True  # "stop"
            return Step(pose, progress, now, "", True)
        # "slow": use at most 1 / brake of the room left beyond the clearance.
        fits = free - self.clearance >= room * (1.0 - 1.0 / self.brake)
        share = float(shares[fits][0]) if bool(fits.any()) else 0.0
        if share == 1.0:
            return Step(self.path.pose_at(wanted), wanted, float(free[0]), "magnified" if paced < 1.0 else "", False)
        ahead = progress + share * (wanted - progress)
        return Step(self.path.pose_at(ahead), ahead, now, "clearance", False)
