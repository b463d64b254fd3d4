"""What fitting a path to its start photo costs (:func:`perpetual.paths.fit.fit_path`): with
neither the sky rule (``guard.max_hidden_sky``) nor the detail rule (``guard.min_detail``, which
renders frame 0 at a few of the path's views), with the sky rule, with both, and with both
foreseeing the photo mirrored beyond its edges and the sky fraction held (``guard.max_sky_change``;
the default), and how far each lets the path go.

The fit runs once, before a flight's first frame. The baseline is the fit with neither rule,
measured in the same run. Printed per photo (scikit-image's data, photographs no one here made,
384x256, frame 0's depth from the default config's estimator) and preset path: the share of the
path's speed each fit allows and the median milliseconds of each.
Run: ``python benchmarks/bench_fit.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import skimage

from perpetual.config import load_config
from perpetual.drift import Anchor
from perpetual.engine import Flythrough
from perpetual.flight import load_path
from perpetual.frame import MAGNIFIED
from perpetual.io.images import load_image
from perpetual.paths.fit import fit_path

PHOTOS = ("camera.png", "rocket.jpg", "astronaut.png", "coffee.png")
PATHS = ("forward", "meander", "spiral", "rise", "orbit", "pan-right")


def timed(repeats: int, **kwargs) -> tuple[float, float]:
    """The fitted share and the median milliseconds of ``repeats`` fits."""
    times, share = [], 1.0
    for _ in range(repeats):
        start = time.perf_counter()
        share = fit_path(**kwargs).share
        times.append(1000 * (time.perf_counter() - start))
    return share, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = load_config("default")
    fly = Flythrough(config, device="cpu")
    guard = config.guard
    print(f"{'photo':<15}{'path':<10}{'share':>7}{'ms':>7}{'+sky':>7}{'ms':>7}{'+detail':>9}{'ms':>7}{'+mirror':>9}{'ms':>7}"
          f"{'ratio':>7}")
    ratios = {"sky": [], "detail": [], "mirror": []}
    for photo in PHOTOS:
        for name in PATHS:
            path = load_path(name, frames=120, size=(384, 256)).path
            first = fly.start(load_image(Path(skimage.__file__).parent / "data" / photo, 384, 256), path)
            common = dict(path=path, disparity=first.disparity, K=first.K, most_magnified=0.5 * guard.max_magnified,
                          limit=MAGNIFIED, keep=1.5 * guard.clearance)
            base, base_ms = timed(args.repeats, **common, most_hidden=1.0)
            sky, sky_ms = timed(args.repeats, **common, most_hidden=guard.max_hidden_sky)
            both, both_ms = timed(args.repeats, **common, most_hidden=guard.max_hidden_sky, image=first.image,
                                  least_detail=guard.min_detail)
            anchor = Anchor(first.image, first.disparity, first.pose, first.K)
            mirror, mirror_ms = timed(args.repeats, **common, most_hidden=guard.max_hidden_sky, image=first.image,
                                      least_detail=guard.min_detail, mirror=anchor, most_sky_change=guard.max_sky_change)
            for rule, ms in (("sky", sky_ms), ("detail", both_ms), ("mirror", mirror_ms)):
                ratios[rule].append(ms / base_ms)
            print(f"{photo:<15}{name:<10}{base:>7.3f}{base_ms:>7.0f}{sky:>7.3f}{sky_ms:>7.0f}{both:>9.3f}{both_ms:>7.0f}"
                  f"{mirror:>9.3f}{mirror_ms:>7.0f}{mirror_ms / base_ms:>7.2f}")
    print(f"median cost ratio with the sky rule: {statistics.median(ratios['sky']):.2f}, with both rules: "
          f"{statistics.median(ratios['detail']):.2f}, with both foreseeing the mirror and the sky fraction (the default): "
          f"{statistics.median(ratios['mirror']):.2f}")


if __name__ == "__main__":
    main()
