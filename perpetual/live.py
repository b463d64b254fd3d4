"""A flight steered one frame at a time, fast enough to watch while it is made.

:class:`LiveFlight` runs the same stages as :meth:`Flythrough.run <perpetual.engine.Flythrough.run>`
with the poses given one by one (by hand, :mod:`perpetual.paths.pilot`, or the autopilot). Each
:meth:`~LiveFlight.step` renders the latest keyframe at the new pose, its holes filled cheaply,
and returns. When the view needs a new keyframe (``engine.max_invalid``, ``engine.max_age``), it
is refined at that pose on a background thread while the following frames are still warped
from the keyframe before; the view switches to it once it is ready, so a keyframe's refinement
never stalls the view. The two split torch's threads between them (one each on 2 cores), which
keeps the view's frames short without slowing the keyframes (benchmarks/RESULTS.md). Those
frames differ from an offline flight along the same poses wherever a keyframe arrives later
than the frame that asked for it. ``background=False`` refines in line
instead: each frame is then the one ``Flythrough.run`` makes along the same poses (where its
clearance guard leaves them as they are).

    >>> import torch
    >>> from perpetual import Flythrough, load_config
    >>> from perpetual.geometry import look_at
    >>> live = LiveFlight(Flythrough(load_config("classical")), torch.rand(1, 3, 32, 32), background=False)
    >>> frame = live.step(look_at(torch.tensor([0.0, 0.0, 0.05]), torch.tensor([0.0, 0.0, 1.0])))
    >>> frame.index, live.keyframes >= 1
    (1, True)
"""

from __future__ import annotations

import threading

import torch

from perpetual.engine import Flythrough, View
from perpetual.frame import Frame
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot

__all__ = ["LiveFlight"]


class LiveFlight:
    """A flight from ``image`` ``(1, 3, H, W)`` (and its ``disparity`` ``(1, 1, H, W)`` if known)
    on ``engine``, the camera at the first frame's pose (the identity), ``fov`` degrees vertical."""

    def __init__(self, engine: Flythrough, image: torch.Tensor, disparity: torch.Tensor | None = None, *, fov: float = 60.0,
                 fps: float = 30.0, prompt: str = "", seed: int = 0, background: bool = True) -> None:
        H, W = image.shape[-2:]
        self.engine, self.background = engine, background
        self.path = CameraPath(torch.eye(4, dtype=torch.float64), torch.tensor(float(fov)), W, H, fps)
        with torch.no_grad():  # the autopilot given only keeps the path's clearance guard out: poses come from step()
            self._flight = engine.begin(image, self.path, disparity, prompt=prompt, seed=seed, autopilot=Autopilot(),
                                        fit=False)
        self.frame: Frame = self._flight.last  # the frame shown last; frame 0 to begin with
        self.keyframes = 1
        self._lock = threading.Lock()  # a view is rendered from one keyframe, never half-replaced
        total = torch.get_num_threads()
        self._view_threads = max(1, total // 2) if background else total  # torch's thread count is per thread
        self._refine_threads = max(1, total - self._view_threads)
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def refining(self) -> bool:
        """Whether a keyframe is being refined in the background now."""
        return self._worker is not None and self._worker.is_alive()

    def autopilot_pace(self, autopilot: Autopilot) -> float:
        """The share of a step ``autopilot`` may take next (:meth:`Flythrough.autopilot_pace
        <perpetual.engine.Flythrough.autopilot_pace>`)."""
        return self.engine.autopilot_pace(self._flight, autopilot)

    def step(self, pose: torch.Tensor) -> Frame:
        """The next frame, at ``pose`` (``cam_from_world`` ``(4, 4)``), from the latest keyframe."""
        if self._error is not None:
            raise self._error
        threads = torch.get_num_threads()
        torch.set_num_threads(self._view_threads)
        try:
            return self._step(pose)
        finally:
            torch.set_num_threads(threads)  # the caller's thread as it was

    @torch.no_grad()
    def _step(self, pose: torch.Tensor) -> Frame:
        engine, flight, t = self.engine, self._flight, self.frame.index + 1
        pose = torch.as_tensor(pose, dtype=torch.float64).cpu()  # as a path's poses
        with self._lock:
            view = engine.render(flight, pose, t)
            needs_keyframe = not engine.in_between(flight, view)
        if needs_keyframe and not self.background:
            self.frame = flight.last = self._adopt(view)
            return self.frame
        if needs_keyframe and not self.refining:
            self._worker = threading.Thread(target=self._refine, args=(view,), daemon=True, name="perpetual-live-keyframe")
            self._worker.start()
        self.frame = flight.last = engine.fill(view, {})
        return self.frame

    def _adopt(self, view: View) -> Frame:
        """Refine the keyframe at ``view``'s pose and make it the one later frames are rendered from."""
        key = self.engine.new_keyframe(self._flight, view)
        with self._lock:
            frame = self.engine.adopt(self._flight, key, view, {})
        self.keyframes += 1
        return frame

    def _refine(self, view: View) -> None:
        torch.set_num_threads(self._refine_threads)  # this thread's own count
        try:
            with torch.no_grad():  # grad mode is per thread
                self._adopt(view)
        except BaseException as error:  # raised again by the next step, on the caller's thread
            self._error = error

    def close(self) -> None:
        """Wait for a refinement in flight to end."""
        if self._worker is not None:
            self._worker.join()
