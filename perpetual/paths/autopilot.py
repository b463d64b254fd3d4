"""The autopilot: a closed-loop camera that steers from what each frame sees. Pure tensor code.

After Infinite Nature's rule (look toward the horizon and toward the side with more sky, hold
height from the ground term), with what long flights need on top:

* the sky fraction is held in a band by pitching (not just aimed at one row);
* the turn goes toward the more open side (farther ground, more sky), rate-limited and smoothed,
  so there is no yaw jitter; an optional slow meander keeps straight flights alive;
* height is held from the ground seen at the bottom of the view;
* from a photo (:meth:`~Autopilot.keep_to_photo`) it keeps to what the photo shows: the photo's
  own sky share; its height (the ground a depth model reads in a photo bows with its errors, and
  following it raised and lowered the camera over a jetty's boards), climbing only for the
  clearance; its heading within half of the photo's half field of frame 0's (the view's centre
  stays over the photo, the turn slowing as it nears that bound), or less on a side where the
  turn would leave the photo's detail or sky behind; and a speed fitted, as a preset path's is,
  to how far the photo can be flown into;
* a clearance rule: the camera never advances more than half the way to the nearest surface
  straight ahead beyond ``clearance``, and climbs when something is close; it cannot fly into
  what it sees;
* a pace: the engine passes the share of a step the view allows (less as the view, now or a
  few steps :meth:`~Autopilot.ahead`, fills with land magnified beyond what the start image
  shows, :func:`~perpetual.paths.clearance.pace`); the camera advances and climbs that share
  of a step (rising over land seen at a slant magnifies it as much as flying toward it), and
  turns toward the open side up to three times faster while it is held back, so it looks for
  new ground instead of flying into a blur.

Disparities are in scene units (the first frame's median depth is 1); the world frame is the
first camera (up is -y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from perpetual.geometry import level_turns, look_at

__all__ = ["UNLEVELLED", "Autopilot", "AutopilotSettings", "heading_pose", "nearest_ahead", "photo_heading", "turn_headings"]


_SKY_BAND = (0.2, 0.45)  # the sky fraction held when neither the settings nor a photo say
_PHOTO_SKY_FACTOR = 1.25
_LEAST_PHOTO_SKY = 0.02  # a photo with less sky than this (a forest, a room) is kept under 1.25 times it, not pitched up to find sky
_PHOTO_HEADING = 0.5  # from a photo, the heading stays within this share of its half field of frame 0's
_EDGE_EASE = 0.1  # per frame: the most the turn toward the heading's bound covers of the room left
UNLEVELLED = (0.0, False)  # a flight's levelling (frame 0's horizon tilt, moves levelled too) where it has none


def heading_pose(centre: torch.Tensor, yaw: float, pitch: float, level: tuple[float, bool] = UNLEVELLED) -> torch.Tensor:
    """``cam_from_world`` ``(4, 4)`` float64 of a camera at ``centre`` ``(3,)`` looking ``yaw``
    radians right of +z and ``pitch`` radians up (up is -y), its horizon level. ``level``: the
    first camera's horizon tilt, and whether its moves are levelled too; turned about that
    horizon's level axes instead (:func:`~perpetual.geometry.level_turns`)."""
    forward = torch.tensor([math.cos(pitch) * math.sin(yaw), -math.sin(pitch), math.cos(pitch) * math.cos(yaw)], dtype=torch.float64)
    pose = look_at(centre, centre + forward)
    tilt, moves = level
    return level_turns(pose[None], tilt, moves=moves)[0] if tilt else pose


def photo_heading(K: torch.Tensor, width: int) -> float:
    """Degrees either side of frame 0's heading that an autopilot from a photo (intrinsics ``K``
    ``(1, 3, 3)``, ``width`` pixels) turns at most: half of the photo's half field, so the
    view's centre stays over the photo."""
    return _PHOTO_HEADING * math.degrees(math.atan(0.5 * width / float(K[0, 0, 0])))


def nearest_ahead(disparity: torch.Tensor) -> float:
    """Distance (scene units) to the nearest surface in the centre of a view, straight ahead,
    from its disparity ``(H, W)``."""
    H, W = disparity.shape
    ahead = disparity[int(H * 0.35) : int(H * 0.65), int(W * 0.35) : int(W * 0.65)]
    return 1.0 / max(float(ahead.max()), 1e-6)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class AutopilotSettings:
    """How the autopilot flies.

    Attributes:
        speed: forward distance per frame, scene units.
        sky_band: the sky fraction it keeps the view in (pitching up below, down above). None
            (the default): ``(0.2, 0.45)``, or in a flight from a photo, within a factor of 1.25
            of the photo's own sky (:meth:`Autopilot.keep_to_photo`): a photo's composition is
            kept, not the world's.
        turn_rate: largest change of heading per frame, degrees.
        pitch_rate: largest change of pitch per frame, degrees.
        clearance: the nearest surface straight ahead never comes closer than this (scene units).
        ground: disparity of the ground at the bottom centre of the view it holds (higher: lower
            flight); from a photo the height is held instead.
        meander: amplitude of a slow heading sway, degrees (0: none).
        smoothing: how fast steering commands are followed (0..1 per frame).
    """

    speed: float = 0.02
    sky_band: tuple[float, float] | None = None
    turn_rate: float = 0.5
    pitch_rate: float = 0.25
    clearance: float = 0.25
    ground: float = 1.0
    meander: float = 0.0
    smoothing: float = 0.08

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sky_band":
                if value is None:
                    continue
                if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_number(v) for v in value)):
                    raise ValueError(f"autopilot sky_band must be two numbers [low, high], got {value!r}")
            elif not _is_number(value):
                raise ValueError(f"autopilot {f.name} must be a finite number, got {value!r}")
        lo, hi = self.sky_band or _SKY_BAND
        if not (0.0 <= lo < hi <= 1.0):
            raise ValueError(f"autopilot sky_band must satisfy 0 <= low < high <= 1, got {self.sky_band}")
        if self.speed <= 0 or self.clearance <= 0 or self.ground <= 0:
            raise ValueError("autopilot speed, clearance and ground must be positive")


class Autopilot:
    """Steers a camera from each frame's disparity; call :meth:`next_pose` once per frame."""

    def __init__(self, settings: AutopilotSettings | None = None) -> None:
        self.settings = settings or AutopilotSettings()
        self.centre = torch.zeros(3, dtype=torch.float64)  # starts at the first camera
        self.yaw = 0.0  # radians, right of +z
        self.pitch = 0.0  # radians, up
        self.yaw_rate = 0.0
        self.climb = 0.0
        self.frame = 0
        self.distance = 0.0  # flown along the heading, scene units
        self.sky_band = self.settings.sky_band or _SKY_BAND
        self.ground: float | None = self.settings.ground  # None: hold the height (from a photo)
        self.speed = self.settings.speed
        self.heading_bound: tuple[float, float] | None = None  # degrees left and right of frame 0's heading; None: any
        self.level = UNLEVELLED  # frame 0's horizon tilt, moves levelled too (heading_pose)

    def keep_to_photo(self, disparity: torch.Tensor, K: torch.Tensor, speed: float = 1.0,
                      turns: tuple[float, float] = (1.0, 1.0), level: tuple[float, bool] = UNLEVELLED) -> None:
        """Fly as the start photo (its disparity ``(1, 1, H, W)``, 0 is sky, and intrinsics ``K``
        ``(1, 3, 3)``) allows: its sky fraction held within a factor of 1.25 of its own (unless
        the settings name a band; a photo with almost no sky, under 2%, is kept under 2.5%: a
        forest's camera does not pitch up to look for the world's sky), the camera's height held (no
        ground term: only the clearance makes it climb), the heading kept within ``turns`` (left,
        right) of :func:`photo_heading` either side of frame 0's (shares, as
        :func:`~perpetual.paths.fit.fit_turn` finds: a turn toward a photo's open sky leaves its
        detail behind), and ``speed`` (a share, as
        :func:`~perpetual.paths.fit.fit_path` gives) of the settings' speed, turning about the
        level vertical of a photo whose horizon is ``level[0]`` radians above its axis (and
        flying level with ``level[1]``; :func:`heading_pose`)."""
        start = float((disparity == 0).float().mean())
        if self.settings.sky_band is None and start >= _LEAST_PHOTO_SKY:
            self.sky_band = (start / _PHOTO_SKY_FACTOR, min(1.0, start * _PHOTO_SKY_FACTOR))
        elif self.settings.sky_band is None:  # next to no sky: none is sought
            self.sky_band = (0.0, _LEAST_PHOTO_SKY * _PHOTO_SKY_FACTOR)
        self.ground = None
        bound = photo_heading(K, disparity.shape[-1])
        self.heading_bound = (turns[0] * bound, turns[1] * bound)
        self.speed = self.settings.speed * speed
        self.level = level

    def state(self) -> dict:
        """Everything that decides the next poses (to checkpoint a run)."""
        return {"centre": self.centre.tolist(), "yaw": self.yaw, "pitch": self.pitch, "yaw_rate": self.yaw_rate,
                "climb": self.climb, "frame": self.frame, "distance": self.distance}

    def load(self, state: dict) -> None:
        self.centre = torch.tensor(state["centre"], dtype=torch.float64)
        self.yaw, self.pitch, self.yaw_rate = float(state["yaw"]), float(state["pitch"]), float(state["yaw_rate"])
        self.climb, self.frame = float(state["climb"]), int(state["frame"])
        self.distance = float(state.get("distance", 0.0))

    def pose(self) -> torch.Tensor:
        """Current ``cam_from_world`` ``(4, 4)`` float64."""
        return heading_pose(self.centre, self.yaw, self.pitch, self.level)

    def ahead(self, frames: int) -> torch.Tensor:
        """The ``cam_from_world`` ``(4, 4)`` float64 the camera would have ``frames`` full steps on
        along its heading, climbing as it climbs now, looking as it looks now (to foresee what
        flying on would show)."""
        return heading_pose(self.centre + frames * (self.speed * self._heading() + self._climb()), self.yaw, self.pitch, self.level)

    def _heading(self) -> torch.Tensor:
        """``(3,)`` float64: the level direction the camera moves in."""
        return torch.tensor([math.sin(self.yaw), 0.0, math.cos(self.yaw)], dtype=torch.float64)

    def _climb(self) -> torch.Tensor:
        """``(3,)`` float64: a full step's climb, up to half the speed (up is -y)."""
        return torch.tensor([0.0, -0.5 * self.speed * self.climb, 0.0], dtype=torch.float64)

    def _turn(self, command: float) -> None:
        """Turn toward ``command`` (degrees per frame, right positive), smoothly, easing toward the
        heading's bounds and back from beyond them."""
        self.yaw_rate += self.settings.smoothing * (command - self.yaw_rate)
        if self.heading_bound is not None:
            yaw, (left, right) = math.degrees(self.yaw), self.heading_bound
            most_left, most_right = -_EDGE_EASE * (left + yaw), _EDGE_EASE * (right - yaw)
            self.yaw_rate = max(most_left, min(most_right, self.yaw_rate))
        self.yaw += math.radians(self.yaw_rate)

    def next_pose(self, disparity: torch.Tensor, pace: float = 1.0) -> torch.Tensor:
        """Read the frame just made (its disparity ``(1, 1, H, W)``), steer, move ``pace`` (0..1)
        of a step; the next pose."""
        s = self.settings
        d = disparity[0, 0].cpu().double().clamp_min(0.0)  # steering reads numbers: on the host (MPS has no float64)
        H, W = d.shape
        sky = d < 1e-3
        sky_fraction = float(sky.double().mean())
        depth = 1.0 / d.clamp_min(1.0 / 50.0)  # sky and far ground count as 50 units away
        # Pitch: keep the sky fraction inside the band.
        lo, hi = self.sky_band
        error = (lo - sky_fraction) if sky_fraction < lo else (hi - sky_fraction) if sky_fraction > hi else 0.0
        self.pitch += math.radians(max(-s.pitch_rate, min(s.pitch_rate, 40.0 * error * s.pitch_rate)))
        # Turn toward the more open side, smoothly.
        third = W // 3
        left, right = float(depth[:, :third].mean()), float(depth[:, W - third :].mean())
        command = (right - left) / (right + left) * s.turn_rate * 3.0
        command += s.meander * math.sin(2 * math.pi * self.frame / 300.0) * 0.05
        boost = 3.0 - 2.0 * pace  # held back: look for open ground faster
        command = max(-s.turn_rate * boost, min(s.turn_rate * boost, command * boost))
        self._turn(command)
        # Height: hold the ground disparity at the bottom centre of the view (or the height).
        climb = 0.0
        if self.ground is not None:
            bottom = d[int(H * 0.85) :, W // 4 : W - W // 4]
            ground = float(bottom.median()) if bottom.numel() else 0.0
            climb = max(-1.0, min(1.0, (ground - self.ground) / self.ground))
        # Clearance: the nearest surface in the centre of the view, straight ahead.
        nearest = nearest_ahead(d)
        step = pace * min(self.speed, max(0.0, 0.5 * (nearest - s.clearance)))
        if nearest < 2 * s.clearance:  # something close ahead: climb and look up
            climb = 1.0
            self.pitch += math.radians(s.pitch_rate)
        self.pitch = max(math.radians(-25.0), min(math.radians(15.0), self.pitch))
        self.climb += s.smoothing * 4 * (climb - self.climb)
        # Move: the paced share of a step, level along the heading and climbing at up to half the
        # speed (rising over land seen at a slant magnifies it as much as flying toward it does).
        self.centre = self.centre + step * self._heading() + pace * self._climb()
        self.distance += step
        self.frame += 1
        return self.pose()


def turn_headings(settings: AutopilotSettings, degrees: float, frames: int) -> list[float]:
    """The heading (degrees right of frame 0's) at each of ``frames`` frames of an autopilot with
    ``settings`` that turns toward ``degrees`` as fast as it may while not held back, easing into
    that bound: what a flight turning to its bound early sees."""
    pilot = Autopilot(settings)
    pilot.heading_bound = (max(0.0, -degrees), max(0.0, degrees))
    headings = []
    for _ in range(frames):
        headings.append(math.degrees(pilot.yaw))
        pilot._turn(math.copysign(settings.turn_rate, degrees))
    return headings
