"""perpetual batch on a real local Ray limited to 2 CPUs: frames equal perpetual fly's, failures
stay with their job, a killed worker's job is retried and resumes, reruns skip what is done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from perpetual.batch import Job, load_jobs, run

ray = pytest.importorskip("ray")

SMALL = {"frames": 12, "size": (64, 48)}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (as a user's own session: batch.run joins it)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(f)) for f in sorted(folder.glob("*.png"))]


def _fly_alone(tmp: Path, job: Job, threads: int = 1) -> list[np.ndarray]:
    """The same flight run alone with `perpetual fly`, at the worker's torch thread count."""
    out = tmp / f"alone-{job.name}.mp4"
    args = [sys.executable, "-m", "perpetual.cli", "fly", "--out", str(out), "--save-frames", "--seed", str(job.seed),
            "--config", job.config, "--trajectory", job.trajectory, "--frames", str(job.frames), "--size", f"{job.size[0]}x{job.size[1]}"]
    if job.image:
        args.insert(4, job.image)
    for override in job.set:
        args += ["--set", override]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(args, check=True, capture_output=True, env=env)
    return _frames(tmp / f"alone-{job.name}.frames")


def _photo(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    sky = np.tile(np.linspace(200, 120, 24)[:, None, None], (1, 64, 3))
    land = rng.integers(40, 120, (24, 64, 3))
    Image.fromarray(np.concatenate([sky, land]).astype(np.uint8)).save(tmp / "photo.png")
    return str(tmp / "photo.png")


def test_jobs_equal_fly_alone_and_a_bad_job_fails_alone(local_ray, tmp_path):
    photo = _photo(tmp_path)
    (tmp_path / "text.png").write_text("not an image")
    jobs = [Job("world-1", seed=1, config="classical", save_frames=True, **SMALL),
            Job("world-2", seed=2, save_frames=True, trajectory="orbit", **SMALL),
            Job("photo", image=photo, save_frames=True, set=("engine.max_invalid=0.02",), **SMALL),
            Job("bad", image=str(tmp_path / "text.png"), save_frames=True, **SMALL),
            Job("world-3", seed=3, config="classical", save_frames=True, trajectory="pan-left", **SMALL)]
    results = run(jobs, tmp_path / "runs", progress=False)
    status = {r.name: r.status for r in results}
    assert status == {"world-1": "done", "world-2": "done", "photo": "done", "bad": "failed", "world-3": "done"}
    bad = next(r for r in results if r.name == "bad")
    assert "text.png" in bad.error and "\n" not in bad.error
    assert not (tmp_path / "runs" / "bad").exists()  # nothing left behind
    for job in jobs:
        if job.name == "bad":
            continue
        folder = tmp_path / "runs" / job.name
        assert {p.name for p in folder.iterdir()} == {f"{job.name}{s}" for s in (".mp4", ".poses.json", ".run.json", ".frames")}
        ours, alone = _frames(folder / f"{job.name}.frames"), _fly_alone(tmp_path, job)
        assert len(ours) == len(alone) == 12
        assert all(np.array_equal(a, b) for a, b in zip(ours, alone)), job.name
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert (summary["done"], summary["skipped"], summary["failed"]) == (4, 0, 1)

    # a rerun skips everything that is done; changed settings re-run that job only
    again = run(jobs, tmp_path / "runs", progress=False)
    assert [r.status for r in again] == ["skipped", "skipped", "skipped", "failed", "skipped"]
    changed = [jobs[0], Job("world-2", seed=2, save_frames=True, trajectory="orbit", prompt="a lake", **SMALL), *jobs[2:]]
    third = run(changed, tmp_path / "runs", progress=False)
    assert [r.status for r in third] == ["skipped", "done", "skipped", "failed", "skipped"]
    assert json.loads((tmp_path / "runs" / "world-2" / "world-2.run.json").read_text())["prompt"] == "a lake"


def test_a_killed_worker_has_its_job_retried_and_resumed(local_ray, tmp_path):
    # Killed at frame 60, past the first checkpoints (every 30 frames at a keyframe), with 540 frames
    # to go: the driver hears of progress within ~0.7 s (reports every 0.2 s, polls every 0.5 s),
    # so the worker is still flying when the kill lands, even on a CPU several times this one's speed.
    job = Job("long", seed=4, config="classical", frames=600, size=(48, 32), save_frames=True)
    killed: list[int] = []

    def kill_once(event):
        if not killed and event["job"] == "long" and event["frames"] >= 60:
            killed.append(event["pid"])
            os.kill(event["pid"], signal.SIGKILL)

    notices: list[str] = []
    [result] = run([job], tmp_path / "runs", progress=False, on_event=kill_once, log=notices.append)
    assert killed, "the worker was never killed: the test saw no progress past frame 60"
    assert result.status == "done" and result.attempts == 2
    assert result.made < 600  # resumed from a checkpoint, not started over
    assert any("worker died" in line and "attempt 2" in line for line in notices)
    ours, alone = _frames(tmp_path / "runs" / "long" / "long.frames"), _fly_alone(tmp_path, job)
    assert len(ours) == len(alone) == 600
    assert all(np.array_equal(a, b) for a, b in zip(ours, alone))


def test_a_job_whose_worker_keeps_dying_fails_alone_after_its_retries(local_ray, tmp_path):
    jobs = [Job("doomed", seed=5, config="classical", frames=1000, size=(48, 32)), Job("fine", seed=6, config="classical", **SMALL)]

    killed: set[int] = set()

    def kill_doomed(event):  # each worker once: a dead worker's last reports can still arrive
        if event["job"] == "doomed" and event["frames"] >= 2 and event["pid"] not in killed:
            killed.add(event["pid"])
            os.kill(event["pid"], signal.SIGKILL)

    results = run(jobs, tmp_path / "runs", workers=1, retries=1, progress=False, on_event=kill_doomed, log=lambda _: None)
    assert [(r.status, r.attempts) for r in results] == [("failed", 2), ("done", 1)]
    assert "died 2 times" in results[0].error and len(killed) == 2


def test_jobs_files(tmp_path):
    (tmp_path / "p.png").write_bytes(b"")
    (tmp_path / "jobs.jsonl").write_text('# a comment\n{"name": "a", "image": "p.png", "size": "96x64", "set": ["engine.max_invalid=0.02"]}\n\n'
                                          '{"name": "b", "seed": 3, "frames": 10}\n')
    a, b = load_jobs(tmp_path / "jobs.jsonl")
    assert a.image == str(tmp_path / "p.png") and a.size == (96, 64) and a.set == ("engine.max_invalid=0.02",)
    assert (b.seed, b.frames, b.image, b.trajectory) == (3, 10, None, "forward")
    (tmp_path / "jobs.toml").write_text('[[job]]\nname = "a"\nseed = 1\n\n[[job]]\nname = "b"\ntrajectory = "orbit"\nsize = [64, 48]\n')
    assert [(j.name, j.trajectory, j.size) for j in load_jobs(tmp_path / "jobs.toml")] == [("a", "forward", None), ("b", "orbit", (64, 48))]


@pytest.mark.parametrize("text, message", [
    ('{"name": "a", "colour": 1}', "line 1: unknown key(s) ['colour']"),
    ('{"name": "a"}\n{"name": "a"}', "two jobs are named 'a'"),
    ('{"seed": 1}', "line 1: every job needs a name"),
    ('{"name": "../up"}', "every job needs a name"),
    ('{"name": "a", "seed": "3"}', "line 1: seed must be int"),
    ('{"name": "a", "seed": true}', "seed must be int"),
    ('{"name": "a", "size": "big"}', "size must look like"),
    ('{"name": "a"}\n{"name": ', "line 2 is not valid JSON"),
    ('[1, 2]', "a job is a JSON object"),
    ('', "has no jobs"),
])
def test_bad_jobs_files_are_named_in_one_line(tmp_path, text, message):
    (tmp_path / "jobs.jsonl").write_text(text)
    with pytest.raises(ValueError) as err:
        load_jobs(tmp_path / "jobs.jsonl")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_batch_on_its_own_local_ray(tmp_path):
    (tmp_path / "jobs.jsonl").write_text('{"name": "w", "seed": 1, "config": "classical", "frames": 8, "size": "64x48"}\n'
                                          '{"name": "bad", "trajectory": "no-such-path"}\n')
    cmd = [sys.executable, "-m", "perpetual.cli", "batch", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "runs"), "--cpus", "2"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 1, first.stderr  # not every job is done
    assert "1 done, 0 skipped, 1 failed" in first.stdout and "unknown trajectory 'no-such-path'" in first.stdout
    assert "Traceback" not in first.stderr
    assert "batch: 8/8 frames (100%)" in first.stderr and "1/1 jobs" in first.stderr  # the progress line a log shows
    assert (tmp_path / "runs" / "w" / "w.mp4").is_file()
    (tmp_path / "jobs.jsonl").write_text('{"name": "w", "seed": 1, "config": "classical", "frames": 8, "size": "64x48"}\n')
    second = subprocess.run(cmd, capture_output=True, text=True)
    assert second.returncode == 0 and "0 done, 1 skipped, 0 failed" in second.stdout


def test_cli_batch_without_ray_says_how_to_install(tmp_path):
    (tmp_path / "jobs.jsonl").write_text('{"name": "w"}\n')
    code = ("import sys; sys.modules['ray'] = None; from perpetual.cli import main; "
            f"sys.exit(main(['batch', {str(tmp_path / 'jobs.jsonl')!r}, '--out', {str(tmp_path / 'runs')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and "pip install 'perpetual[batch]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
