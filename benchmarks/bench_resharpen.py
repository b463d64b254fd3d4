"""How close a fractional read of a photo comes to the ideal band-limited shift, with and without
``render.resharpen`` (:func:`perpetual.drift.resharpen`), and what either costs.

An in-between frame is its keyframe read at fractional offsets. The ideal read of a band-limited
image shifted by (d, d) pixels is a phase ramp in its Fourier transform; the baseline is the
renderer's clamped Catmull-Rom read alone, measured in the same run. Printed per photo (scikit-image's
data, photographs no one here made, 384x256) and shift: PSNR against the ideal shift (borders of 16
pixels left out: the FFT wraps around), the sharpness (variance of the Laplacian) relative to the
photo's, and the median milliseconds of the resharpening step.
Run: ``python benchmarks/bench_resharpen.py [--shifts 0.25 0.5]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import skimage
import torch

from perpetual.drift import crispness, detail_level, resharpen
from perpetual.structure import sharpness
from perpetual.io.images import load_image
from perpetual.render.sampling import catmull_rom

PHOTOS = ("rocket.jpg", "astronaut.png", "coffee.png", "chelsea.png", "camera.png", "grass.png", "gravel.png", "motorcycle_left.png")


def ideal_shift(image: torch.Tensor, d: float) -> torch.Tensor:
    """``image`` ``(1, 3, H, W)`` read at ``(x + d, y + d)`` by its Fourier series (periodic)."""
    H, W = image.shape[-2:]
    fy, fx = torch.fft.fftfreq(H, dtype=torch.float64)[:, None], torch.fft.fftfreq(W, dtype=torch.float64)[None]
    ramp = torch.exp(2j * math.pi * (fx * d + fy * d))
    return torch.fft.ifft2(torch.fft.fft2(image.double()) * ramp).real.float()


def psnr(a: torch.Tensor, b: torch.Tensor, border: int = 16) -> float:
    inner = (..., slice(border, -border), slice(border, -border))
    return -10 * math.log10(float(((a[inner] - b[inner]) ** 2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    data = Path(skimage.__file__).parent / "data"
    print(f"{'photo':<22}{'shift':>6}{'PSNR read':>11}{'PSNR +resharpen':>17}{'sharp read':>12}{'sharp +resharpen':>18}")
    for name in PHOTOS:
        image = load_image(data / name, 384, 256)
        H, W = image.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
        land = torch.ones(1, 1, H, W, dtype=torch.bool)
        first = sharpness(image)
        for d in args.shifts:
            uv = torch.stack([xs + d, ys + d]).unsqueeze(0)
            read, crisp, detail = (catmull_rom(x, uv) for x in (image, crispness(image), detail_level(image)))
            sharpened = resharpen(read, crisp, detail, land)
            ideal = ideal_shift(image, d)
            print(f"{name:<22}{d:>6.2f}{psnr(read, ideal):>11.2f}{psnr(sharpened, ideal):>17.2f}"
                  f"{sharpness(read) / first:>12.2f}{sharpness(sharpened) / first:>18.2f}")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        resharpen(read, crisp, detail, land)
        times.append((time.perf_counter() - start) * 1000)
    read_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        catmull_rom(image, uv)
        read_times.append((time.perf_counter() - start) * 1000)
    print(f"median ms at 384x256: resharpen {statistics.median(times):.1f}, the Catmull-Rom read itself {statistics.median(read_times):.1f}")


if __name__ == "__main__":
    main()
