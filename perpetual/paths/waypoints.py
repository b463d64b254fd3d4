"""Paths through waypoints, from a Python function, or from an array of poses.

Waypoint interpolation passes exactly through every waypoint: camera centres follow a C1 cubic
Hermite spline (Catmull-Rom tangents on the waypoint times), orientations follow Shoemake's SQUAD on
quaternions, and an optional easing slows the camera into and out of each waypoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from perpetual.paths.interpolate import Easing, interp1d, interpolate_poses
from perpetual.paths.path import CameraPath

__all__ = ["from_function", "from_waypoints", "from_poses", "interp1d", "interpolate_poses"]


def from_waypoints(
    times: Sequence[float] | torch.Tensor,
    poses: Sequence[torch.Tensor] | torch.Tensor,
    *,
    fps: float = 30.0,
    fov: float | Sequence[float] = 60.0,
    easing: Easing = "linear",
    width: int = 256,
    height: int = 256,
) -> CameraPath:
    """A path through waypoint ``poses`` (``cam_from_world``) at ``times`` (seconds from 0).

    One frame every ``1 / fps`` seconds from the first waypoint to the last, passing exactly through
    every waypoint that falls on a frame. ``fov`` is one value or one per waypoint (interpolated linearly).
    """
    key_times = torch.as_tensor(times, dtype=torch.float64)
    key_poses = torch.stack(list(poses)).double() if not torch.is_tensor(poses) else poses.double()
    if key_poses.shape[0] != key_times.shape[0]:
        raise ValueError(f"{key_times.shape[0]} waypoint times but {key_poses.shape[0]} poses")
    frames = int(round(float(key_times[-1] - key_times[0]) * fps)) + 1
    at = key_times[0] + torch.arange(frames, dtype=torch.float64) / fps
    key_fov = torch.as_tensor(fov, dtype=torch.float64).expand(len(key_times))
    return CameraPath(
        poses=interpolate_poses(key_times, key_poses, at, easing),
        fov=interp1d(key_times, key_fov, at),
        width=width,
        height=height,
        fps=fps,
    )


def from_function(
    fn: Callable[[float], torch.Tensor], frames: int, *, fps: float = 30.0, fov: float = 60.0, width: int = 256, height: int = 256
) -> CameraPath:
    """A path from any function of time in seconds ``t -> cam_from_world (4, 4)``."""
    poses = torch.stack([torch.as_tensor(fn(i / fps), dtype=torch.float64) for i in range(frames)])
    return CameraPath(poses=poses, fov=torch.tensor(float(fov)), width=width, height=height, fps=fps)


def from_poses(poses: torch.Tensor, *, fps: float = 30.0, fov: float = 60.0, width: int = 256, height: int = 256) -> CameraPath:
    """A path from an array of ``cam_from_world`` poses ``(N, 4, 4)``."""
    return CameraPath(poses=torch.as_tensor(poses), fov=torch.tensor(float(fov)), width=width, height=height, fps=fps)
