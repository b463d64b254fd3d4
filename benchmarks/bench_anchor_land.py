"""What ``drift.anchor_land`` (or another on/off setting, ``--setting``, e.g. ``engine.mirror_beyond``)
costs a flight from a photo: the same flight with it and without it (the baseline), measured in
the same run.

Each flight is scikit-image's ``rocket.jpg`` (a photograph no one here made; or ``--photo``) on the embedded
``default``, one engine per setting built once, and flown ``--repeats`` times; printed: the median
milliseconds per frame and of the drift stage per keyframe, and the ratio to the baseline. A pan
makes every frame a keyframe (the worst case for a per-keyframe cost); a forward flight makes a
keyframe every few frames.
Run: ``python benchmarks/bench_anchor_land.py [--setting drift.anchor_land] [--photo rocket.jpg] [--size 384x256] [--frames 20] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import skimage
import torch

from perpetual import Flythrough, load_config
from perpetual.config import apply_overrides
from perpetual.io.camera_files import load_camera_path
from perpetual.io.images import load_image


def fly(engine: Flythrough, image: torch.Tensor, trajectory: str, frames: int, size: tuple[int, int]) -> tuple[float, float]:
    """Milliseconds per frame, and of the drift stage per keyframe, of one flight."""
    path = load_camera_path(trajectory, frames=frames, width=size[0], height=size[1]).path
    engine.timings.seconds.clear()
    began = time.perf_counter()
    keyframes = sum(frame.is_keyframe for frame in engine.run(image, path)) - 1
    seconds = time.perf_counter() - began
    return seconds / (frames - 1) * 1000, engine.timings.seconds.get("drift", 0.0) / max(keyframes, 1) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="drift.anchor_land", help="the on/off setting to time (SECTION.KEY)")
    parser.add_argument("--photo", default=str(Path(skimage.__file__).parent / "data" / "rocket.jpg"), help="the photo (default: scikit-image's rocket.jpg)")
    parser.add_argument("--size", default="384x256")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    image = load_image(args.photo, *size)
    engines = {on: Flythrough(apply_overrides(load_config("default"), [f"{args.setting}={on}"]), device="cpu")
               for on in ("false", "true")}
    print(f"{Path(args.photo).name} {args.size}, {args.frames} frames, median of {args.repeats}, torch threads {torch.get_num_threads()}")
    name = args.setting.split(".")[-1]
    print(f"{'path':<10}{name:>14}{'ms/frame':>10}{'drift ms/keyframe':>19}{'frame ratio':>13}")
    for trajectory in ("pan-right", "forward"):
        medians = {}
        for on, engine in engines.items():
            runs = [fly(engine, image, trajectory, args.frames, size) for _ in range(args.repeats)]
            medians[on] = tuple(statistics.median(r[i] for r in runs) for i in range(2))
        for on, (frame_ms, drift_ms) in medians.items():
            print(f"{trajectory:<10}{on:>14}{frame_ms:>10.1f}{drift_ms:>19.1f}{frame_ms / medians['false'][0]:>13.3f}")


if __name__ == "__main__":
    main()
