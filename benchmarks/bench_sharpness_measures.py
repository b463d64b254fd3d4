"""Which sharpness measure tells a flight's failures from its magnification: each measure of a
degraded photo relative to the photo's own, for the variance of the Laplacian
(:func:`perpetual.structure.sharpness`, the baseline) and the oriented gradient energy
(:func:`perpetual.structure.edge_energy`, what ``perpetual eval photo`` scores).

The degradations are what a flight from a photo does to its view: a magnified centre (the camera
flew closer; bicubic upsampling), a blur (a smear), the whole frame turned to grey noise with the
photo's own Laplacian variance (the issue's "uniform grey noise texture"), and the lower half
turned to that noise (an inpainter's grain slab). A good measure keeps most of a 1.5x
magnification and keeps little of the noise. Printed per measure: the median over the photos,
[least, most].

Run: ``python benchmarks/bench_sharpness_measures.py PHOTO...``
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from perpetual.structure import edge_energy, sharpness
from perpetual.io.images import load_image

SIZE = (384, 256)
MEASURES: dict[str, Callable[[torch.Tensor], float]] = {"laplacian variance": sharpness, "edge energy": edge_energy}


def magnified(image: torch.Tensor, factor: float) -> torch.Tensor:
    """The centre ``1 / factor`` of ``(1, 3, H, W)`` upsampled back to ``H x W``."""
    H, W = image.shape[-2:]
    h, w = round(H / factor), round(W / factor)
    top, left = (H - h) // 2, (W - w) // 2
    crop = image[..., top : top + h, left : left + w]
    return F.interpolate(crop, size=(H, W), mode="bicubic", align_corners=False).clamp(0, 1)


def blurred(image: torch.Tensor, sigma: float) -> torch.Tensor:
    size = int(6 * sigma) | 1
    return gaussian_blur2d(image, (size, size), (sigma, sigma))


def grey_noise(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A flat grey frame plus fine isotropic noise, scaled so that its Laplacian variance is
    ``image``'s ``(1, 3, H, W)``."""
    noise = torch.randn(image[:, :1].shape, generator=generator)
    noise = noise - gaussian_blur2d(noise, (7, 7), (1.0, 1.0))
    flat = torch.full_like(image, float(image.mean()))
    low, high = 0.0, 1.0
    for _ in range(30):  # bisect the amplitude
        amplitude = (low + high) / 2
        if sharpness((flat + amplitude * noise).clamp(0, 1)) < sharpness(image):
            low = amplitude
        else:
            high = amplitude
    return (flat + low * noise).clamp(0, 1)


def noise_below(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    out = image.clone()
    half = image.shape[-2] // 2
    out[..., half:, :] = grey_noise(image, generator)[..., half:, :]
    return out


DEGRADATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "magnified 1.25x": lambda x, g: magnified(x, 1.25),
    "magnified 1.5x": lambda x, g: magnified(x, 1.5),
    "magnified 2x": lambda x, g: magnified(x, 2.0),
    "magnified 3x": lambda x, g: magnified(x, 3.0),
    "blur sigma 1": lambda x, g: blurred(x, 1.0),
    "blur sigma 2": lambda x, g: blurred(x, 2.0),
    "grey noise": grey_noise,
    "noise below half": noise_below,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+")
    args = parser.parse_args()
    kept: dict[str, dict[str, list[float]]] = {d: {m: [] for m in MEASURES} for d in DEGRADATIONS}
    for photo in args.photos:
        image = load_image(photo, *SIZE)
        generator = torch.Generator().manual_seed(0)
        own = {name: measure(image) for name, measure in MEASURES.items()}
        for degradation, degrade in DEGRADATIONS.items():
            out = degrade(image, generator)
            for name, measure in MEASURES.items():
                kept[degradation][name].append(measure(out) / own[name])
    print(f"{len(args.photos)} photos at {SIZE[0]}x{SIZE[1]}; each measure of the degraded photo / the photo's: median [least, most]")
    print(f"{'degradation':18s}" + "".join(f"{name:>26s}" for name in MEASURES))
    for degradation, by_measure in kept.items():
        cells = [f"{statistics.median(v):.2f} [{min(v):.2f}, {max(v):.2f}]" for v in by_measure.values()]
        print(f"{degradation:18s}" + "".join(f"{c:>26s}" for c in cells))


if __name__ == "__main__":
    main()
