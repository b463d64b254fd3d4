"""Deforum-style motion schedules: ``"0:(0), 30:(1.5)"`` for any motion parameter.

Values are plain numbers, linear between the schedule's points and held before the first and after
the last. Expressions (``"0:(sin(t))"``) are refused: nothing a user writes is evaluated.
"""

from __future__ import annotations

import math
import re

import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

from perpetual.geometry import invert_pose
from perpetual.paths.interpolate import interp1d
from perpetual.paths.path import CameraPath

__all__ = ["MOTION_KEYS", "from_deforum", "parse_schedule", "prompt_at", "schedule_values"]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_KEY = re.compile(rf"^\s*(\d+)\s*:\s*\(\s*({_NUMBER})\s*\)\s*$")

# Our camera axes are x right, y down, z forward; Deforum's translation_y is up.
MOTION_KEYS = ("translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "fov")


def parse_schedule(text: str | float | int) -> list[tuple[int, float]]:
    """``"0:(0), 30:(1.5)"`` -> ``[(0, 0.0), (30, 1.5)]``; a bare number is a constant schedule."""
    if isinstance(text, (int, float)):
        return [(0, float(text))]
    items = [item for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError("empty schedule; write keys like '0:(0), 30:(1.5)'")
    keys: list[tuple[int, float]] = []
    for item in items:
        match = _KEY.match(item)
        if match is None:
            raise ValueError(
                f"bad schedule entry {item.strip()!r}: write FRAME:(NUMBER), e.g. '30:(1.5)'; expressions are not supported"
            )
        frame, value = int(match.group(1)), float(match.group(2))
        if keys and frame <= keys[-1][0]:
            raise ValueError(f"schedule frames must increase: {frame} comes after {keys[-1][0]}")
        keys.append((frame, value))
    return keys


def schedule_values(text: str | float | int, frames: int) -> torch.Tensor:
    """The schedule's value at frames ``0 .. frames - 1``, ``(frames,)`` float64."""
    keys = parse_schedule(text)
    at = torch.arange(frames, dtype=torch.float64)
    if len(keys) == 1:
        return torch.full((frames,), keys[0][1], dtype=torch.float64)
    k = torch.tensor([f for f, _ in keys], dtype=torch.float64)
    v = torch.tensor([x for _, x in keys], dtype=torch.float64)
    return interp1d(k, v, at)


def from_deforum(
    schedules: dict[str, str | float],
    frames: int,
    *,
    fps: float = 30.0,
    fov: float = 60.0,
    translation_scale: float = 0.01,
    width: int = 256,
    height: int = 256,
) -> CameraPath:
    """A path from Deforum 3D motion schedules (per-frame motion in the camera's own frame).

    ``translation_x/y/z`` (right, up, forward) are multiplied by ``translation_scale`` scene units;
    ``rotation_3d_x/y/z`` are degrees per frame about the camera's x (tilt), y (pan) and z (roll)
    axes; ``fov`` is the vertical field of view in degrees. Frame 0 is the start camera.
    """
    unknown = sorted(set(schedules) - set(MOTION_KEYS))
    if unknown:
        raise ValueError(f"unknown schedule key(s) {unknown}; known: {', '.join(MOTION_KEYS)}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    value = {k: schedule_values(schedules.get(k, 0.0), frames) for k in MOTION_KEYS if k != "fov"}
    fov_values = schedule_values(schedules.get("fov", fov), frames)
    step = torch.eye(4, dtype=torch.float64).repeat(frames, 1, 1)  # new camera -> old camera, per frame
    angles = torch.stack([value["rotation_3d_x"], value["rotation_3d_y"], value["rotation_3d_z"]], dim=1)
    step[:, :3, :3] = axis_angle_to_rotation_matrix(angles * (math.pi / 180.0))
    step[:, :3, 3] = translation_scale * torch.stack(
        [value["translation_x"], -value["translation_y"], value["translation_z"]], dim=1
    )
    poses = [torch.eye(4, dtype=torch.float64)]
    for i in range(1, frames):
        poses.append(invert_pose(step[i]) @ poses[-1])
    return CameraPath(poses=torch.stack(poses), fov=fov_values, width=width, height=height, fps=fps)


_PROMPT_KEY = re.compile(r"(?:^|,)\s*(\d+)\s*:")


def prompt_at(text: str, frame: int) -> str:
    """The prompt of ``frame`` from a prompt schedule ``"0: misty forest, 120: alpine lake"``.

    A text that does not start with ``FRAME:`` is one prompt for every frame. Each prompt holds
    from its frame until the next key (prompts may contain commas).
    """
    keys = list(_PROMPT_KEY.finditer(text))
    if not keys or keys[0].start() != 0:
        return text.strip()
    current = ""
    for k, match in enumerate(keys):
        end = keys[k + 1].start() if k + 1 < len(keys) else len(text)
        if int(match.group(1)) <= frame:
            current = text[match.end() : end].strip()
    return current
