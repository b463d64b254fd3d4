"""Interpolation along key times: piecewise-linear values, and camera poses through every key
(C1 cubic Hermite centres with Catmull-Rom tangents, SQUAD orientations, optional easing).
Pure tensor code; :class:`~perpetual.paths.path.CameraPath` and the waypoint paths build on it."""

from __future__ import annotations

from typing import Literal

import torch

from perpetual.geometry import invert_pose
from perpetual.paths.rotations import matrix_to_quaternion, quaternion_to_matrix, squad, squad_controls

__all__ = ["Easing", "interp1d", "interpolate_poses"]

Easing = Literal["linear", "ease-in-out"]


def interp1d(keys: torch.Tensor, values: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``values`` ``(K,)`` at key times ``keys`` ``(K,)``, held at the ends."""
    at = at.clamp(float(keys[0]), float(keys[-1]))
    seg = (torch.searchsorted(keys, at, right=True) - 1).clamp(0, len(keys) - 2)
    u = (at - keys[seg]) / (keys[seg + 1] - keys[seg])
    return values[seg] + u * (values[seg + 1] - values[seg])


def _ease(u: torch.Tensor, easing: Easing) -> torch.Tensor:
    if easing == "linear":
        return u
    if easing == "ease-in-out":
        return u * u * (3.0 - 2.0 * u)
    raise ValueError(f"unknown easing {easing!r}; use 'linear' or 'ease-in-out'")


def interpolate_poses(
    key_times: torch.Tensor, key_poses: torch.Tensor, at: torch.Tensor, easing: Easing = "linear"
) -> torch.Tensor:
    """Interpolate ``cam_from_world`` keys ``(K, 4, 4)`` at times ``(K,)`` (increasing) to ``at`` ``(N,)``.

    Returns ``(N, 4, 4)``; exactly the key pose at each key time.
    """
    key_times, key_poses, at = key_times.double(), key_poses.double(), at.double()
    if len(key_times) < 2:
        raise ValueError("interpolation needs at least two waypoints")
    if not bool((key_times[1:] > key_times[:-1]).all()):
        raise ValueError("waypoint times must be strictly increasing")
    world_from_cam = invert_pose(key_poses)
    centres, quats = world_from_cam[:, :3, 3], matrix_to_quaternion(world_from_cam[:, :3, :3])
    controls = squad_controls(quats)
    # Catmull-Rom tangents (per unit time), one-sided at the ends.
    prev = torch.cat([key_times[:1], key_times[:-1]])
    nxt = torch.cat([key_times[1:], key_times[-1:]])
    prev_c = torch.cat([centres[:1], centres[:-1]])
    next_c = torch.cat([centres[1:], centres[-1:]])
    tangents = (next_c - prev_c) / (nxt - prev).unsqueeze(1)
    at = at.clamp(float(key_times[0]), float(key_times[-1]))
    seg = (torch.searchsorted(key_times, at, right=True) - 1).clamp(0, len(key_times) - 2)
    span = key_times[seg + 1] - key_times[seg]
    u = _ease((at - key_times[seg]) / span, easing)
    u2, u3 = u * u, u * u * u
    h00, h10, h01, h11 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u, -2 * u3 + 3 * u2, u3 - u2
    centre = (
        h00[:, None] * centres[seg] + (h10 * span)[:, None] * tangents[seg]
        + h01[:, None] * centres[seg + 1] + (h11 * span)[:, None] * tangents[seg + 1]
    )
    q = squad(quats[seg], quats[seg + 1], controls[seg], controls[seg + 1], u)
    out = torch.eye(4, dtype=torch.float64).repeat(len(at), 1, 1)
    out[:, :3, :3] = quaternion_to_matrix(q / q.norm(dim=-1, keepdim=True))
    out[:, :3, 3] = centre
    return invert_pose(out)
