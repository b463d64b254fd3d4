"""Camera paths: the data type, generators, waypoints, schedules. Pure tensor code.

Example:
    >>> path = forward(60, speed=0.02) + orbit(90, degrees=180, radius=0.5)
    >>> len(path), path.fps
    (149, 30.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from perpetual.geometry import invert_pose
from perpetual.paths import generators as _gen
from perpetual.paths.waypoints import from_function, from_waypoints, from_poses, interpolate_poses
from perpetual.paths.path import CameraPath
from perpetual.paths.schedule import from_deforum, parse_schedule, schedule_values

__all__ = [
    "AUTOPILOT",
    "CameraPath",
    "PathSpec",
    "build",
    "forward",
    "from_deforum",
    "from_function",
    "from_waypoints",
    "from_poses",
    "interpolate_poses",
    "look_around",
    "meander",
    "orbit",
    "pan",
    "parse_schedule",
    "rise",
    "schedule_values",
    "spiral",
]

AUTOPILOT = "autopilot"


@dataclass(frozen=True)
class PathSpec:
    """A generator by name with its parameters: what a preset file holds.

    ``autopilot`` is closed-loop: the engine steers it from what each frame sees. Built without
    the engine, it is its open-loop plan, a level forward flight at its ``speed``.
    """

    generator: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def closed_loop(self) -> bool:
        return self.generator == AUTOPILOT


def build(
    spec: PathSpec, frames: int, *, fps: float = 30.0, fov: float = 60.0, width: int = 256, height: int = 256
) -> CameraPath:
    """Turn a :class:`PathSpec` into a path of ``frames`` frames; unknown names or params raise ValueError."""
    name = "forward" if spec.closed_loop else spec.generator
    if name not in _gen.GENERATORS:
        known = ", ".join(sorted([*_gen.GENERATORS, AUTOPILOT]))
        raise ValueError(f"unknown camera path generator {spec.generator!r}; known: {known}")
    params = {k: v for k, v in spec.params.items() if not (spec.closed_loop and k not in ("speed",))}
    for key, value in params.items():  # every generator parameter is a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"camera path generator {spec.generator!r}: parameter {key!r} must be a number, got {value!r}")
    try:
        poses = _gen.GENERATORS[name](frames, **params)
    except TypeError as err:
        raise ValueError(f"bad parameters for camera path generator {spec.generator!r}: {err}") from None
    pivot = _gen.PIVOTS[name](frames, **params) if name in _gen.PIVOTS else None
    poses = poses @ invert_pose(poses[0])  # the world frame is the first camera
    return CameraPath(poses=poses, fov=torch.tensor(float(fov)), width=width, height=height, fps=fps, pivot=pivot)


def _wrap(name: str):
    def make(frames: int, *, fps: float = 30.0, fov: float = 60.0, width: int = 256, height: int = 256, **params: Any) -> CameraPath:
        return build(PathSpec(name, params), frames, fps=fps, fov=fov, width=width, height=height)

    make.__name__ = name
    make.__doc__ = (_gen.GENERATORS[name].__doc__ or "") + "\n\nReturns a :class:`CameraPath`."
    return make


forward = _wrap("forward")
orbit = _wrap("orbit")
pan = _wrap("pan")
rise = _wrap("rise")
spiral = _wrap("spiral")
meander = _wrap("meander")
look_around = _wrap("look_around")
