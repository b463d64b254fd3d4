"""Photographic skies for the depth model's training images. Pure tensor code.

The procedural world's skies are soft gradients with pale clouds; a photograph's may be a sunset
of orange and slate clouds, a dusk band of pink under deep blue, a grey overcast, a glowing haze.
A model trained on the world alone reads those as distant land. :func:`photographic_skies`
repaints the sky of training images (where the true disparity is 0, so the truth stays right)
with such a sky: a gradient from a colour at the top to a brighter one at the horizon, under
fractal clouds (wider than tall, lit or dark, opaque or thin) of a colour of their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["photographic_look", "photographic_skies"]

_OCTAVES = (2, 4, 8, 16)  # fractal noise: the columns of each octave's grid (twice as many rows: wide cells)
# Colours skies and clouds take (RGB), each drawn with a little jitter and a brightness of its own.
_PALETTE = torch.tensor([
    [0.10, 0.15, 0.40], [0.40, 0.60, 0.90], [0.50, 0.50, 0.55], [0.85, 0.85, 0.90], [1.00, 0.55, 0.20],
    [0.95, 0.55, 0.60], [0.45, 0.30, 0.60], [1.00, 0.85, 0.50], [0.25, 0.30, 0.40], [0.05, 0.07, 0.20],
])


def _noise(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """``(n, 1, size, size)`` fractal value noise, zero mean and unit spread per image, stretched
    sideways like clouds."""
    total = torch.zeros(n, 1, size, size)
    for k, columns in enumerate(_OCTAVES):
        grid = torch.rand(n, 1, 2 * columns, columns, generator=g)
        total += F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False) * 0.6**k
    flat = total.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-6)).view_as(total)


def _colours(n: int, g: torch.Generator, low: float, high: float) -> torch.Tensor:
    """``(n, 3, 1, 1)``: colours of the palette, jittered, scaled to a brightness in ``[low, high]``."""
    c = (_PALETTE[torch.randint(0, len(_PALETTE), (n,), generator=g)] + 0.08 * torch.randn(n, 3, generator=g)).clamp(0.01, 1)
    c = c / c.amax(1, keepdim=True)
    return (c * (low + (high - low) * torch.rand(n, 1, generator=g))).view(n, 3, 1, 1)


def photographic_skies(images: torch.Tensor, sky: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``images`` ``(B, 3, S, S)`` in [0, 1] with the pixels of ``sky`` ``(B, 1, S, S)`` (bool)
    repainted with a photographic sky each (see the module); the rest unchanged."""
    B, _, S, _ = images.shape
    top, horizon = _colours(B, g, 0.1, 0.8), _colours(B, g, 0.4, 1.0)
    rows = torch.linspace(0, 1, S).view(1, 1, S, 1)
    curve = 0.5 + 2.5 * torch.rand(B, 1, 1, 1, generator=g)  # how low the horizon colour reaches
    plain = torch.lerp(top, horizon, rows**curve)
    threshold = 2.5 * torch.rand(B, 1, 1, 1, generator=g) - 1.0  # -1: nearly overcast, 1.5: a few clouds
    softness = 0.05 + 0.5 * torch.rand(B, 1, 1, 1, generator=g)
    clouds = torch.sigmoid((_noise(B, S, g) - threshold) / softness) * (0.4 + 0.6 * torch.rand(B, 1, 1, 1, generator=g))
    tint = _colours(B, g, 0.05, 1.0) * (1 + 0.25 * _noise(B, S, g))  # lit or dark, shaded
    painted = torch.lerp(plain, tint.clamp(0, 1), clouds)
    return torch.where(sky, painted, images)


def photographic_look(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``images`` ``(B, 3, S, S)`` in [0, 1], each given a camera's look of its own: contrast,
    saturation, gamma and white balance drawn at random (land and sky alike, so that a
    photograph's colours tell the model nothing about which is which)."""
    B = images.shape[0]

    def draw(low: float, high: float, channels: int = 1) -> torch.Tensor:
        return (low + (high - low) * torch.rand(B, channels, generator=g)).view(B, channels, 1, 1)

    grey = images.mean(1, keepdim=True)
    x = torch.lerp(grey, images, draw(0.5, 1.6))  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * draw(0.7, 1.4) + mean).clamp(0, 1)  # contrast
    x = x ** draw(0.7, 1.4)  # gamma
    return (x * draw(0.85, 1.15, 3)).clamp(0, 1)  # white balance
