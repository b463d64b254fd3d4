"""Finished frames per second of ``perpetual fly`` (a config preset, default ``default``), split by stage.

World start, ``forward`` preset, 256², 120 frames. Baseline in the same run: warping the start
frame to each pose alone (the render stage with no refine, depth or encode), so the ratio shows
what the rest of the loop costs.
Run: ``python benchmarks/bench_fly.py [--frames 120] [--size 256] [--config NAME] [--set section.key=value ...] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from perpetual.config import apply_overrides, load_config
from perpetual.engine import Flythrough
from perpetual.models.registry import quiet_libraries
from perpetual.geometry import invert_pose
from perpetual.io.camera_files import load_camera_path
from perpetual.io.video import VideoWriter
from perpetual.render import warp
from perpetual.world import World, WorldSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--trajectory", default="forward")
    parser.add_argument("--config", default="default")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config setting")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    quiet_libraries()
    path = load_camera_path(args.trajectory, frames=args.frames, width=args.size, height=args.size).path
    _, view = World(WorldSettings(seed=0)).start_view(args.size, args.size)
    fly = Flythrough(apply_overrides(load_config(args.config), args.set), device=args.device)
    sync = torch.cuda.synchronize if fly.device.type == "cuda" else (lambda: None)
    fly.timings.sync = sync  # per-stage figures on an asynchronous device
    with tempfile.TemporaryDirectory() as tmp:
        writer = VideoWriter(Path(tmp) / "b.mp4", args.size, args.size, path.fps)
        start = time.perf_counter()
        keyframes = 0
        encode = 0.0
        for frame in fly.run(view.image, path, view.disparity):
            t = time.perf_counter()
            writer.write(frame.image)
            encode += time.perf_counter() - t
            keyframes += frame.is_keyframe
        writer.close()
        total = time.perf_counter() - start
    Ks = path.intrinsics().to(fly.device)
    image, disparity = view.image.to(fly.device), view.disparity.to(fly.device)
    sync()
    start = time.perf_counter()
    for i in range(1, len(path)):
        pose = (path.poses[i] @ invert_pose(path.poses[0])).float()[None].to(fly.device)
        warp(image, disparity, Ks[:1], pose, Ks[i : i + 1])
    sync()
    baseline = time.perf_counter() - start
    n = len(path)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {fly.device}; config {args.config} {' '.join(args.set)}; {n} frames at {args.size}², {keyframes} keyframes")
    print(f"finished frames per second: {n / total:.1f}  ({total / n * 1000:.1f} ms/frame, {total:.1f} s total)")
    for stage, seconds in {**fly.timings.seconds, "encode": encode}.items():
        print(f"  {stage:<7} {seconds / n * 1000:7.2f} ms/frame  {seconds / total * 100:5.1f}%")
    print(f"baseline (warp only): {baseline / (n - 1) * 1000:.1f} ms/frame; whole loop / warp = {total / n / (baseline / (n - 1)):.2f}")


if __name__ == "__main__":
    main()
