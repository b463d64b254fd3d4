"""Steering by hand: the keys held and the mouse moved in one frame give the next pose. Pure math.

The camera is the autopilot's (a centre, a heading ``yaw`` right of +z and a ``pitch`` up, its
horizon level), so the two hand over to each other without a jump. Moves are level along the
heading (W/S, A/D) and vertical (Q/E, up is -y); forward motion keeps the autopilot's clearance
rule: never more than half the way to the nearest surface straight ahead beyond ``clearance``.

    >>> pilot = Pilot()
    >>> pose = pilot.next_pose(Controls.from_keys({"w"}), torch.full((8, 8), 0.1))
    >>> round(float(pilot.centre[2]), 3)  # one step forward, along +z
    0.02
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from perpetual.paths.autopilot import Autopilot, heading_pose, nearest_ahead

__all__ = ["Controls", "Pilot", "PilotSettings"]

_MAX_PITCH = math.radians(60.0)


@dataclass(frozen=True)
class PilotSettings:
    """How hand steering moves the camera.

    Attributes:
        speed: distance per frame with a move key held, scene units (the first frame's median depth is 1).
        boost: Shift multiplies the speed by this.
        turn: degrees per frame an arrow key turns or pitches the view.
        clearance: forward moves stop this far from the surface straight ahead (scene units).
    """

    speed: float = 0.02
    boost: float = 3.0
    turn: float = 1.5
    clearance: float = 0.25


@dataclass(frozen=True)
class Controls:
    """What is held during one frame: each move -1..1, turns in degrees (right and up positive)."""

    forward: float = 0.0
    right: float = 0.0
    up: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    boost: bool = False

    @classmethod
    def from_keys(cls, keys: Iterable[str], look: tuple[float, float] = (0.0, 0.0), turn: float = 1.5) -> Controls:
        """From held keys (browser ``KeyboardEvent.key`` names, any case: w a s d q e, ArrowLeft...,
        Shift) and a mouse ``look`` ``(right, up)`` in degrees; arrows turn ``turn`` degrees."""
        held = {k.lower() for k in keys}

        def axis(plus: str, minus: str) -> float:
            return float(plus in held) - float(minus in held)

        return cls(axis("w", "s"), axis("d", "a"), axis("e", "q"), look[0] + turn * axis("arrowright", "arrowleft"),
                   look[1] + turn * axis("arrowup", "arrowdown"), "shift" in held)


class Pilot:
    """A camera steered by :class:`Controls`; call :meth:`next_pose` once per frame."""

    def __init__(self, settings: PilotSettings | None = None) -> None:
        self.settings = settings or PilotSettings()
        self.centre = torch.zeros(3, dtype=torch.float64)  # starts at the first camera
        self.yaw = 0.0  # radians
        self.pitch = 0.0

    def pose(self) -> torch.Tensor:
        """Current ``cam_from_world`` ``(4, 4)`` float64."""
        return heading_pose(self.centre, self.yaw, self.pitch)

    def next_pose(self, controls: Controls, disparity: torch.Tensor) -> torch.Tensor:
        """Turn, then move; ``disparity`` ``(H, W)`` (or ``(1, 1, H, W)``) is the frame just shown,
        read for the clearance ahead. The next pose."""
        s = self.settings
        self.yaw += math.radians(controls.yaw)
        self.pitch = max(-_MAX_PITCH, min(_MAX_PITCH, self.pitch + math.radians(controls.pitch)))
        speed = s.speed * (s.boost if controls.boost else 1.0)
        forward = speed * max(-1.0, min(1.0, controls.forward))
        if forward > 0:
            d = disparity.reshape(disparity.shape[-2:]).detach().cpu().double().clamp_min(0.0)
            forward = min(forward, max(0.0, 0.5 * (nearest_ahead(d) - s.clearance)))
        heading = torch.tensor([math.sin(self.yaw), 0.0, math.cos(self.yaw)], dtype=torch.float64)
        right = torch.tensor([math.cos(self.yaw), 0.0, -math.sin(self.yaw)], dtype=torch.float64)
        up = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
        self.centre = self.centre + forward * heading + speed * (controls.right * right + controls.up * up)
        return self.pose()

    def hand_to(self, autopilot: Autopilot) -> None:
        """The autopilot takes over from this camera's pose."""
        autopilot.centre, autopilot.yaw, autopilot.pitch = self.centre.clone(), self.yaw, self.pitch
        autopilot.yaw_rate, autopilot.climb = 0.0, 0.0

    def take_from(self, autopilot: Autopilot) -> None:
        """Steer on from the autopilot's pose."""
        self.centre, self.yaw, self.pitch = autopilot.centre.clone(), autopilot.yaw, autopilot.pitch
