"""What the studio's page asks for, checked: a start (photo or world), settings, a camera path.

The page sends a flight as a JSON object::

    {"image": "UPLOAD-ID" | null, "seed": 0, "config": "default", "prompt": "", "negative_prompt": "",
     "size": [256, 256], "fov": 60, "frames": 120,
     "path": {"generator": "forward", "params": {"speed": 0.02}} | {"waypoints": [...]}}

Every check raises ValueError with one line a person can act on; the server answers it as
HTTP 400 (or a WebSocket error message) and keeps serving.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from perpetual.config import config_presets
from perpetual.flight import MAX_SEED, Plan, plan
from perpetual.io.camera_files import list_presets, path_from_json
from perpetual.io.files import read_json

__all__ = ["MAX_SIDE", "Start", "path_json", "plan_flight", "upload_path", "presets"]

MAX_SIDE = 1024  # pixels, either side of a studio flight
MAX_FRAMES = 3000
_UPLOAD_ID = re.compile(r"^[0-9a-f]{16}\.(png|jpg|webp|bmp|tif)$")


def presets() -> dict[str, Any]:
    """The choices the page offers: configs, and camera path presets with their parameters."""
    paths = {}
    for name, file in list_presets().items():
        data = read_json(file)
        paths[name] = {"description": data.get("description", ""), "generator": data.get("generator"),
                       "params": data.get("params", {}), "frames": data.get("frames", 120)}
    return {"configs": sorted(config_presets()), "paths": paths}


def upload_path(uploads: Path, upload: Any) -> Path:
    """The file of an upload id the server handed out; anything else is refused."""
    if not isinstance(upload, str) or not _UPLOAD_ID.match(upload) or not (uploads / upload).is_file():
        raise ValueError(f"unknown upload {upload!r}: upload the photo again")
    return uploads / upload


def _int(spec: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _size(spec: dict) -> tuple[int, int]:
    size = spec.get("size", [256, 256])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise ValueError(f"size must be [width, height] in pixels, got {size!r}")
    width, height = size
    if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE) or width % 2 or height % 2:
        raise ValueError(f"size {width}x{height}: each side an even number from 16 to {MAX_SIDE}")
    return width, height


def _text(spec: dict, key: str) -> str:
    value = spec.get(key, "")
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError(f"{key} must be text of at most 2000 characters")
    return value


class Start:
    """A flight's start as checked: ``image`` (a file, or None for the world of ``seed``), its
    ``config`` name, prompts, ``size`` ``(W, H)`` and ``fov``."""

    def __init__(self, spec: Any, uploads: Path) -> None:
        if not isinstance(spec, dict):
            raise ValueError("a flight is a JSON object")
        self.image = None if spec.get("image") is None else upload_path(uploads, spec["image"])
        self.seed = _int(spec, "seed", 0, 0, MAX_SEED)
        self.config = spec.get("config", "default")
        if self.config not in config_presets():
            raise ValueError(f"unknown config {self.config!r}; one of {', '.join(sorted(config_presets()))}")
        self.prompt, self.negative_prompt = _text(spec, "prompt"), _text(spec, "negative_prompt")
        self.size = _size(spec)
        fov = spec.get("fov", 60)
        if isinstance(fov, bool) or not isinstance(fov, (int, float)) or not 10 <= fov <= 120:
            raise ValueError(f"fov must be a number of degrees from 10 to 120, got {fov!r}")
        self.fov = float(fov)

    @property
    def overrides(self) -> list[str]:
        return [f"models.negative_prompt={json.dumps(self.negative_prompt)}"] if self.negative_prompt else []



def path_json(spec: dict, start: Start) -> dict:
    """The camera path file (perpetual's JSON format) of a flight's ``path``, checked by loading it."""
    path = spec.get("path", {"generator": "forward"})
    if not isinstance(path, dict) or not ({"generator", "waypoints"} & set(path)):
        raise ValueError("path must be an object with 'generator' (a preset's generator and params) or 'waypoints'")
    frames = _int(spec, "frames", 120, 2, MAX_FRAMES)
    width, height = start.size
    data = {"perpetual_camera_path": 1, "frames": frames, "fov": start.fov, "width": width, "height": height, "fps": 30.0}
    if "generator" in path:
        data.update(generator=path["generator"], params=path.get("params", {}))
    else:
        data.update(waypoints=path["waypoints"], easing=path.get("easing", "linear"))
    path_from_json(data, source="the path")  # raises for bad params or waypoints
    return data


def plan_flight(spec: Any, uploads: Path, folder: Path) -> Plan:
    """The :class:`~perpetual.flight.Plan` of a flight spec; its camera path file goes in ``folder``."""
    start = Start(spec, uploads)
    file = folder / "path.json"
    file.write_text(json.dumps(path_json(spec, start), indent=1))
    return plan(start.image, file, config=start.config, overrides=start.overrides, prompt=start.prompt, seed=start.seed,
                depth_video=True)
