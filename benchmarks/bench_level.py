"""What ``engine.level_paths = "auto"`` costs at a flight's start: :meth:`Flythrough.begin` (frame
0's depth, its anchor, the path levelled and fitted) with ``"auto"`` against ``"turns"``, the
baseline, measured in the same run. ``"auto"`` fits a path a second time, flown level, where the
photo has a level horizon and the path moves and does not fit whole along its camera's axis.
Printed per photo and preset path: the share of the path's speed each fits, whether ``"auto"``
levelled the moves, and the median milliseconds of each (384x256).

Run: ``python benchmarks/bench_level.py IMAGE... [--paths forward,meander,...] [--repeats 3]``
(the photos of benchmarks/RESULTS.md are from Debian's ``plasma-workspace-wallpapers``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from perpetual.config import load_config
from perpetual.engine import Flythrough
from perpetual.flight import load_path
from perpetual.io.images import load_image

SIZE = (384, 256)


def begun(fly: Flythrough, image: torch.Tensor, name: str, repeats: int) -> tuple[float, bool, float]:
    """The fitted share, whether the moves were levelled and the median milliseconds of ``repeats`` begins."""
    path = load_path(name, frames=120, size=SIZE).path
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        flight = fly.begin(image, path)
        times.append(1000 * (time.perf_counter() - start))
    tilt = flight.anchor.tilt
    level = bool(tilt) and torch.allclose(flight.path.poses, path.levelled(tilt, moves=True).poses)
    return flight.guard.speed, level, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--paths", default="forward,meander,spiral,rise")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config("default")
    flies = {mode: Flythrough(replace(config, engine=replace(config.engine, level_paths=mode)), device="cpu")
             for mode in ("turns", "auto")}
    print(f"{'photo':<18}{'path':<10}{'turns':>7}{'ms':>7}{'auto':>7}{'level':>7}{'ms':>7}{'ratio':>7}")
    ratios = []
    with torch.no_grad():
        for photo in args.images:
            image = load_image(photo, *SIZE)
            for name in args.paths.split(","):
                share, _, base_ms = begun(flies["turns"], image, name, args.repeats)
                auto, level, auto_ms = begun(flies["auto"], image, name, args.repeats)
                ratios.append(auto_ms / base_ms)
                print(f"{photo.stem[:17]:<18}{name:<10}{share:>7.3f}{base_ms:>7.0f}{auto:>7.3f}{'yes' if level else 'no':>7}"
                      f"{auto_ms:>7.0f}{auto_ms / base_ms:>7.2f}")
    print(f"median cost ratio of begin with 'auto' against 'turns': {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
