"""A flight's output frame: the one type every layer shares (the engine makes it; outputs,
health and evaluation read it). Only torch and the standard library, so any layer may import it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Frame", "MAGNIFIED"]

# A surface shown more than this many times larger than the photo showed it counts as magnified.
MAGNIFIED = 4.0


@dataclass(frozen=True)
class Frame:
    """One output frame.

    Attributes:
        index: frame number in the path.
        image: ``(1, 3, H, W)`` in [0, 1].
        disparity: ``(1, 1, H, W)`` in scene units (median depth of frame 0 is 1); 0 is sky.
        pose: ``(4, 4)`` float64 ``cam_from_world``.
        is_keyframe: refined (and depth re-estimated) rather than warped from the last keyframe.
        invalid_fraction: share of pixels the warp could not see, before filling.
        detail: keyframes with detail restoration on: ``(1, 1, H, W)`` the detail level each
            surface had when first seen (what a resumed flight needs to continue exactly).
        progress: where along the camera path this frame is, in frames: its index unless the
            clearance guard slowed the path (:mod:`perpetual.paths.clearance`).
        free_space: the distance from this camera to the nearest surface the frame before it
            showed (scene units; inf where nothing was checked).
        too_close: the path came closer to a surface than ``guard.clearance`` (``warn``), or the
            guard halted the camera (``stop``).
        slowed: why the guard slowed the path at this frame: ``"clearance"``, ``"magnified"``
            (``guard.max_magnified``) or ``""`` (it did not).
        magnified_share: share of the frame showing land magnified more than :data:`MAGNIFIED`
            times (:data:`MAGNIFIED`) since the start image showed it.
        invented_share: share of the frame showing land that no part of the start image shows
            (filled or inpainted).
        provenance: keyframes: ``(1, 2, H, W)`` what :attr:`magnified_share` and
            :attr:`invented_share` are read from, carried with the surfaces (for resuming):
            channel 0 how much of each pixel comes from the start image, channel 1 the log2 of
            its magnification since.
        fitted_by: frame 0 of a flight whose path's speed was fitted to it (``guard.fit``): the
            rule that stopped the path going further (:class:`perpetual.paths.fit.Fit`), ``""``
            where it did not.
        turn_bound: frame 0 of an autopilot flight from a photo: the degrees it may turn left and
            right of frame 0's heading (:meth:`perpetual.paths.autopilot.Autopilot.keep_to_photo`).
        flown_level: frame 0 of a flight from a photo whose path's moves (or the autopilot's) are
            made level with its horizon rather than along its camera's axis (``engine.level_paths``).
    """

    index: int
    image: torch.Tensor
    disparity: torch.Tensor
    pose: torch.Tensor
    is_keyframe: bool
    invalid_fraction: float
    detail: torch.Tensor | None = None
    progress: float | None = None
    free_space: float = math.inf
    too_close: bool = False
    slowed: str = ""
    magnified_share: float = 0.0
    invented_share: float = 0.0
    provenance: torch.Tensor | None = None
    fitted_by: str = ""
    turn_bound: tuple[float, float] | None = None
    flown_level: bool = False
