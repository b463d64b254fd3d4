"""Seconds per frame of the procedural world at 256² and 512² (start camera, 60° fov).

Baseline in the same run: one read of the ground texture for every pixel, the unit a ray march
step costs; the ratio says how many such reads a whole frame is worth.
Run: ``python benchmarks/bench_world.py [--sizes 256 512] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from perpetual.geometry import intrinsics_from_fov
from perpetual.world import World, WorldSettings


def median_s(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    start = time.perf_counter()
    world = World(WorldSettings(seed=args.seed))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; world built in {time.perf_counter() - start:.2f} s")
    cam = world.start_camera()[None]
    print(f"{'size':>5} {'frame s':>8} {'texture read s':>15} {'frame / read':>13} {'sky %':>6}")
    for size in args.sizes:
        K = intrinsics_from_fov(60.0, size, size).unsqueeze(0)
        frame = median_s(lambda: world.render(cam, K, size, size), args.repeats)
        xz = torch.rand(2, size * size) * world.settings.tile
        read = median_s(lambda: world.march_field(xz[0], xz[1]), args.repeats)
        sky = world.render(cam, K, size, size).sky.float().mean().item() * 100
        print(f"{size:>5} {frame:>8.3f} {read:>15.4f} {frame / read:>13.1f} {sky:>6.1f}")


if __name__ == "__main__":
    main()
