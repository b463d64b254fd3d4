"""A batch's jobs: one flight each, read from JSON Lines or TOML, checked before anything runs.

JSON Lines, one object per line (blank lines and lines starting with ``#`` are skipped)::

    {"name": "lake", "image": "photos/lake.jpg", "trajectory": "orbit", "frames": 120}
    {"name": "world-3", "seed": 3, "config": "classical", "set": ["engine.max_invalid=0.02"]}

TOML, one ``[[job]]`` table each, with the same keys. Relative ``image`` and ``trajectory``
files are found beside the jobs file. Each job writes ``OUT/NAME/NAME.mp4`` and its sidecars.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from perpetual.flight import Plan, plan

__all__ = ["Job", "load_jobs", "plan_job"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Job:
    """One flight of a batch; every field but ``name`` has ``perpetual fly``'s default."""

    name: str  # its folder under the batch's output: letters, digits, '.', '_', '-'
    image: str | None = None  # start photo; without one, the procedural world of ``seed``
    seed: int = 0
    config: str = "default"  # preset name or TOML file
    set: tuple[str, ...] = ()  # config overrides, "SECTION.KEY=VALUE"
    trajectory: str = "forward"  # preset name or camera path file
    prompt: str = ""
    frames: int | None = None
    fps: float | None = None
    fov: float | None = None
    size: tuple[int, int] | None = None  # (W, H); "256x256" in a jobs file
    depth_video: bool = False
    save_frames: bool = False

    @property
    def out(self) -> str:
        """The mp4 path inside the batch's output folder."""
        return f"{self.name}/{self.name}.mp4"


def _field_types() -> dict[str, tuple[type, ...]]:
    number = (int, float)
    return {"name": (str,), "image": (str,), "seed": (int,), "config": (str,), "set": (list,), "trajectory": (str,),
            "prompt": (str,), "frames": (int,), "fps": number, "fov": number, "size": (str, list), "depth_video": (bool,),
            "save_frames": (bool,)}


def _size(value: str | list, where: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in (value.lower().split("x") if isinstance(value, str) else value))
    except (ValueError, TypeError):
        raise ValueError(f"{where}: size must look like \"256x256\" or [256, 256], got {value!r}") from None
    return w, h


def _job(data: Any, where: str, base: Path) -> Job:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a job is a JSON object / TOML table, got {type(data).__name__}")
    types = _field_types()
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {', '.join(types)}")
    for key, value in data.items():
        if not isinstance(value, types[key]) or (isinstance(value, bool) and bool not in types[key]):
            raise ValueError(f"{where}: {key} must be {' or '.join(t.__name__ for t in types[key])}, got {value!r}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{where}: every job needs a name of letters, digits, '.', '_' or '-' (its folder), got {name!r}")
    if not all(isinstance(s, str) for s in data.get("set", [])):
        raise ValueError(f"{where}: set is a list of \"SECTION.KEY=VALUE\" strings")
    beside = lambda p: str(base / p) if (base / p).is_file() and not Path(p).is_absolute() else p  # noqa: E731
    values: dict[str, Any] = dict(data)
    for key in ("image", "trajectory", "config"):
        if key in values:
            values[key] = beside(values[key])
    values["set"] = tuple(values.get("set", ()))
    if "size" in values:
        values["size"] = _size(values["size"], where)
    return Job(**{k: v for k, v in values.items() if k in {f.name for f in fields(Job)}})


def load_jobs(file: str | Path) -> list[Job]:
    """The jobs of a ``.jsonl`` or ``.toml`` file; a malformed entry or two jobs with one name
    raise ValueError naming the line (or table) and the problem."""
    file = Path(file)
    if not file.is_file():
        raise ValueError(f"jobs file {file} does not exist")
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read jobs file {file}: {err}") from None
    base = file.parent
    if file.suffix.lower() == ".toml":
        try:
            tables = tomllib.loads(text).get("job", [])
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{file} is not valid TOML: {err}") from None
        if not isinstance(tables, list):
            raise ValueError(f"{file}: jobs are [[job]] tables")
        jobs = [_job(t, f"{file} job {i + 1}", base) for i, t in enumerate(tables)]
    elif file.suffix.lower() in (".jsonl", ".json"):
        jobs = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{file} line {number} is not valid JSON: {err.msg} at column {err.colno}") from None
            jobs.append(_job(data, f"{file} line {number}", base))
    else:
        raise ValueError(f"jobs file {file}: use JSON Lines (.jsonl) or TOML (.toml)")
    if not jobs:
        raise ValueError(f"jobs file {file} has no jobs")
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"{file}: two jobs are named {job.name!r}; each job needs its own name (its folder)")
        seen.add(job.name)
    return jobs


def plan_job(job: Job) -> Plan:
    """The job's flight, resolved as ``perpetual fly`` would resolve its arguments."""
    return plan(job.image, job.trajectory, config=job.config, overrides=job.set, prompt=job.prompt, seed=job.seed,
                frames=job.frames, fps=job.fps, fov=job.fov, size=job.size, depth_video=job.depth_video,
                save_frames=job.save_frames)
