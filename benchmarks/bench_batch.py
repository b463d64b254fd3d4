"""``perpetual batch`` against plain ``perpetual fly``: per-job overhead and throughput by workers.

Every figure is the wall time of a whole command (a fresh process: imports, model loading, Ray's
start where there is one), measured in the same run on the same machine:

* baseline: ``perpetual fly`` of one job (world start, ``default`` config, ``forward``), run
  ``--repeat`` times (median);
* one job as a batch (one worker with all the CPUs, so torch has as many threads as plain fly):
  the overhead of a batch for a single flight, Ray's start included;
* ``--jobs`` jobs as one batch, one worker with all the CPUs: the per-job time against the
  baseline (models load once per worker; Ray starts once);
* the same jobs with two workers of half the CPUs each: throughput against one worker.

Run: ``python benchmarks/bench_batch.py [--frames 120] [--size 256] [--jobs 4] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - began


def _jobs(folder: Path, count: int, frames: int, size: int) -> Path:
    file = folder / f"jobs-{count}.jsonl"
    file.write_text("".join(json.dumps({"name": f"job{i}", "seed": i, "frames": frames, "size": f"{size}x{size}"}) + "\n"
                            for i in range(count)))
    return file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    cpus = os.cpu_count() or 2
    cli = [sys.executable, "-m", "perpetual.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        fly = [_timed([*cli, "fly", "--seed", str(i % args.jobs), "--frames", str(args.frames), "--size", f"{args.size}x{args.size}",
                       "--out", str(tmp_path / f"fly{i}.mp4")]) for i in range(args.repeat)]
        baseline = statistics.median(fly)

        def batch(count: int, workers: int, name: str) -> float:
            return _timed([*cli, "batch", str(_jobs(tmp_path, count, args.frames, args.size)), "--out", str(tmp_path / name),
                           "--workers", str(workers), "--cpus-per-worker", str(cpus // workers), "--cpus", str(cpus)])

        single = batch(1, 1, "single")
        one = batch(args.jobs, 1, "one")
        two = batch(args.jobs, 2, "two")
    print(f"machine: {cpus} CPUs; {args.frames} frames at {args.size}x{args.size}, default config, world start, forward")
    print(f"perpetual fly, one job (median of {args.repeat}): {baseline:7.1f} s   [{', '.join(f'{t:.1f}' for t in fly)}]")
    print(f"batch of that one job, 1 worker x {cpus} CPUs:   {single:7.1f} s   overhead {single / baseline - 1:+.1%}")
    print(f"batch of {args.jobs} jobs, 1 worker x {cpus} CPUs:     {one:7.1f} s   {one / args.jobs:.1f} s per job, "
          f"{one / args.jobs / baseline - 1:+.1%} against plain fly")
    print(f"batch of {args.jobs} jobs, 2 workers x {cpus // 2} CPUs:    {two:7.1f} s   throughput x{one / two:.2f} against 1 worker")


if __name__ == "__main__":
    main()
