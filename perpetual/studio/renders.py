"""The studio's render queue: flights rendered one at a time into folders that outlive the server.

Each render is a folder ``WORKDIR/renders/ID/`` holding ``job.json`` (the page's spec and the
job's state), the camera path file and, as ``perpetual fly`` writes them, ``flight.mp4``,
``flight.depth.mp4``, ``flight.poses.json``, ``flight.run.json`` and ``scene.ply``. A server
started on the same folder takes up the renders that were queued or running, the running one
resumed from its last checkpoint.
"""

from __future__ import annotations

import collections
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from perpetual.flight import fly_plan
from perpetual.frame import Frame
from perpetual.io.files import read_json, write_json
from perpetual.io.outputs import discard_unfinished, run_signature, run_state
from perpetual.studio.engines import Engines, jpeg
from perpetual.studio.spec import plan_flight

__all__ = ["Busy", "RenderQueue", "FILES"]

FILES = ("flight.mp4", "flight.depth.mp4", "flight.poses.json", "flight.run.json", "scene.ply")
_OPEN = ("queued", "running")


class Busy(Exception):
    """The queue is full; the message says so."""


class _Cancelled(Exception):
    pass


class _Job:
    def __init__(self, folder: Path, spec: dict, state: str = "queued") -> None:
        self.folder, self.spec, self.state = folder, spec, state
        self.id = folder.name
        self.frames = int(spec.get("frames", 120))
        self.done, self.made, self.error, self.started = 0, 0, "", 0.0  # frames in the video, made by this server
        self.preview: bytes | None = None  # the latest frame, JPEG
        self.cancel = False

    def save(self) -> None:
        write_json(self.folder / "job.json", {"spec": self.spec, "state": self.state, "error": self.error})

    def status(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started if self.started else 0.0
        eta = elapsed / self.made * (self.frames - self.done) if self.state == "running" and self.made else None
        files = [f for f in FILES if (self.folder / f).is_file()] if self.state == "done" else []
        return {"id": self.id, "state": self.state, "done": self.done, "made": self.made, "frames": self.frames, "eta_s": eta,
                "error": self.error, "files": files}


class RenderQueue:
    """Renders flights on one thread, at most ``limit`` waiting; models come from ``engines``."""

    def __init__(self, workdir: Path, engines: Engines, uploads: Path, limit: int = 4) -> None:
        self.root, self.engines, self.uploads, self.limit = workdir / "renders", engines, uploads, limit
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, _Job] = {}
        self._waiting: collections.deque[_Job] = collections.deque()
        self._wake = threading.Condition()
        for folder in sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime):
            if (folder / "job.json").is_file():
                saved = read_json(folder / "job.json")
                job = _Job(folder, saved["spec"], saved["state"])
                job.error = saved.get("error", "")
                self.jobs[job.id] = job
                if job.state in _OPEN:  # the server stopped before it finished: on again, resumed
                    job.state = "queued"
                    self._waiting.append(job)
        threading.Thread(target=self._work, daemon=True, name="perpetual-studio-renders").start()

    def submit(self, spec: Any) -> _Job:
        """Queue a flight; ValueError for a bad spec, :class:`Busy` when ``limit`` are waiting."""
        with self._wake:
            if len(self._waiting) >= self.limit:
                raise Busy(f"busy: {len(self._waiting)} renders are waiting; try again when one has finished")
            folder = self.root / secrets.token_hex(6)
            folder.mkdir()
            try:
                plan_flight(spec, self.uploads, folder)  # checked now, so the page hears at once
            except BaseException:
                shutil.rmtree(folder)  # a refused flight leaves no folder behind
                raise
            job = _Job(folder, spec)
            job.save()
            self.jobs[job.id] = job
            self._waiting.append(job)
            self._wake.notify()
        return job

    def cancel(self, job_id: str) -> None:
        job = self.jobs[job_id]
        with self._wake:
            job.cancel = True
            if job in self._waiting:
                self._waiting.remove(job)
                job.state = "cancelled"
                job.save()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._waiting:
                    self._wake.wait()
                job = self._waiting.popleft()
                job.state = "running"
                job.save()
            self._render(job)

    def _render(self, job: _Job) -> None:
        last_preview = 0.0

        def on_frame(frame: Frame) -> None:
            nonlocal last_preview
            job.done, job.made = frame.index + 1, job.made + 1
            if time.monotonic() - last_preview > 0.25:  # encoding every frame would cost the render
                job.preview, last_preview = jpeg(frame.image), time.monotonic()
            if job.cancel:
                raise _Cancelled

        try:
            planned = plan_flight(job.spec, self.uploads, job.folder)
            job.started = time.monotonic()
            out = job.folder / "flight.mp4"
            signature = run_signature(planned.info, planned.path, planned.depth_video, planned.save_frames, ply=True)
            state = run_state(out, signature, planned.depth_video)  # "unfinished": the server stopped mid-render
            if state == "stale":
                discard_unfinished(out)
            resume = state == "unfinished"
            fly_plan(planned, out, engine=self.engines.get(planned.config), resume=resume, progress=False,
                     on_frame=on_frame, ply=job.folder / "scene.ply")
            job.state = "done"
        except _Cancelled:
            job.state = "cancelled"
        except Exception as error:  # one job's failure is its own; the queue goes on
            job.state, job.error = "failed", str(error).splitlines()[0] if str(error) else type(error).__name__
        job.save()
