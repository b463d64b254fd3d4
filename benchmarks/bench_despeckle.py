"""What ``models.depth_despeckle`` does to a photo's frame 0: how much of it tears when warped,
and what it costs; the baseline (``depth_despeckle = 0``) measured in the same run.

For each photo (scikit-image's ``rocket.jpg`` and ``camera.png``, or ``--photos``), frame 0's
disparity as a flight starts it (the embedded ``default``), warped in one step to the poses of the
``orbit`` and ``forward`` presets (unfitted, 120 frames) at frames 15, 30 and 60. Printed: the share
of the view torn open inside the surface (invalid pixels that a 7x7 closing of the valid mask
covers: tears a few pixels wide, not the view beyond the photo's edge), and the median
milliseconds of the depth model's call over ``--repeats``. The depth call's time varies between
runs by more than the filter costs, so the filter is also timed alone, alternated with a plain
median of the same width on the same disparity.
Run: ``python benchmarks/bench_despeckle.py [--photos A.jpg B.jpg] [--size 384x256] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import skimage
import torch
from kornia.filters import median_blur
from kornia.morphology import closing

from perpetual import Flythrough, load_config
from perpetual.align import despeckle_median
from perpetual.config import apply_overrides
from perpetual.geometry import invert_pose
from perpetual.io.camera_files import load_camera_path
from perpetual.io.images import load_image
from perpetual.render import warp

FRAMES = (15, 30, 60)


def torn_share(engine: Flythrough, image: torch.Tensor, trajectory: str, size: tuple[int, int]) -> list[float]:
    """Share of the view torn open inside the surface when frame 0 is warped to each of ``FRAMES``."""
    path = load_camera_path(trajectory, frames=120, width=size[0], height=size[1]).path
    first = engine.start(image, path)
    shares = []
    for t in FRAMES:
        dst_from_first = (path.poses[t] @ invert_pose(path.poses[0])).to(first.disparity).unsqueeze(0)
        valid = warp(first.image, first.disparity, first.K, dst_from_first).valid.float()
        shares.append(float(((closing(valid, torch.ones(7, 7)) > 0.5) & (valid < 0.5)).float().mean()))
    return shares


def depth_ms(engine: Flythrough, image: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        engine.depth(image)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def filter_ms(disparity: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median milliseconds of a plain 5-wide median and of :func:`despeckle_median`, alternated."""
    filters = {"plain median": lambda: median_blur(disparity, 5), "specks only": lambda: despeckle_median(disparity, 5)}
    times: dict[str, list[float]] = {name: [] for name in filters}
    for _ in range(repeats):
        for name, run in filters.items():
            began = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - began) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    data = Path(skimage.__file__).parent / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=[str(data / "rocket.jpg"), str(data / "camera.png")])
    parser.add_argument("--size", default="384x256")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    engines = {width: Flythrough(apply_overrides(load_config("default"), [f"models.depth_despeckle={width}"]), device="cpu")
               for width in (0, 5)}
    print(f"{args.size}, torch threads {torch.get_num_threads()}; torn share of the view at frames {FRAMES}")
    print(f"{'photo':<16}{'despeckle':>10}{'orbit':>22}{'forward':>22}{'depth ms':>10}")
    with torch.no_grad():
        for photo in args.photos:
            image = load_image(photo, *size)
            for width, engine in engines.items():
                torn = {name: " ".join(f"{s:.3f}" for s in torn_share(engine, image, name, size)) for name in ("orbit", "forward")}
                print(f"{Path(photo).name:<16}{width:>10}{torn['orbit']:>22}{torn['forward']:>22}{depth_ms(engine, image, args.repeats):>10.1f}")
        timed = filter_ms(engines[0].depth(image), 8 * args.repeats)
        print("the filter alone, ms: " + ", ".join(f"{name} {ms:.2f}" for name, ms in timed.items()))


if __name__ == "__main__":
    main()
