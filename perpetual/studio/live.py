"""One browser tab's live flight: held keys in, frames out, and a recording that replays.

The camera is steered by hand (:class:`~perpetual.paths.pilot.Pilot`) or, after Space, by the
autopilot, each taking over from the other's pose. A recording always starts from the photo
(Record starts the flight over), so its ``poses.json`` replays with ``perpetual fly PHOTO
--trajectory recording.poses.json --set guard.on_clearance=warn`` from the same first frame with
the same poses (the default guard, ``"slow"``, slows a replay wherever it nears a surface).
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from perpetual.engine import Flythrough
from perpetual.frame import Frame
from perpetual.geometry import invert_pose
from perpetual.io.camera_files import save_path
from perpetual.io.video import VideoWriter
from perpetual.live import LiveFlight
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot
from perpetual.paths.pilot import Controls, Pilot

__all__ = ["LiveSession", "MAX_RECORDING"]

MAX_RECORDING = 9000  # frames: 10 minutes at 15 frames per second


class LiveSession:
    """A live flight from ``image`` ``(1, 3, H, W)`` (``disparity`` if known) shown at ``fps``;
    recordings are written in ``folder``."""

    def __init__(self, engine: Flythrough, image: torch.Tensor, disparity: torch.Tensor | None, *, fov: float, prompt: str,
                 seed: int, folder: Path, fps: float = 15.0) -> None:
        self.engine, self.image, self.disparity, self.folder, self.fps = engine, image, disparity, folder, fps
        self.fov, self.prompt, self.seed = fov, prompt, seed
        self.keys: frozenset[str] = frozenset()
        self.seq = 0  # the last control message applied to a frame
        self._look = [0.0, 0.0]
        self._look_lock = threading.Lock()
        self._lock = threading.Lock()  # a frame, a record, a stop: one at a time (the server calls them on threads)
        self._received = 0
        self.autopilot_on = False
        self._writer: VideoWriter | None = None
        self._poses: list[torch.Tensor] = []
        self._restart()

    def _restart(self) -> None:
        self.flight = LiveFlight(self.engine, self.image, self.disparity, fov=self.fov, fps=self.fps, prompt=self.prompt,
                                 seed=self.seed)
        self.pilot, self.autopilot = Pilot(), Autopilot()
        if self.disparity is None:  # from a photo: kept to it as a flight's is, unfitted (a live flight has no end)
            self.autopilot.keep_to_photo(self.flight.frame.disparity, self.flight.path.intrinsics()[:1])
        if self.autopilot_on:
            self.pilot.hand_to(self.autopilot)

    def control(self, keys: list[str], look: tuple[float, float], seq: int) -> None:
        """What the page holds now; ``look`` (degrees right, up) adds up until a frame uses it."""
        self.keys = frozenset(str(k)[:16] for k in keys[:16])
        with self._look_lock:
            self._look[0] += look[0]
            self._look[1] += look[1]
        self._received = seq

    def toggle_autopilot(self) -> None:
        """Hand the camera to the autopilot, or take it back, from the pose it has now."""
        with self._lock:
            self.autopilot_on = not self.autopilot_on
            (self.pilot.hand_to(self.autopilot) if self.autopilot_on else self.pilot.take_from(self.autopilot))

    def tick(self) -> Frame:
        """The next frame: steer, render, record."""
        with self._lock:
            return self._tick()

    def _tick(self) -> Frame:
        seq = self._received
        with self._look_lock:
            look, self._look = tuple(self._look), [0.0, 0.0]
        last = self.flight.frame.disparity
        if self.autopilot_on:
            pose = self.autopilot.next_pose(last, self.flight.autopilot_pace(self.autopilot))
        else:
            pose = self.pilot.next_pose(Controls.from_keys(self.keys, look, self.pilot.settings.turn), last)
        frame = self.flight.step(pose)
        self.seq = seq
        if self._writer is not None:
            self._add(frame)
            if len(self._poses) >= MAX_RECORDING:
                self._stop_recording()
        return frame

    def _add(self, frame: Frame) -> None:
        self._writer.write(frame.image)
        self._poses.append(frame.pose)

    @property
    def recording(self) -> int | None:
        """Frames recorded so far, None when not recording."""
        return None if self._writer is None else len(self._poses)

    def record(self) -> None:
        """Start over from the photo and record from its first frame."""
        with self._lock:
            self._stop_recording(keep=False)
            self.flight.close()
            self._restart()
            H, W = self.image.shape[-2:]
            self._writer, self._poses = VideoWriter(self.folder / "recording.mp4", W, H, self.fps), []
            self._add(self.flight.frame)

    def stop_recording(self, keep: bool = True) -> list[str]:
        """Write ``recording.mp4`` and ``recording.poses.json``; the files written."""
        with self._lock:
            return self._stop_recording(keep)

    def _stop_recording(self, keep: bool = True) -> list[str]:
        if self._writer is None:
            return []
        writer, self._writer = self._writer, None
        if not keep or len(self._poses) < 2:
            writer.close(keep=False)
            return []
        writer.close()
        H, W = self.image.shape[-2:]
        save_path(CameraPath(torch.stack(self._poses), torch.tensor(self.fov), W, H, self.fps),
                  self.folder / "recording.poses.json")
        return ["recording.mp4", "recording.poses.json"]

    def position(self) -> list[float]:
        """Where the camera is, in the first camera's frame (scene units)."""
        return [round(float(v), 4) for v in invert_pose(self.flight.frame.pose)[:3, 3]]

    def close(self) -> None:
        with self._lock:
            self._stop_recording(keep=False)
            self.flight.close()

