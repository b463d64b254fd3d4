"""Many flights on Ray: workers that load the models once, jobs that resume, failures kept to their job.

Each worker is a Ray actor holding one :class:`~perpetual.engine.Flythrough` (rebuilt only when a
job's config differs from the last one's) and flying one job at a time with
:func:`perpetual.flight.fly_plan`, into the job's own folder, as ``perpetual fly`` would. The
driver decides from each job's files whether it is done (skipped), unfinished (resumed from its
last checkpoint), of changed settings (started over) or new; a job whose input is bad fails with
its one-line error and the others go on; a job whose worker dies (killed, out of memory) goes to
a fresh worker and resumes, a bounded number of times.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perpetual.batch.jobs import Job, plan_job
from perpetual.flight import Plan

__all__ = ["JobResult", "FlightWorker", "run", "INSTALL_HINT"]

INSTALL_HINT = "perpetual batch needs Ray: pip install 'perpetual[batch]' (or pip install ray)"


@dataclass
class JobResult:
    """How one job ended: ``status`` is ``done`` (flown now), ``skipped`` (already done with
    these settings) or ``failed`` (``error`` says why, in one line)."""

    name: str
    status: str
    out: str
    frames: int = 0  # in its video
    made: int = 0  # made by this batch (fewer than frames when it resumed)
    seconds: float = 0.0
    attempts: int = 0  # workers it was given to
    error: str = ""


class FlightWorker:
    """Flies jobs one at a time; a Ray actor in a batch (plain Python here).

    Args:
        device: torch device for the models (``cuda`` inside a GPU actor, where Ray has set
            ``CUDA_VISIBLE_DEVICES``).
        threads: torch's CPU threads (the actor's CPUs). Frames are bit-identical to
            ``perpetual fly``'s at the same thread count; across thread counts a few pixels
            can differ by one level in 255 (floating-point sums split across threads).
    """

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        from perpetual.models.registry import quiet_libraries

        if threads:
            torch.set_num_threads(threads)
        quiet_libraries()
        self.device = device
        self._engine: Any = None

    def pid(self) -> int:
        return os.getpid()

    def _engine_for(self, plan: Plan) -> Any:
        from perpetual.engine import Flythrough

        if self._engine is None or self._engine.config != plan.config:
            self._engine = None  # the old models go before the new ones load
            self._engine = Flythrough(plan.config, device=self.device)
        return self._engine

    def fly(self, plan: Plan, out: str, resume: bool, report: Callable[[int], None] | Any = None) -> dict[str, Any]:
        """Fly ``plan`` into ``out``; the outcome as a dict (never raises for a job's own failure).
        ``report``: a Ray queue (or a callable) told ``(pid, frames done)`` five times a second."""
        from perpetual.flight import fly_plan

        last = [0.0]

        def on_frame(frame: Any) -> None:
            now = time.monotonic()
            if report is not None and (now - last[0] >= 0.2 or frame.index == len(plan.path) - 1):
                last[0] = now
                item = (os.getpid(), frame.index + 1)
                report(item) if callable(report) else report.put_nowait(item)

        began = time.perf_counter()
        try:
            result = fly_plan(plan, out, engine=self._engine_for(plan), resume=resume, progress=False, on_frame=on_frame)
        except (ValueError, OSError) as err:
            return {"status": "failed", "error": str(err), "seconds": time.perf_counter() - began}
        except Exception as err:  # noqa: BLE001  (a bug or a device's own error fails this job, not the batch)
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return {"status": "failed", "error": f"{type(err).__name__}: {first}", "seconds": time.perf_counter() - began}
        return {"status": "done", "frames": result.frames, "made": result.made, "seconds": time.perf_counter() - began}


@dataclass
class _Pending:
    job: Job
    plan: Plan
    out: Path
    attempts: int = 0


def _prepare(job: Job, out: Path) -> tuple[_Pending | None, JobResult | None]:
    """A job to fly, or its result already: skipped (done with these settings) or failed (bad settings)."""
    from perpetual.io.outputs import run_state

    mp4 = out / job.out
    try:
        planned = plan_job(job)
    except ValueError as err:
        return None, JobResult(job.name, "failed", str(mp4), error=str(err))
    if run_state(mp4, planned.signature, planned.depth_video, planned.save_frames) == "done":
        return None, JobResult(job.name, "skipped", str(mp4), frames=len(planned.path))
    return _Pending(job, planned, mp4), None  # its folder is made when a worker takes it


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Start a local Ray, or join the cluster at ``address``; True if this call started it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    if ray.is_initialized():  # the caller's own Ray session (a Ray Job on a cluster, say)
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:  # a new local instance, whatever RAY_ADDRESS or a running cluster says
        address, options["num_cpus"] = "local", num_cpus
    else:
        _probe(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError) as err:
        raise ValueError(f"cannot reach a Ray cluster at {address}: {str(err).splitlines()[0]}") from None
    return True


def _probe(address: str, seconds: float = 5.0) -> None:
    """Refuse in one line a HOST:PORT (or ray://HOST:PORT) where nothing listens: ray.init
    would wait on it for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster itself, and says so quickly if it cannot
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as err:
        raise ValueError(f"cannot reach a Ray cluster at {address}: nothing answers there ({err.strerror or err}); "
                         "start one with 'ray start --head', or check the address") from None


def _worker_count(workers: int | None, cpus: float, gpus: float, jobs: int) -> int:
    import ray

    have = ray.cluster_resources()
    fits = int(have.get("GPU", 0) // gpus) if gpus else int(have.get("CPU", 1) // cpus)
    if fits < 1:
        need = f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU"
        raise ValueError(f"a worker needs {need} and this Ray has {have.get('GPU' if gpus else 'CPU', 0):g}; lower --gpus-per-worker or add machines")
    return max(1, min(workers or fits, jobs))


def run(jobs: Sequence[Job], out: str | Path, *, address: str | None = None, workers: int | None = None,
        cpus_per_worker: float = 1, gpus_per_worker: float = 0, retries: int = 2, num_cpus: int | None = None,
        progress: bool = True, on_event: Callable[[dict[str, Any]], None] | None = None,
        log: Callable[[str], None] | None = None) -> list[JobResult]:
    """Fly ``jobs`` into ``out/NAME/`` on Ray; one result per job, in the jobs' order, and
    ``out/summary.json``.

    Args:
        address: a Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ...); None starts a
            local Ray in this process with ``num_cpus`` (default: all of this machine's).
        workers: actors to start (default: as many as the resources hold, at most one per job).
        cpus_per_worker, gpus_per_worker: what each actor asks of Ray; a worker with GPUs runs
            its models on ``cuda``, else on the CPU with that many torch threads.
        retries: how many times a job whose worker died goes to a new worker.
        on_event: called in this process with ``{"job", "pid", "frames"}`` as workers report.
        log: where one-line notices go (a worker died, a job failed); default stderr.
    """
    import sys

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder (one folder per job goes inside it)")
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    results: dict[str, JobResult] = {}
    queue: deque[_Pending] = deque()
    for job in jobs:
        pending, result = _prepare(job, out)
        if result is not None:
            results[job.name] = result
            if result.status == "failed":
                say(f"{job.name}: failed: {result.error}")
        else:
            queue.append(pending)
    if queue:
        _fly_all(queue, results, address, workers, cpus_per_worker, gpus_per_worker, retries, num_cpus, progress, on_event, say)
    ordered = [results[job.name] for job in jobs]
    out.mkdir(parents=True, exist_ok=True)
    _write_summary(out / "summary.json", ordered)
    return ordered


def _fly_all(queue: deque[_Pending], results: dict[str, JobResult], address: str | None, workers: int | None,
             cpus: float, gpus: float, retries: int, num_cpus: int | None, progress: bool,
             on_event: Callable[[dict[str, Any]], None] | None, say: Callable[[str], None]) -> None:
    started = _connect(address, num_cpus)
    import ray

    try:
        actor = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=0)(FlightWorker)
        spawn = lambda: actor.remote("cuda" if gpus else "cpu", None if gpus else max(1, int(cpus)))  # noqa: E731
        pool = _Pool(spawn, _worker_count(workers, cpus, gpus, len(queue)), retries, say, on_event)
        pool.run(queue, results, progress)
    finally:
        if started:
            ray.shutdown()


class _Pool:
    """Hands jobs to idle workers, follows their progress, and takes each outcome or a worker's death."""

    def __init__(self, spawn: Callable[[], Any], count: int, retries: int, say: Callable[[str], None],
                 on_event: Callable[[dict[str, Any]], None] | None) -> None:
        import ray
        from ray.util.queue import Queue

        self.ray, self.spawn, self.retries, self.say, self.on_event = ray, spawn, retries, say, on_event
        self.events = Queue()  # (process, frames done) from the workers
        self.idle = [spawn() for _ in range(count)]
        self.process = {id(w): ray.get(w.pid.remote()) for w in self.idle}  # worker -> its process
        self.running: dict[Any, tuple[_Pending, Any]] = {}  # the call's result -> (job, worker)
        self.flying: dict[int, str] = {}  # process -> the job it flies
        self.seen: dict[str, int] = {}  # job -> the most frames it reported done (a resumed job reports fewer at first)
        self.lengths: dict[str, int] = {}  # job -> its frames

    def run(self, queue: deque[_Pending], results: dict[str, JobResult], progress: bool) -> None:
        from perpetual.io.progress import Progress

        self.queue, self.total, self.finished = queue, len(queue), 0
        self.bar = Progress(sum(len(p.plan.path) for p in queue), unit="frame", desc="batch") if progress else None
        while self.queue or self.running:
            self._submit()
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
            self._follow()
            for ref in ready:
                result = self._take(ref)
                if result is not None:
                    results[result.name] = result

    def _submit(self) -> None:
        from perpetual.io.outputs import discard_unfinished, run_state

        while self.idle and self.queue:
            pending, worker = self.queue.popleft(), self.idle.pop()
            pending.attempts += 1
            plan = pending.plan
            state = run_state(pending.out, plan.signature, plan.depth_video, plan.save_frames)
            if state == "stale":  # a partial run of other settings, or one that died before its first checkpoint
                discard_unfinished(pending.out)
            pending.out.parent.mkdir(parents=True, exist_ok=True)
            resume = state == "unfinished"
            self.running[worker.fly.remote(plan, str(pending.out), resume, self.events)] = (pending, worker)
            self.flying[self.process[id(worker)]] = pending.job.name
            self.lengths[pending.job.name] = len(plan.path)

    def _follow(self) -> None:
        for pid, frames in self.events.get_nowait_batch(self.events.qsize()) if self.events.qsize() else []:
            job = self.flying[pid]
            self._count(job, min(frames, self.lengths[job] - 1))  # its last frame counts once the job has ended
            if self.on_event is not None:
                self.on_event({"job": job, "pid": pid, "frames": frames})

    def _count(self, job: str, frames: int) -> None:
        if self.bar is not None and frames > self.seen.get(job, 0):
            self.bar.advance(frames - self.seen.get(job, 0))
        self.seen[job] = max(frames, self.seen.get(job, 0))

    def _take(self, ref: Any) -> JobResult | None:
        """The job's result, or None when its worker died and it went back to the queue."""
        pending, worker = self.running.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.RayActorError:
            worker = self._replace(worker)
            outcome = self._after_death(pending)
        self.idle.append(worker)
        if outcome is None:
            return None
        name = pending.job.name
        result = JobResult(name, outcome["status"], str(pending.out), outcome.get("frames", 0), outcome.get("made", 0),
                           outcome.get("seconds", 0.0), pending.attempts, outcome.get("error", ""))
        if result.status == "failed":
            self.say(f"{name}: failed: {result.error}")
            _remove_if_empty(pending.out.parent)
        self.finished += 1
        if self.bar is not None:
            self.bar.note(f"{self.finished}/{self.total} jobs")
        self._count(name, len(pending.plan.path))  # a failed job's frames are accounted for too: the bar ends at its total
        return result

    def _after_death(self, pending: _Pending) -> dict[str, Any] | None:
        if pending.attempts > self.retries:
            return {"status": "failed", "error": f"its worker died {pending.attempts} times (killed, or out of memory)"}
        self.say(f"{pending.job.name}: its worker died (killed, or out of memory); retrying on a new worker "
                 f"(attempt {pending.attempts + 1} of {self.retries + 1})")
        self.queue.appendleft(pending)  # resumed from its last checkpoint, if it reached one
        return None

    def _replace(self, dead: Any) -> Any:
        """A fresh worker in place of one that died."""
        self.ray.kill(dead)
        self.process.pop(id(dead), None)
        worker = self.spawn()
        self.process[id(worker)] = self.ray.get(worker.pid.remote())
        return worker


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only an empty folder: a failed job leaves nothing behind, and never loses earlier files
    except OSError:
        pass


def _write_summary(file: Path, results: list[JobResult]) -> None:
    from perpetual.io.files import write_json

    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    write_json(file, {**counts, "jobs": [asdict(r) for r in results]})
