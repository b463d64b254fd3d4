"""Everything a run writes, as one sink: mp4, optional depth mp4 and PNG frames, poses.json, run.json.

Work happens in a hidden folder beside the output (``.NAME.partial/``). Video is written in
segments that end at checkpoints (keyframes, about every ``checkpoint_every`` frames); each
checkpoint saves the keyframe (safetensors) so that an interrupted run resumes from it with
``--resume`` and produces the same frames. Only a completed run joins the segments (no
re-encoding) and moves the results under their final names: an error or Ctrl-C never leaves a
half-written file there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import platform
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

import imageio_ffmpeg
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from perpetual import __version__
from perpetual.frame import Frame
from perpetual.health import Health
from perpetual.io.camera_files import to_nerfstudio
from perpetual.io.files import atomic_path, read_json, write_json
from perpetual.io.images import to_uint8
from perpetual.io.scene import SceneCloud
from perpetual.io.video import VideoWriter, colourise_disparity
from perpetual.paths import CameraPath

__all__ = ["RunOutputs", "versions", "run_signature", "run_state", "discard_unfinished", "has_unfinished"]


def versions() -> dict[str, str]:
    import kornia

    return {"perpetual": __version__, "torch": torch.__version__, "kornia": kornia.__version__, "python": platform.python_version()}


def signature(info: dict[str, Any], path: CameraPath) -> str:
    """A digest of everything that decides the frames: settings and the exact camera path."""
    digest = hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode())
    digest.update(path.poses.numpy().tobytes())
    digest.update(path.fov.numpy().tobytes())
    digest.update(f"{path.width}x{path.height}@{path.fps}".encode())
    return digest.hexdigest()[:16]


def run_signature(info: dict[str, Any], path: CameraPath, depth_video: bool, save_frames: bool, ply: bool = False) -> str:
    """The signature a run of these settings records (in state.json while unfinished, in run.json
    once done); ``ply``: the run also writes the scene (a resumed cloud must have every keyframe)."""
    return signature({**info, **({"ply": True} if ply else {}), "depth_video": depth_video, "save_frames": save_frames}, path)


def _sidecar(out: Path, suffix: str) -> Path:
    return out.with_suffix("").parent / f"{out.with_suffix('').name}{suffix}"


def _work(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def finished_files(out: Path, depth_video: bool, save_frames: bool) -> list[Path]:
    """The files and folders a finished run into ``out`` leaves (besides ``--ply``'s file, named apart)."""
    side = lambda suffix: _sidecar(out, suffix)  # noqa: E731
    return [out, side(".poses.json"), side(".run.json")] + [side(".depth.mp4")] * depth_video + [side(".frames")] * save_frames


def run_state(out: str | Path, signature: str, depth_video: bool = False, save_frames: bool = False) -> str:
    """Where a run of ``signature`` into ``out`` stands, from its files: ``"done"`` (finished with
    these settings and every file there), ``"unfinished"`` (a partial run of these settings to
    resume), ``"stale"`` (a partial run of other settings, or one too damaged to read) or
    ``"none"`` (nothing of these settings: a finished run of other settings counts as none)."""
    out = Path(out)
    work = _work(out)
    if work.exists():
        try:
            state = read_json(work / "state.json")
        except (OSError, ValueError):
            return "stale"
        return "unfinished" if isinstance(state, dict) and state.get("signature") == signature else "stale"
    try:
        info = read_json(_sidecar(out, ".run.json"))
    except (OSError, ValueError):
        return "none"
    done = isinstance(info, dict) and info.get("signature") == signature and all(p.exists() for p in finished_files(out, depth_video, save_frames))
    return "done" if done else "none"


def has_unfinished(out: str | Path) -> bool:
    """Whether a partial run of ``out`` is there to resume (a run stopped before its first
    checkpoint leaves none)."""
    return _work(Path(out)).exists()


def discard_unfinished(out: str | Path) -> None:
    """Delete the partial run of ``out``, if any (its settings changed, or it is damaged)."""
    shutil.rmtree(_work(Path(out)), ignore_errors=True)


class RunOutputs:
    """Sinks for one flight into ``out`` (an .mp4 path); sidecar files go beside it.

    Args:
        out: the mp4 to write; ``NAME.depth.mp4``, ``NAME.frames/``, ``NAME.poses.json`` and
            ``NAME.run.json`` go beside it.
        path: the camera path being flown.
        run_info: settings recorded in run.json; they also identify the run for ``resume``.
        resume: continue the partial run of the same settings instead of refusing to touch it.
        checkpoint_every: frames between checkpoints (taken at the next keyframe).
        extra_state: called at each checkpoint; what it returns comes back as ``resumed_extra``
            (e.g. the autopilot's state).
        health: gathers every frame's measures (:class:`~perpetual.health.Health`) for run.json
            and :attr:`health`; a resumed run continues the one it had.
    """

    def __init__(self, out: str | Path, path: CameraPath, *, depth_video: bool = False, save_frames: bool = False,
                 run_info: dict[str, Any] | None = None, resume: bool = False, checkpoint_every: int = 30,
                 extra_state: Callable[[], dict] | None = None, inputs: tuple[str | Path, ...] = (),
                 health: Health | None = None, ply: str | Path | None = None) -> None:
        self.out = Path(out)
        if self.out.suffix.lower() != ".mp4":
            raise ValueError(f"--out must end in .mp4, got {self.out}")
        if self.out.is_dir():
            raise ValueError(f"--out {self.out} is a folder; give a file name ending in .mp4")
        if not self.out.parent.is_dir():
            raise ValueError(f"cannot write {self.out}: folder {self.out.parent} does not exist")
        self.stem = self.out.with_suffix("")
        self.ply = None if ply is None else Path(ply)
        if self.ply is not None:
            if self.ply.suffix.lower() != ".ply":
                raise ValueError(f"--ply {self.ply}: the scene is a PLY file; give a name ending in .ply")
            if not self.ply.parent.is_dir():
                raise ValueError(f"cannot write {self.ply}: folder {self.ply.parent} does not exist")
            for source in inputs:
                if self.ply.exists() and Path(source).exists() and self.ply.samefile(source):
                    raise ValueError(f"the output {self.ply} would overwrite the input {source}; choose another --ply")
        for name in finished_files(self.out, depth_video, save_frames):
            for source in inputs:
                if name.exists() and Path(source).exists() and name.samefile(source):
                    raise ValueError(f"the output {name} would overwrite the input {source}; choose another --out")
        self.path, self.depth_video, self.save_frames = path, depth_video, save_frames
        self.checkpoint_every = checkpoint_every
        self.run_info = {**(run_info or {}), **({"ply": True} if ply is not None else {}), "depth_video": depth_video,
                         "save_frames": save_frames}
        self.signature = run_signature(run_info or {}, path, depth_video, save_frames, ply is not None)
        self.scene = SceneCloud() if ply is not None else None
        self.work = _work(self.out)
        self.state: dict[str, Any] = {"signature": self.signature, "segments": 0, "done": 0, "keyframes": 0, "poses": []}
        self.resumed_from: Frame | None = None
        self.extra_state = extra_state
        self.health = health or Health()
        if self.work.exists():
            if not resume:
                raise ValueError(f"an unfinished run is in {self.work}: add --resume to continue it, or delete that folder")
            self._lock()
            try:
                self._load()
            except ValueError:
                self._lock_file.close()
                raise
        else:
            if resume:
                raise ValueError(f"nothing to resume: no unfinished run for {self.out}")
            (self.work / "frames").mkdir(parents=True)
            self._lock()
        self.writers: list[tuple[str, VideoWriter]] = []
        self.pending: list[torch.Tensor] = []  # poses since the last checkpoint
        self.pending_keyframes = 0
        self.far_disparity: float | None = self.state.get("far_disparity")

    def _lock(self) -> None:
        """Hold an exclusive lock on the work folder while this run writes it: a second run of
        the same output (``--resume`` while the first is still going) is refused at once. The
        operating system drops the lock when the process ends, however it ends."""
        self._lock_file = open(self.work / "lock", "a")  # noqa: SIM115  (held open for the whole run)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise ValueError(f"another run is writing {self.out} right now ({self.work}); wait for it to finish, or stop it") from None

    # -- resume --------------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            state = read_json(self.work / "state.json") if (self.work / "state.json").exists() else None
        except ValueError as err:
            raise ValueError(f"the unfinished run in {self.work} is damaged ({err}); delete that folder to start over") from None
        if not isinstance(state, dict) or state.get("signature") != self.signature:
            raise ValueError(f"the unfinished run in {self.work} used other settings; rerun them, or delete that folder")
        try:
            tensors = self._check_resumable(state)
            if self.scene is not None:
                self.scene.load(load_file(str(self.work / "scene.safetensors")))
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as err:
            raise ValueError(f"the unfinished run in {self.work} is damaged ({err}); delete that folder to start over") from None
        self.state = state
        self.resumed_extra = state.get("extra", {})
        if "health" in state:
            self.health = Health.load(state["health"])
        measures = dict(state.get("measures", {}))  # what steers the next frame (the guard paces by the magnified share)
        measures["free_space"] = math.inf if measures.get("free_space") is None else measures["free_space"]
        self.resumed_from = Frame(int(state["done"]) - 1, tensors["image"], tensors["disparity"], tensors["pose"], True, 0.0,
                                  tensors.get("detail"), progress=state.get("progress"),
                                  provenance=tensors.get("provenance"), **measures)

    def _check_resumable(self, state: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The checkpoint's tensors, after checking that the state, the keyframe and the video
        segments agree (so a resumed run never ends with frames missing)."""
        done, segments = int(state["done"]), int(state["segments"])
        if not 1 <= done <= len(self.path) or len(state["poses"]) != done:
            raise ValueError(f"state.json says {done} frames are done, with {len(state['poses'])} poses, of {len(self.path)}")
        for kind in ["rgb"] + ["depth"] * self.depth_video:
            missing = [i for i in range(segments) if not (self.work / f"{kind}-{i:05d}.mp4").is_file()]
            if missing:
                raise ValueError(f"video segment {kind}-{missing[0]:05d}.mp4 is missing")
        if self.save_frames and len(list((self.work / "frames").glob("*.png"))) < done:
            raise ValueError(f"fewer than {done} PNG frames in frames/")
        tensors = load_file(str(self.work / "keyframe.safetensors"))
        H, W = self.path.height, self.path.width
        for name, shape in (("image", (1, 3, H, W)), ("disparity", (1, 1, H, W)), ("pose", (4, 4))):
            if name not in tensors or tuple(tensors[name].shape) != shape:
                raise ValueError(f"keyframe.safetensors has no {name} of shape {shape}")
        return tensors

    def checkpoint(self, frame: Frame) -> None:
        """End the current segments at ``frame`` (a keyframe) and save what resuming needs."""
        self._end_segment()
        self.state["far_disparity"] = self.far_disparity
        self.state["progress"] = frame.progress
        self.state["measures"] = {"magnified_share": frame.magnified_share, "invented_share": frame.invented_share,
                                  "too_close": frame.too_close, "slowed": frame.slowed,
                                  "free_space": None if math.isinf(frame.free_space) else frame.free_space}
        self.state["health"] = self.health.state()
        if self.extra_state is not None:
            self.state["extra"] = self.extra_state()
        tensors = {"image": frame.image.contiguous().cpu(), "disparity": frame.disparity.contiguous().cpu(), "pose": frame.pose.contiguous()}
        for name in ("detail", "provenance"):
            if getattr(frame, name) is not None:
                tensors[name] = getattr(frame, name).contiguous().cpu()
        with atomic_path(self.work / "keyframe.safetensors") as tmp:
            save_file(tensors, str(tmp))
        if self.scene is not None:
            with atomic_path(self.work / "scene.safetensors") as tmp:
                save_file(self.scene.state(), str(tmp))
        write_json(self.work / "state.json", self.state)

    # -- writing -------------------------------------------------------------------------------

    def __enter__(self) -> RunOutputs:
        return self

    def _segment(self, kind: str) -> Path:
        return self.work / f"{kind}-{self.state['segments']:05d}.mp4"

    @property
    def frames(self) -> int:
        return self.state["done"] + len(self.pending)

    @property
    def keyframes(self) -> int:
        return self.state["keyframes"] + self.pending_keyframes

    def add(self, frame: Frame) -> None:
        if self.far_disparity is None:  # fix the depth colour scale on frame 0
            d = frame.disparity[frame.disparity > 0]
            self.far_disparity = float(torch.quantile(d, 0.98)) if d.numel() else 1.0
        if not self.writers:
            kinds = ["rgb", "depth"] if self.depth_video else ["rgb"]
            self.writers = [(k, VideoWriter(self._segment(k), self.path.width, self.path.height, self.path.fps)) for k in kinds]
        for kind, writer in self.writers:
            writer.write(frame.image if kind == "rgb" else colourise_disparity(frame.disparity, near=self.far_disparity))
        if self.save_frames:
            Image.fromarray(to_uint8(frame.image)).save(self.work / "frames" / f"{frame.index:06d}.png")
        self.pending.append(frame.pose)
        self.pending_keyframes += int(frame.is_keyframe)
        if self.scene is not None and frame.is_keyframe:
            self.scene.add(frame, self.path.intrinsics()[frame.index : frame.index + 1])
        self.health.add(frame)
        since = frame.index + 1 - self.state["done"]
        if frame.is_keyframe and (frame.index == 0 or since >= self.checkpoint_every or frame.index == len(self.path) - 1):
            self.checkpoint(frame)

    def _end_segment(self) -> None:
        """Keep the segments being written and count their frames, keyframes and poses as done."""
        self._close_segments(keep=True)
        self.state["segments"] += 1
        self.state["done"] += len(self.pending)
        self.state["keyframes"] += self.pending_keyframes
        self.state["poses"] += [p.tolist() for p in self.pending]
        self.pending, self.pending_keyframes = [], 0

    def _close_segments(self, keep: bool) -> None:
        for _, writer in self.writers:
            writer.close(keep=keep)
        self.writers = []

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._end(exc_type is None)
        finally:
            self._lock_file.close()

    def _end(self, ok: bool) -> None:
        complete = ok and self.state["done"] + len(self.pending) == len(self.path)
        if complete and self.pending:  # the last frame was not a keyframe: close the tail as a segment
            self._end_segment()
        else:
            self._close_segments(keep=False)  # frames after the last checkpoint are made again on resume
        if complete:
            self._finish()
        elif self.state["done"] == 0:
            shutil.rmtree(self.work, ignore_errors=True)  # nothing worth resuming

    def _finish(self) -> None:
        self._join("rgb", self.out)
        if self.depth_video:
            self._join("depth", self.stem.parent / f"{self.stem.name}.depth.mp4")
        if self.save_frames:
            final = self.stem.parent / f"{self.stem.name}.frames"
            if final.exists():
                shutil.rmtree(final)
            (self.work / "frames").rename(final)
        flown = replace(self.path, poses=torch.tensor(self.state["poses"], dtype=torch.float64))
        write_json(self.stem.parent / f"{self.stem.name}.poses.json", to_nerfstudio(flown))
        info = {**self.run_info, "frames": len(flown), "keyframes": self.state["keyframes"], "health": self.health.summary(),
                "per_frame": {"free_space": self.health.free_space, "magnified_share": self.health.magnified,
                              "invented_share": self.health.invented}, "signature": self.signature, "versions": versions()}
        if self.scene is not None:
            self.scene.save(self.ply)
        write_json(self.stem.parent / f"{self.stem.name}.run.json", info)
        shutil.rmtree(self.work, ignore_errors=True)

    def _join(self, kind: str, final: Path) -> None:
        """Concatenate the segments of ``kind`` without re-encoding (ffmpeg's concat demuxer)."""
        parts = [self.work / f"{kind}-{i:05d}.mp4" for i in range(self.state["segments"])]
        listing = self.work / f"{kind}.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
        with atomic_path(final) as tmp:
            cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
                   "-i", str(listing), "-c", "copy", "-f", "mp4", str(tmp)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise OSError(f"ffmpeg could not join the video segments: {result.stderr.strip()[:300]}")
