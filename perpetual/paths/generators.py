"""Pure generators of camera paths. Each starts at the world origin looking down +z.

Every generator takes the number of frames and its parameters, with speeds in scene units per
frame (the first frame's median depth is 1, so ``speed=0.02`` reaches it in 50 frames) and angles
in degrees, and returns ``cam_from_world`` poses ``(N, 4, 4)`` in float64. A generator whose
cameras turn about a point other than their own centres has a pivot function in :data:`PIVOTS`:
the same arguments, and how far ahead of each camera that point lies, ``(N,)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from perpetual.geometry import look_at

__all__ = ["GENERATORS", "PIVOTS", "forward", "look_around", "meander", "orbit", "pan", "rise", "spiral"]

_UP = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)


def _looking(centres: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Poses of cameras at ``centres`` ``(N, 3)`` looking along ``directions`` ``(N, 3)``, world up -y."""
    return look_at(centres, centres + directions, _UP.expand_as(centres))


def _steps(frames: int) -> torch.Tensor:
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    return torch.arange(frames, dtype=torch.float64)


def _yaw(angle: torch.Tensor) -> torch.Tensor:
    """Forward directions ``(N, 3)`` turned ``angle`` radians to the right of +z, level."""
    return torch.stack([torch.sin(angle), torch.zeros_like(angle), torch.cos(angle)], dim=1)


def forward(frames: int, speed: float = 0.02, pitch: float = 0.0) -> torch.Tensor:
    """Fly straight ahead (a dolly; negative ``speed`` flies backwards), pitched ``pitch`` degrees up."""
    i = _steps(frames)
    p = math.radians(pitch)
    direction = torch.tensor([0.0, -math.sin(p), math.cos(p)], dtype=torch.float64)
    return _looking(i[:, None] * speed * direction, direction.expand(frames, 3))


_ORBIT_RADIUS = 1.0


def orbit(frames: int, degrees: float = 360.0, radius: float = _ORBIT_RADIUS) -> torch.Tensor:
    """Circle a point ``radius`` ahead, looking at it; ``degrees`` of arc (negative: the other way)."""
    theta = torch.deg2rad(torch.linspace(0.0, degrees, frames, dtype=torch.float64)) if frames > 1 else _steps(1)
    target = torch.tensor([0.0, 0.0, radius], dtype=torch.float64)
    centres = target - radius * _yaw(theta)
    return _looking(centres, target - centres)


def orbit_pivot(frames: int, degrees: float = 360.0, radius: float = _ORBIT_RADIUS) -> torch.Tensor:
    """``(N,)``: an orbit turns each camera about its target, ``radius`` ahead."""
    return torch.full((len(_steps(frames)),), float(radius), dtype=torch.float64)


def pan(frames: int, degrees: float = 30.0) -> torch.Tensor:
    """Turn in place by ``degrees`` (positive right, negative left) over the path."""
    theta = torch.deg2rad(torch.linspace(0.0, degrees, frames, dtype=torch.float64)) if frames > 1 else _steps(1)
    return _looking(torch.zeros(frames, 3, dtype=torch.float64), _yaw(theta))


def rise(frames: int, speed: float = 0.01, forward_speed: float = 0.0, pitch: float = 0.0) -> torch.Tensor:
    """Crane up by ``speed`` per frame (negative: down), optionally drifting forward."""
    i = _steps(frames)
    centres = torch.stack([torch.zeros_like(i), -speed * i, forward_speed * i], dim=1)
    p = math.radians(pitch)
    direction = torch.tensor([0.0, -math.sin(p), math.cos(p)], dtype=torch.float64)
    return _looking(centres, direction.expand(frames, 3))


def spiral(frames: int, speed: float = 0.02, radius: float = 0.1, turns: float = 2.0) -> torch.Tensor:
    """Fly forward while the camera circles the flight line (a corkscrew), looking ahead."""
    i = _steps(frames)
    phase = 2 * math.pi * turns * i / max(frames - 1, 1)
    centres = torch.stack([radius * (torch.cos(phase) - 1.0), radius * torch.sin(phase), speed * i], dim=1)
    return _looking(centres, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(frames, 3))


def meander(frames: int, speed: float = 0.02, sway: float = 0.3, period: int = 240) -> torch.Tensor:
    """Fly forward along a gentle S-curve of half-width ``sway``, heading along the curve."""
    i = _steps(frames)
    if speed <= 0 or period <= 0:
        raise ValueError("meander needs a positive speed and period")
    k = 2 * math.pi / period
    centres = torch.stack([sway * torch.sin(k * i), torch.zeros_like(i), speed * i], dim=1)
    heading = torch.atan(sway * k * torch.cos(k * i) / speed)  # along the curve: dx/dz
    return _looking(centres, _yaw(heading))


def look_around(frames: int, degrees: float = 25.0, cycles: float = 1.0) -> torch.Tensor:
    """Stand still and look left and right, ``degrees`` each way."""
    i = _steps(frames)
    theta = math.radians(degrees) * torch.sin(2 * math.pi * cycles * i / max(frames - 1, 1))
    return _looking(torch.zeros(frames, 3, dtype=torch.float64), _yaw(theta))


GENERATORS: dict[str, Callable[..., torch.Tensor]] = {
    "forward": forward,
    "orbit": orbit,
    "pan": pan,
    "rise": rise,
    "spiral": spiral,
    "meander": meander,
    "look_around": look_around,
}

PIVOTS: dict[str, Callable[..., torch.Tensor]] = {"orbit": orbit_pivot}
