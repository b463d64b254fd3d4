"""One flight as one call: what ``perpetual fly`` does, from Python.

:func:`fly` writes the same files as the command line (the mp4, ``NAME.poses.json``,
``NAME.run.json``, and the depth video and PNG frames when asked), atomically and resumably.
It is two steps, each usable alone: :func:`plan` resolves everything that decides the frames
(config, camera path, start) without loading a model, and :func:`fly_plan` flies a plan,
on a :class:`~perpetual.engine.Flythrough` given (models loaded once for many flights) or a
new one.

    >>> import perpetual
    >>> result = perpetual.fly(None, "forward", "flight.mp4", frames=8, size=(64, 64))  # doctest: +SKIP
    >>> result.frames, result.out.name  # doctest: +SKIP
    (8, 'flight.mp4')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from perpetual.config import Config, apply_overrides, load_config
from perpetual.engine import Flythrough, Frame
from perpetual.io.camera_files import LoadedPath, load_camera_path
from perpetual.io.outputs import RunOutputs, run_signature
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot, AutopilotSettings

MAX_SEED = 2**62  # seeds grow by the frame index; torch takes up to 2**64 - 1

__all__ = ["Plan", "FlightResult", "plan", "fly_plan", "fly", "load_path", "autopilot_for", "start_frame"]


def load_path(trajectory: str | Path, *, frames: int | None = None, fps: float | None = None, fov: float | None = None,
              size: tuple[int, int] | None = None) -> LoadedPath:
    """A preset name or camera path file, with the frame count, rate, field of view or size
    ``(W, H)`` replaced where given."""
    overrides: dict[str, Any] = {"frames": frames, "fps": fps, "fov": fov}
    if size:
        overrides.update(width=size[0], height=size[1])
    return load_camera_path(str(trajectory), **{k: v for k, v in overrides.items() if v is not None})


def autopilot_for(trajectory: LoadedPath) -> Autopilot | None:
    """The autopilot a closed-loop trajectory asks for (its params are AutopilotSettings), else None."""
    if trajectory.spec is None or not trajectory.spec.closed_loop:
        return None
    params = trajectory.spec.params
    known = [f.name for f in fields(AutopilotSettings)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown autopilot parameter(s) {unknown}; known: {', '.join(known)}")
    return Autopilot(AutopilotSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}))


@dataclass(frozen=True)
class Plan:
    """Everything that decides a flight's frames, resolved before any model loads.

    ``info`` is what run.json records and what identifies the run for resuming; ``signature``
    digests it with the exact camera path (a finished run with the same signature has the
    same frames).
    """

    config: Config
    trajectory: LoadedPath
    image: str | None
    seed: int
    prompt: str
    depth_video: bool
    save_frames: bool
    info: dict[str, Any]
    inputs: tuple[str, ...] = ()

    @property
    def path(self) -> CameraPath:
        return self.trajectory.path

    @property
    def closed_loop(self) -> bool:
        return self.trajectory.spec is not None and self.trajectory.spec.closed_loop

    @property
    def fitted(self) -> bool:
        """Whether the path's speed is fitted to the start image (``guard.fit``): a generated path
        (a preset, a generator file) is; explicit poses, waypoints and schedules are flown as
        given (a recording replays as it was flown), the clearance guard still checking them.
        The autopilot's speed is fitted as its open-loop plan's."""
        return self.trajectory.spec is not None and self.config.guard.fitted

    @property
    def signature(self) -> str:
        return run_signature(self.info, self.path, self.depth_video, self.save_frames)


def plan(image: str | Path | None = None, trajectory: str | Path | CameraPath = "forward", *,
         config: str | Path | Config = "default", overrides: Sequence[str] = (), prompt: str = "", seed: int = 0,
         frames: int | None = None, fps: float | None = None, fov: float | None = None,
         size: tuple[int, int] | None = None, depth_video: bool = False, save_frames: bool = False) -> Plan:
    """Resolve a flight: ``image`` (a photo's file; None flies the procedural world of ``seed``),
    ``trajectory`` (a preset name, a camera path file, or a :class:`CameraPath`), ``config``
    (a preset name, a TOML file or a :class:`Config`) with ``overrides`` (``"SECTION.KEY=VALUE"``).
    Raises ValueError naming the problem for a bad setting or file."""
    if not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        raise ValueError(f"seed must be a whole number from 0 to 2**62, got {seed!r}")
    if size is not None and (size[0] % 2 or size[1] % 2):
        raise ValueError(f"size {size[0]}x{size[1]}: width and height must be even numbers (the video's chroma is halved)")
    settings = apply_overrides(config if isinstance(config, Config) else load_config(str(config)), list(overrides))
    if isinstance(trajectory, CameraPath):
        if any(v is not None for v in (frames, fps, fov, size)):
            raise ValueError("frames, fps, fov and size come from the CameraPath itself; change it with with_size() and the like")
        loaded, name = LoadedPath(trajectory), "custom camera path"
    else:
        loaded, name = load_path(trajectory, frames=frames, fps=fps, fov=fov, size=size), str(trajectory)
    autopilot_for(loaded)  # its parameters are checked now, not after the models load
    start = str(image) if image is not None else f"world seed {seed}"
    info = {"start": start, "trajectory": name, "config": settings.to_dict(), "seed": seed, "prompt": prompt}
    inputs = tuple(str(p) for p in (image, trajectory, config) if isinstance(p, (str, Path)) and Path(p).is_file())
    return Plan(settings, loaded, None if image is None else str(image), seed, prompt, depth_video, save_frames, info, inputs)


@dataclass(frozen=True)
class FlightResult:
    """What a flight wrote and how it went."""

    out: Path
    frames: int  # in the video
    keyframes: int
    made: int  # frames made by this call (fewer than ``frames`` when it resumed)
    seconds: float
    stage_ms: dict[str, float]  # milliseconds per made frame in each stage of the loop
    notes: list[str] = field(default_factory=list)  # the health of the flight, one line each
    signature: str = ""

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.0f} ms" for k, v in self.stage_ms.items())
        return (f"{self.frames} frames ({self.keyframes} keyframes); {self.made} made in {self.seconds:.1f} s, "
                f"{self.seconds / max(self.made, 1) * 1000:.0f} ms/frame [{stages}] -> {self.out}")


def start_frame(plan: Plan) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Frame 0 ``(1, 3, H, W)`` and its disparity ``(1, 1, H, W)`` when known (the world's)."""
    from perpetual.io.images import load_image
    from perpetual.world import World, WorldSettings

    path = plan.path
    if plan.image is not None:
        return load_image(plan.image, path.width, path.height), None
    _, view = World(WorldSettings(seed=plan.seed)).start_view(path.height, path.width, float(path.fov[0]))
    return view.image, view.disparity


def fly_plan(plan: Plan, out: str | Path, *, engine: Flythrough | None = None, device: str = "auto", resume: bool = False,
             progress: bool = True, on_frame: Callable[[Frame], None] | None = None,
             ply: str | Path | None = None) -> FlightResult:
    """Fly ``plan`` into ``out`` (an .mp4; sidecars beside it). ``engine``: a Flythrough of the
    plan's config to reuse (else one is built on ``device``); ``resume``: continue the
    unfinished run of the same plan; ``on_frame``: called with each frame once it is written;
    ``ply``: also write the keyframes' surface points there (:mod:`perpetual.io.scene`)."""
    from perpetual.health import Health
    from perpetual.io.progress import Progress

    path, autopilot = plan.path, autopilot_for(plan.trajectory)
    image, disparity = start_frame(plan)  # a bad image is refused before any model loads
    if engine is None:
        engine = Flythrough(plan.config, device=device)
    elif engine.config != plan.config:
        raise ValueError("the Flythrough given was built for another config than the plan's")
    engine.timings.seconds.clear()
    guard = plan.config.guard
    health = Health(guard.clearance, guard.on_clearance if autopilot is None else "autopilot", fit=plan.fitted)
    sinks: dict[str, Any] = dict(depth_video=plan.depth_video, save_frames=plan.save_frames, run_info=plan.info, resume=resume,
                                 inputs=plan.inputs, health=health, ply=ply)
    if autopilot is not None:
        sinks["extra_state"] = lambda: {"autopilot": autopilot.state()}
    began = time.perf_counter()
    torch.manual_seed(plan.seed)  # after the models load, so a reused engine starts from the same state
    with RunOutputs(out, path, **sinks) as outputs:
        if autopilot is not None and outputs.resumed_from is not None:
            autopilot.load(outputs.resumed_extra["autopilot"])
        frames = engine.run(image, path, disparity, prompt=plan.prompt, seed=plan.seed, resume=outputs.resumed_from, autopilot=autopilot,
                            fit=plan.fitted)
        counted = Progress(len(path), initial=outputs.frames, desc="fly")(frames) if progress else frames
        for frame in counted:
            outputs.add(frame)
            if on_frame is not None:
                on_frame(frame)
    seconds = time.perf_counter() - began
    made = max(1, len(path) - (outputs.resumed_from.index + 1 if outputs.resumed_from else 0))
    stage_ms = {k: v / made * 1000 for k, v in engine.timings.seconds.items()}
    return FlightResult(Path(out), len(path), outputs.keyframes, made, seconds, stage_ms,
                        outputs.health.messages(len(path)), plan.signature)


def fly(image: str | Path | None = None, trajectory: str | Path | CameraPath = "forward", out: str | Path = "flight.mp4", *,
        config: str | Path | Config = "default", overrides: Sequence[str] = (), prompt: str = "", seed: int = 0,
        frames: int | None = None, fps: float | None = None, fov: float | None = None, size: tuple[int, int] | None = None,
        depth_video: bool = False, save_frames: bool = False, device: str = "auto", resume: bool = False,
        progress: bool = True, engine: Flythrough | None = None,
        on_frame: Callable[[Frame], None] | None = None, ply: str | Path | None = None) -> FlightResult:
    """Fly from ``image`` (None: the procedural world of ``seed``) along ``trajectory`` into
    ``out``, as ``perpetual fly`` does; see :func:`plan` and :func:`fly_plan` for the arguments."""
    planned = plan(image, trajectory, config=config, overrides=overrides, prompt=prompt, seed=seed, frames=frames, fps=fps,
                   fov=fov, size=size, depth_video=depth_video, save_frames=save_frames)
    return fly_plan(planned, out, engine=engine, device=device, resume=resume, progress=progress, on_frame=on_frame, ply=ply)
