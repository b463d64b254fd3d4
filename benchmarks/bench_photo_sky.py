"""How much of a photograph's sky a flight from it takes for sky: the sky of frame 0 (its
disparity 0) against a hand-read skyline (``benchmarks/data/skylines.json``), as intersection over
union, for the depth model alone, with ``models.sky_prior``'s first rule (:func:`perpetual.sky.sky_prior`),
with the first two (:func:`perpetual.sky.grow_sky`) and with all three (:func:`perpetual.sky.skyline_sky`,
what the engine does), for each ``--depth`` model given to the ``default`` config (a folder, or
``embedded:depth``, the baseline, measured in the same run); and what the last two rules cost
(median of five calls; grow_sky is the baseline the skyline is timed beside).

Run: ``python benchmarks/bench_photo_sky.py --photos DIR [--depth embedded:depth FOLDER...]``,
DIR holding the ``usr/share`` tree the JSON's files are under (see its ``about``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from perpetual import Flythrough, load_config
from perpetual.config import apply_overrides
from perpetual.io.images import load_image
from perpetual.sky import estimated_sky, grow_sky, sky_prior, skyline_sky

SIZE = (384, 256)


def labelled_sky(skyline: list[float], width: int, height: int) -> torch.Tensor:
    """``(1, 1, H, W)`` bool: the pixels above a skyline given at evenly spaced columns."""
    columns = torch.linspace(0, len(skyline) - 1, width)
    low = columns.floor().long().clamp_max(len(skyline) - 2)
    heights = torch.lerp(torch.tensor(skyline)[low], torch.tensor(skyline)[low + 1], columns - low) * height
    rows = torch.arange(height).view(height, 1) + 0.5
    return (rows < heights.view(1, width)).view(1, 1, height, width)


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def milliseconds(rule, *args) -> float:
    """The median time of five calls of ``rule(*args)``, in ms."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        rule(*args)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--depth", nargs="+", default=["embedded:depth"])
    args = parser.parse_args()
    data = json.loads((Path(__file__).parent / "data" / "skylines.json").read_text())["photos"]
    print(f"{'photo':13s} {'depth model':28s} {'true sky':>8s}  IoU: {'model':>6s} {'+prior':>7s} {'+grow':>6s} {'+skyline':>8s}  sky share found  ms: grow skyline")
    for depth_name in args.depth:
        depth = Flythrough(apply_overrides(load_config("default"), [f"models.depth={depth_name}"]), device="cpu").depth
        for name, photo in data.items():
            image = load_image(args.photos / "usr" / "share" / photo["file"], *SIZE)
            truth = labelled_sky(photo["skyline"], *SIZE)
            with torch.no_grad():
                estimate = depth(image)
            model = estimated_sky(estimate)
            prior = model | sky_prior(image)
            grown = grow_sky(image, prior, estimate)
            skyline = skyline_sky(image, grown, estimate)
            print(f"{name:13s} {Path(depth_name).name:28s} {float(truth.float().mean()):8.3f}  "
                  f"     {iou(model, truth):6.3f} {iou(prior, truth):7.3f} {iou(grown, truth):6.3f} {iou(skyline, truth):8.3f}  "
                  f"{float(skyline.float().mean()):15.3f}  {milliseconds(grow_sky, image, prior, estimate):8.1f} "
                  f"{milliseconds(skyline_sky, image, grown, estimate):7.1f}")


if __name__ == "__main__":
    main()
