"""What the photo mirrored beyond its edges costs per frame (``engine.mirror_beyond``): frame 0's
sky looked up in a turned view's directions (``drift.sky_lookup``, every frame of a flight from a
photo with sky) and the photo mirrored into it (``beyond.beyond_photo``, every frame whose warp has
holes), for a photo whose horizon is a level row 0.6 of the way down (levelled: ``Anchor.tilt``)
and one whose skyline is not level (nothing levelled), both darker toward their sides as
``exp(-0.4 x²)`` (``Anchor.falloff``: what is mirrored is held at the edge's brightness), median of
7 runs of 10 calls each, 1 thread.
Run it in a worktree of an earlier commit for the code before (it reads ``Anchor.tilt`` and
``Anchor.falloff`` where there are).

Run: ``python benchmarks/bench_mirror.py [--size 384x256] [--degrees 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from perpetual.beyond import beyond_photo
from perpetual.drift import Anchor, sky_lookup
from perpetual.geometry import intrinsics_from_fov
from perpetual.paths import pan


def median_ms(call, runs: int = 7, calls: int = 10) -> float:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="384x256")
    parser.add_argument("--degrees", type=float, default=30.0, help="how far the view is turned left")
    args = parser.parse_args()
    torch.set_num_threads(1)
    W, H = (int(v) for v in args.size.split("x"))
    K = intrinsics_from_fov(torch.tensor([60.0]), H, W)
    rows = torch.arange(H).view(1, 1, H, 1).expand(1, 1, H, W)
    columns = torch.arange(W).view(1, 1, 1, W).expand(1, 1, H, W)
    level = torch.where(rows >= int(0.6 * H), 1.0, 0.0)
    ridge = torch.where(rows >= (0.3 + 0.4 * columns / W) * H, 1.0, 0.0)  # a skyline sloping across the photo
    pose = pan(2, degrees=-args.degrees).with_size(W, H).poses[1]
    across = (columns - (W - 1) / 2) / (W / 2)
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0)) * torch.exp(-0.4 * across**2)
    print(f"{args.size}, view turned {args.degrees:g} degrees left, 1 thread")
    print(f"{'photo':<14}{'tilt (deg)':>11}{'falloff':>9}{'sky_lookup ms':>15}{'beyond_photo ms':>17}")
    for name, disparity in (("level horizon", level), ("sloping", ridge)):
        anchor = Anchor(image, disparity, torch.eye(4, dtype=torch.float64), K)
        tilt = torch.rad2deg(torch.tensor(getattr(anchor, "tilt", 0.0))).item()
        falloff = getattr(anchor, "falloff", 0.0)
        sky = median_ms(lambda: sky_lookup(pose, K, anchor, (H, W)))
        beyond = median_ms(lambda: beyond_photo(anchor, pose, K, (H, W)))
        print(f"{name:<14}{tilt:>11.1f}{falloff:>9.2f}{sky:>15.2f}{beyond:>17.2f}")


if __name__ == "__main__":
    main()
