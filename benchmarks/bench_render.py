"""Median milliseconds per warp (hard mode with bilinear and with cubic colour reads, soft mode) vs kornia's ``warp_frame_depth``.

kornia's backward warp (given the destination depth) is the baseline, timed in the same run.
Run: ``python benchmarks/bench_render.py [--sizes 256 512] [--batches 1 8] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from kornia.geometry.depth import warp_frame_depth

from perpetual.geometry import intrinsics_from_fov
from perpetual.render import WarpSettings, warp


def median_ms(fn, repeats: int, device: str) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def scene(size: int, batch: int, device: str):
    """A ground plane below a horizon with sky, seen by a camera moving forward and sideways."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=gen)
    rows = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1)
    disparity = ((rows - size * 0.4) / (size * 0.6)).clamp_min(0).expand(batch, 1, size, size).contiguous()
    K = intrinsics_from_fov(60.0, size, size).expand(batch, 3, 3).contiguous()
    pose = torch.eye(4).repeat(batch, 1, 1)
    pose[:, 0, 3], pose[:, 2, 3] = 0.02, -0.1
    return [t.to(device) for t in (image, disparity, K, pose)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"{'size':>5} {'batch':>5} {'hard ms':>9} {'cubic ms':>9} {'soft ms':>9} {'kornia ms':>10} {'hard/kornia':>12}")
    with torch.no_grad():
        for size in args.sizes:
            for batch in args.batches:
                image, disparity, K, pose = scene(size, batch, args.device)
                depth = 1.0 / disparity.clamp_min(1e-3)
                hard = median_ms(lambda: warp(image, disparity, K, pose), args.repeats, args.device)
                cubic = median_ms(lambda: warp(image, disparity, K, pose, settings=WarpSettings(sampling="cubic")), args.repeats, args.device)
                soft = median_ms(
                    lambda: warp(image, disparity, K, pose, settings=WarpSettings(mode="soft")),
                    args.repeats,
                    args.device,
                )
                base = median_ms(lambda: warp_frame_depth(image, depth, pose, K), args.repeats, args.device)
                print(f"{size:>5} {batch:>5} {hard:>9.2f} {cubic:>9.2f} {soft:>9.2f} {base:>10.2f} {hard / base:>12.2f}")


if __name__ == "__main__":
    main()
