"""Tileable fractal terrain: periodic textures made by spectral synthesis. Pure tensor code.

Every field here is a periodic texture over one square tile of the ground plane, so a flight can
go on forever: position ``(x, z)`` and ``(x + tile, z)`` see the same ground.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spectral_noise(
    size: int, beta: float, gen: torch.Generator, low_cut: float = 1.0, high_cut: float | None = None
) -> torch.Tensor:
    """Periodic fractal noise ``(size, size)``, zero mean, unit std, power spectrum ``f^-beta``.

    Made in the Fourier domain, so it tiles exactly. ``low_cut`` removes frequencies below it
    (in cycles per tile) to keep large-scale features from dominating; ``high_cut`` (default
    ``size / 6``) tapers the finest ones so the field stays smooth between texels.
    """
    high_cut = size / 6.0 if high_cut is None else high_cut
    freqs = torch.fft.fftfreq(size, d=1.0 / size)
    fy, fx = torch.meshgrid(freqs, freqs, indexing="ij")
    radius = torch.sqrt(fx**2 + fy**2)
    amplitude = torch.where(radius >= low_cut, radius.clamp_min(1.0) ** (-beta / 2.0), torch.zeros_like(radius))
    amplitude = amplitude * torch.exp(-((radius / high_cut) ** 2))
    phase = torch.rand(size, size, generator=gen, dtype=torch.float64) * (2 * math.pi)
    field = torch.fft.ifft2(amplitude * torch.exp(1j * phase)).real
    field = field - field.mean()
    return (field / field.std().clamp_min(1e-12)).float()


def smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def make_heightfield(size: int, relief: float, gen: torch.Generator) -> torch.Tensor:
    """Terrain altitude ``(size, size)`` in scene units: rolling hills, valleys and ridged mountains."""
    hills = spectral_noise(size, 3.2, gen, low_cut=1.0)
    crest = spectral_noise(size, 3.4, gen, low_cut=2.0, high_cut=size / 24.0)
    ridges = 1.0 - torch.sqrt(crest**2 + 0.02).clamp(max=2.0) / 2.0  # crests, rounded at the top
    detail = spectral_noise(size, 2.6, gen, low_cut=8.0)
    mountains = smoothstep(-0.2, 1.2, spectral_noise(size, 3.6, gen, low_cut=1.0))  # where ranges rise
    height = 0.45 * hills + mountains * (ridges**3) * 2.2 + 0.04 * detail * (0.3 + mountains)
    return relief * height


class PeriodicTexture:
    """A ``(C, N, N)`` texture covering one ``tile x tile`` square, repeated forever.

    Texel ``(i, j)`` sits at ``x = j * tile / N``, ``z = i * tile / N``; reads are bilinear.
    """

    def __init__(self, texels: torch.Tensor, tile: float) -> None:
        if texels.dim() == 2:
            texels = texels.unsqueeze(0)
        self.channels, self.size = texels.shape[0], texels.shape[-1]
        self.tile = tile
        # One extra row and column (a copy of the first) make the wrap-around bilinear.
        padded = torch.cat([texels, texels[:, :1]], dim=1)
        self.padded = torch.cat([padded, padded[:, :, :1]], dim=2).unsqueeze(0).contiguous()

    def to(self, device: torch.device | str) -> PeriodicTexture:
        self.padded = self.padded.to(device)
        return self

    def __call__(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Bilinear read at ground positions ``x, z`` (any equal shapes ``S``); returns ``(C, *S)``."""
        n = self.size
        u = torch.remainder(x.reshape(-1) * (n / self.tile), n)
        v = torch.remainder(z.reshape(-1) * (n / self.tile), n)
        grid = torch.stack([u * (2.0 / n) - 1.0, v * (2.0 / n) - 1.0], dim=-1).view(1, 1, -1, 2)
        out = F.grid_sample(self.padded, grid.to(self.padded.dtype), mode="bilinear", align_corners=True)
        return out.view(self.channels, *x.shape)


def slopes(height: torch.Tensor, tile: float) -> torch.Tensor:
    """Periodic central differences ``(2, N, N)``: d altitude / dx and d altitude / dz."""
    step = 2.0 * tile / height.shape[-1]
    ddx = (torch.roll(height, -1, dims=1) - torch.roll(height, 1, dims=1)) / step
    ddz = (torch.roll(height, -1, dims=0) - torch.roll(height, 1, dims=0)) / step
    return torch.stack([ddx, ddz])


def local_max(field: torch.Tensor, radius: int) -> torch.Tensor:
    """Periodic maximum of ``field`` ``(N, N)`` over a ``(2 radius + 1)^2`` square around each texel."""
    x = field.view(1, 1, *field.shape)
    x = F.pad(x, (radius, radius, radius, radius), mode="circular")
    x = F.max_pool2d(x, (2 * radius + 1, 1), stride=1)
    return F.max_pool2d(x, (1, 2 * radius + 1), stride=1)[0, 0]
