"""Camera path files: perpetual's JSON, nerfstudio ``camera_path`` JSON, and the presets in cameras/.

perpetual JSON (``"perpetual_camera_path": 1``) holds one of:

* a generator: ``{"generator": "forward", "params": {"speed": 0.02}, "frames": 120}``
* waypoints: ``{"waypoints": [{"time": 0, "position": [0, 0, 0], "look_at": [0, 0, 1]}, ...],
  "easing": "ease-in-out"}`` (older files' ``"keyframes"`` reads the same); a waypoint gives
  ``position`` + ``look_at`` (+ ``up``) or ``cam_from_world`` (4x4, OpenCV), and optionally ``fov``
* Deforum schedules: ``{"deforum": {"translation_z": "0:(1), 60:(3)"}, "frames": 120}``
* explicit poses: ``{"cam_from_world": [[4x4], ...]}``

``fps``, ``fov``, ``width``, ``height`` and ``frames`` may be given at the top level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from perpetual.geometry import invert_pose, look_at, opencv_to_opengl, opengl_to_opencv
from perpetual.io.files import read_json, write_json
from perpetual.io.presets import preset_files
from perpetual.paths import CameraPath, PathSpec, build, from_deforum, from_poses, from_waypoints

__all__ = ["MAX_FRAMES", "LoadedPath", "check_flight", "list_presets", "load_camera_path", "read_nerfstudio", "save_path", "to_nerfstudio"]

MAX_FRAMES = 1_000_000  # 9 hours at 30 fps; the poses alone are 128 MB


def check_flight(source: str, *, frames: float | None = None, fps: float, fov: float, width: int, height: int) -> None:
    """Sizes and rates a flight can have, checked before anything is allocated; ValueError naming the fix."""
    if frames is not None and not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"{source}: {frames:g} frames; a flight has 1 to {MAX_FRAMES:,} (use --frames)")
    if not (math.isfinite(fps) and 0.1 <= fps <= 1000):
        raise ValueError(f"{source}: fps {fps:g}; use 0.1 to 1000 (--fps)")
    if not (math.isfinite(fov) and 1 <= fov <= 170):
        raise ValueError(f"{source}: field of view {fov:g} degrees; use 1 to 170 (--fov)")
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValueError(f"{source}: frame size {width}x{height}; width and height are 16 to 4096 (--size)")

FORMAT_KEY = "perpetual_camera_path"


@dataclass(frozen=True)
class LoadedPath:
    """A camera path as loaded from a preset or file: the path to fly, and the generator spec it came
    from (``None`` for explicit paths: waypoints, schedules, poses)."""

    path: CameraPath
    spec: PathSpec | None = None


def list_presets() -> dict[str, Path]:
    """Camera path preset name -> file (``cameras/*.json``)."""
    return preset_files("cameras", ".json")


def _number(data: dict, key: str, default: float, *, where: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _matrix(value: Any, *, where: str) -> torch.Tensor:
    t = torch.tensor(value, dtype=torch.float64) if isinstance(value, list) else None
    if t is None or t.numel() != 16:
        raise ValueError(f"{where}: expected a 4x4 matrix (16 numbers), got {value!r}"[:200])
    return t.view(4, 4)


def _waypoint_pose(key: dict, where: str) -> torch.Tensor:
    if "cam_from_world" in key:
        return _matrix(key["cam_from_world"], where=where)
    if "position" in key and "look_at" in key:
        eye = torch.tensor(key["position"], dtype=torch.float64)
        target = torch.tensor(key["look_at"], dtype=torch.float64)
        up = torch.tensor(key["up"], dtype=torch.float64) if "up" in key else None
        if eye.shape != (3,) or target.shape != (3,) or not bool(torch.isfinite(torch.cat([eye, target])).all()):
            raise ValueError(f"{where}: 'position' and 'look_at' must be three finite numbers each")
        return look_at(eye, target, up)
    raise ValueError(f"{where}: a waypoint needs 'cam_from_world' or 'position' and 'look_at'")


def path_from_json(data: Any, *, source: str, frames: int | None = None, fps: float | None = None,
                   fov: float | None = None, width: int | None = None, height: int | None = None) -> LoadedPath:
    """Build a trajectory from parsed JSON (ours or nerfstudio's). Arguments override the file."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a camera path file holds a JSON object")
    if "camera_path" in data:
        check_flight(source, frames=frames, fps=fps or _number(data, "fps", 30.0, where=source), fov=fov or 60.0,
                     width=width or int(_number(data, "render_width", 256, where=source)),
                     height=height or int(_number(data, "render_height", 256, where=source)))
        path = read_nerfstudio(data, source=source)
        return LoadedPath(path.resampled(frames) if frames else path)
    if data.get(FORMAT_KEY) != 1:
        raise ValueError(f"{source}: not a camera path file (expected \"{FORMAT_KEY}\": 1 or a nerfstudio \"camera_path\")")
    fps = fps or _number(data, "fps", 30.0, where=source)
    fov = fov or _number(data, "fov", 60.0, where=source)
    width = width or int(_number(data, "width", 256, where=source))
    height = height or int(_number(data, "height", 256, where=source))
    frames = frames or _number(data, "frames", 120, where=source)
    check_flight(source, frames=frames, fps=fps, fov=fov, width=width, height=height)
    frames = int(frames)
    size = {"width": width, "height": height}
    if "generator" in data:
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise ValueError(f"{source}: 'params' must be an object")
        spec = PathSpec(str(data["generator"]), params)
        return LoadedPath(build(spec, frames, fps=fps, fov=fov, **size), spec)
    waypoints_key = next((k for k in ("waypoints", "keyframes") if k in data), None)
    if waypoints_key:
        points = data[waypoints_key]
        if not isinstance(points, list) or len(points) < 2 or not all(isinstance(p, dict) for p in points):
            raise ValueError(f"{source}: '{waypoints_key}' must be a list of at least two objects")
        times = [_number(p, "time", math.nan, where=f"{source} waypoint {i}") for i, p in enumerate(points)]
        check_flight(source, frames=max(times) * fps + 1, fps=fps, fov=fov, width=width, height=height)
        poses = [_waypoint_pose(p, f"{source} waypoint {i}") for i, p in enumerate(points)]
        fovs = [_number(p, "fov", fov, where=f"{source} waypoint {i}") for i, p in enumerate(points)]
        path = from_waypoints(times, poses, fps=fps, fov=fovs, easing=data.get("easing", "linear"), **size)
        return LoadedPath(path)
    if "deforum" in data:
        if not isinstance(data["deforum"], dict):
            raise ValueError(f"{source}: 'deforum' must be an object of schedules")
        scale = _number(data, "translation_scale", 0.01, where=source)
        return LoadedPath(from_deforum(data["deforum"], frames, fps=fps, fov=fov, translation_scale=scale, **size))
    if "cam_from_world" in data:
        poses = torch.stack([_matrix(m, where=f"{source} pose {i}") for i, m in enumerate(data["cam_from_world"])])
        return LoadedPath(from_poses(poses, fps=fps, fov=fov, **size))
    raise ValueError(f"{source}: needs one of 'generator', 'waypoints', 'deforum' or 'cam_from_world'")


def load_camera_path(name_or_file: str, **overrides: Any) -> LoadedPath:
    """``--trajectory NAME|FILE``: a file if one exists at that path, else a preset by name."""
    file = Path(name_or_file)
    if file.is_file():
        return path_from_json(read_json(file), source=str(file), **overrides)
    presets = list_presets()
    if name_or_file in presets:
        return path_from_json(read_json(presets[name_or_file]), source=f"preset {name_or_file}", **overrides)
    known = ", ".join(presets) or "none installed"
    raise ValueError(f"unknown trajectory {name_or_file!r}: not a file and not a preset (presets: {known})")


def read_nerfstudio(data: dict, *, source: str = "nerfstudio camera path") -> CameraPath:
    """A nerfstudio ``camera_path`` (OpenGL camera-to-world, vertical fov) as a CameraPath."""
    frames = data["camera_path"]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{source}: 'camera_path' must be a non-empty list")
    world_from_cam = torch.stack([_matrix(f.get("camera_to_world") if isinstance(f, dict) else None, where=f"{source} frame {i}")
                       for i, f in enumerate(frames)])
    fov = torch.tensor([_number(f, "fov", 60.0, where=f"{source} frame {i}") for i, f in enumerate(frames)])
    return CameraPath(
        poses=invert_pose(opengl_to_opencv(world_from_cam)),
        fov=fov,
        width=int(_number(data, "render_width", 256, where=source)),
        height=int(_number(data, "render_height", 256, where=source)),
        fps=_number(data, "fps", 30.0, where=source),
    )


def to_nerfstudio(path: CameraPath) -> dict:
    """The nerfstudio ``camera_path`` JSON object of a path (OpenGL camera-to-world, flattened)."""
    world_from_cam = opencv_to_opengl(invert_pose(path.poses))
    aspect = path.width / path.height
    return {
        "camera_type": "perspective",
        "render_height": path.height,
        "render_width": path.width,
        "fps": path.fps,
        "seconds": path.seconds,
        "camera_path": [
            {"camera_to_world": m.flatten().tolist(), "fov": float(f), "aspect": aspect}
            for m, f in zip(world_from_cam, path.fov)
        ],
    }


def save_path(path: CameraPath, file: str | Path) -> None:
    """Write a path as JSON: nerfstudio's schema, which :func:`load_camera_path` reads back exactly."""
    write_json(file, to_nerfstudio(path))
