"""Everything a run writes, as one sink: mp4, optional depth mp4 and PNG frames, poses.json, run.json.

Used as a context manager: on a clean exit every file is moved into place; on an error or Ctrl-C
the temporary files are removed and nothing appears under the output names.
"""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from perpetual import __version__
from perpetual.engine import Frame
from perpetual.io.camera_files import to_nerfstudio
from perpetual.io.files import write_json
from perpetual.io.video import FrameFolder, VideoWriter, colourise_disparity
from perpetual.paths import CameraPath

__all__ = ["RunOutputs", "versions"]


def versions() -> dict[str, str]:
    import kornia

    return {"perpetual": __version__, "torch": torch.__version__, "kornia": kornia.__version__, "python": platform.python_version()}


class RunOutputs:
    """Sinks for one flight into ``out`` (an .mp4 path); sidecar files go beside it."""

    def __init__(self, out: str | Path, path: CameraPath, *, depth_video: bool = False, save_frames: bool = False,
                 run_info: dict[str, Any] | None = None) -> None:
        self.out = Path(out)
        if self.out.suffix.lower() != ".mp4":
            raise ValueError(f"--out must end in .mp4, got {self.out}")
        if self.out.is_dir():
            raise ValueError(f"--out {self.out} is a folder; give a file name ending in .mp4")
        self.path = path
        stem = self.out.with_suffix("")
        self.poses_file = stem.parent / f"{stem.name}.poses.json"
        self.run_file = stem.parent / f"{stem.name}.run.json"
        self.run_info = run_info or {}
        self.sinks: list[tuple[str, Any]] = [("rgb", VideoWriter(self.out, path.width, path.height, path.fps))]
        if depth_video:
            self.sinks.append(("depth", VideoWriter(stem.parent / f"{stem.name}.depth.mp4", path.width, path.height, path.fps)))
        if save_frames:
            self.sinks.append(("rgb", FrameFolder(stem.parent / f"{stem.name}.frames")))
        self.poses: list[torch.Tensor] = []
        self.keyframes = 0
        self.far_disparity: float | None = None

    def __enter__(self) -> RunOutputs:
        return self

    def add(self, frame: Frame) -> None:
        if self.far_disparity is None:  # fix the depth colour scale on frame 0
            d = frame.disparity[frame.disparity > 0]
            self.far_disparity = float(torch.quantile(d, 0.98)) if d.numel() else 1.0
        for kind, sink in self.sinks:
            sink.write(frame.image if kind == "rgb" else colourise_disparity(frame.disparity, near=self.far_disparity))
        self.poses.append(frame.pose)
        self.keyframes += int(frame.is_keyframe)

    def __exit__(self, exc_type, exc, tb) -> None:
        ok = exc_type is None and bool(self.poses)
        for _, sink in self.sinks:
            sink.close(keep=ok)
        if ok:
            flown = replace(self.path, poses=torch.stack(self.poses), fov=self.path.fov[: len(self.poses)])
            write_json(self.poses_file, to_nerfstudio(flown))
            write_json(self.run_file, {**self.run_info, "frames": len(self.poses), "keyframes": self.keyframes, "versions": versions()})
