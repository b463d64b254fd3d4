"""Median milliseconds per warp (hard mode with bilinear and with cubic colour reads, eager, compiled and on CUDA graphed; soft mode) vs kornia's ``warp_frame_depth``.

kornia's backward warp (given the destination depth) is the baseline, timed in the same run.
"cubic-s" is the cubic hard renderer with ``WarpSettings(sky_apart=True)`` (sky and ground kept
apart at skylines). "-c" runs the hard renderer with ``WarpSettings(compile=True)``; its one-time
compile is done in a warm-up before timing and printed separately. "-g" (CUDA only) replays it as a CUDA graph
(``WarpSettings(graph=True)``, the default there); the other hard columns have ``graph=False``.
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


def interleaved_ms(fns: dict, repeats: int, device: str) -> dict[str, list[float]]:
    """Milliseconds of each function per round; the functions take turns within every round, so
    a slow spell of this noisy machine hits all of them alike."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


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
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled columns (no one-time compile)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    graphs = args.device.startswith("cuda")
    compiling = not args.no_compile
    names = ["hard", "cubic", "cubic-s"] + (["hard-c", "cubic-c"] if compiling else []) + (["hard-g", "cubic-g"] if graphs else []) + ["soft", "kornia"]
    ratios_of = [n for n in names if n not in ("soft", "kornia")]
    print(f"{'size':>5} {'batch':>5} " + " ".join(f"{n:>7}" for n in names) + " " + " ".join(f"{n + '/k':>9}" for n in ratios_of))
    print("(median ms; -c: compiled; -g: CUDA graph; -s: sky_apart; x/k: median over rounds of the ratio to kornia in the same round)")
    compiled = {sampling: WarpSettings(sampling=sampling, compile=True, graph=False) for sampling in ("bilinear", "cubic")}
    with torch.no_grad():
        for size in args.sizes:
            for batch in args.batches:
                image, disparity, K, pose = scene(size, batch, args.device)
                depth = 1.0 / disparity.clamp_min(1e-3)
                if compiling and size == args.sizes[0] and batch == args.batches[0]:
                    start = time.perf_counter()
                    for settings in compiled.values():
                        warp(image, disparity, K, pose, settings=settings)
                    print(f"one-time compile: {time.perf_counter() - start:.1f} s")
                settings = {
                    "hard": WarpSettings(graph=False), "hard-c": compiled["bilinear"],
                    "cubic": WarpSettings(sampling="cubic", graph=False), "cubic-c": compiled["cubic"],
                    "cubic-s": WarpSettings(sampling="cubic", graph=False, sky_apart=True),
                    "hard-g": WarpSettings(graph=True), "cubic-g": WarpSettings(sampling="cubic", graph=True),
                    "soft": WarpSettings(mode="soft"),
                }
                runs = {name: (lambda s=settings[name]: warp(image, disparity, K, pose, settings=s)) for name in names[:-1]}
                runs["kornia"] = lambda: warp_frame_depth(image, depth, pose, K)
                times = interleaved_ms(runs, args.repeats, args.device)
                ms = [statistics.median(times[name]) for name in runs]
                # Ratios per round (same moment of the machine), then their median.
                ratios = [statistics.median(a / b for a, b in zip(times[name], times["kornia"])) for name in ratios_of]
                print(f"{size:>5} {batch:>5} " + " ".join(f"{m:>7.2f}" for m in ms) + " " + " ".join(f"{r:>9.2f}" for r in ratios))


if __name__ == "__main__":
    main()
