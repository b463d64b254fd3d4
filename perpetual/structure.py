"""Measures of an image's detail and structure, from its luminance (pure tensor code).

:func:`edge_energy` is how ``perpetual eval photo`` scores a frame's sharpness and how a path's
speed is fitted to what its start image holds (:mod:`perpetual.paths.fit`); the variance of the
Laplacian (:func:`sharpness`), the structure tensor's coherence and the radial streaks are what
``perpetual eval flight`` reads along a flight over the world. The structure tensor is taken
once (:func:`structure_tensor`) where several measures read it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, spatial_gradient

__all__ = ["coherence", "coherence_of", "edge_energy", "radial_streaks", "radial_streaks_of", "sharpness", "structure_tensor"]


def sharpness(image: torch.Tensor) -> float:
    """Variance of the Laplacian of the luminance of ``(1, 3, H, W)``."""
    grey = image.mean(1, keepdim=True)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=image.dtype, device=image.device).view(1, 1, 3, 3)
    return float(F.conv2d(grey, kernel).var())


def structure_tensor(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The structure tensor ``jxx, jxy, jyy`` (each ``(1, H, W)``, 8-pixel windows) of ``(1, 3, H, W)``'s luminance."""
    g = spatial_gradient(image.mean(1, keepdim=True))[:, 0]  # (1, 2, H, W)
    gx, gy = g[:, 0:1], g[:, 1:2]
    J = gaussian_blur2d(torch.cat([gx * gx, gx * gy, gy * gy], dim=1), (17, 17), (4.0, 4.0))
    return J[:, 0], J[:, 1], J[:, 2]


def coherence(image: torch.Tensor) -> float:
    """Mean structure-tensor coherence (``(l1 - l2) / (l1 + l2)``, 8-pixel windows) of ``(1, 3, H, W)``'s
    luminance over its textured pixels, in [0, 1]."""
    return coherence_of(structure_tensor(image))


def edge_energy(image: torch.Tensor) -> float:
    """Mean oriented gradient energy of ``(1, 3, H, W)``'s luminance: the structure tensor's
    ``l1 - l2`` (8-pixel windows), averaged over the frame.

    Edges, ridges and lines count; isotropic grain, whose gradients point every way within a window,
    counts next to nothing, and a blur or a smear takes it away. On eleven landscape photographs,
    a view magnified 1.5x keeps a median 0.84 of it where the variance of the Laplacian
    (:func:`sharpness`) keeps 0.30, and a frame of grey noise with the photo's Laplacian variance
    keeps 0.01 where the Laplacian keeps all of it (``benchmarks/bench_sharpness_measures.py``).
    """
    return float(_oriented(structure_tensor(image)).mean())


def _oriented(structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``(1, H, W)``: the structure tensor's ``l1 - l2`` in each window, the energy of its one direction."""
    jxx, jxy, jyy = structure
    return torch.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)


def coherence_of(structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> float:
    """:func:`coherence` from a :func:`structure_tensor` already taken."""
    jxx, jxy, jyy = structure
    energy = jxx + jyy
    textured = energy > 1e-6
    if not bool(textured.any()):
        return 0.0
    return float((_oriented(structure) / energy.clamp_min(1e-12))[textured].mean())


def radial_streaks(image: torch.Tensor, where: torch.Tensor | None = None, centre: tuple[float, float] | None = None) -> float:
    """How much of the oriented structure of ``(1, 3, H, W)`` runs radially from ``centre`` (u, v;
    default the image centre), over the ``(1, 1, H, W)`` mask ``where``: the coherence-weighted mean
    of ``cos²`` of the angle between each window's edge direction and the ray from the centre.

    Flying forward, content magnified again and again smears along rays from the focus of
    expansion, so a collapsing flight drifts toward 1; true views of the world's land mostly score
    0.5-0.65 (more where valleys or ridges run away from the camera). Only rows more than 1/32 of
    the height below the centre count (the ground flown over): at the centre's height horizons
    and shore lines run along the rays in any view. NaN without textured pixels there.
    """
    return radial_streaks_of(structure_tensor(image), where, centre)


def radial_streaks_of(structure: tuple[torch.Tensor, torch.Tensor, torch.Tensor], where: torch.Tensor | None,
                    centre: tuple[float, float] | None) -> float:
    """:func:`radial_streaks` from a :func:`structure_tensor` already taken."""
    jxx, jxy, jyy = structure
    energy = jxx + jyy
    coherent = _oriented(structure) / energy.clamp_min(1e-12)  # each window counts alike
    theta = 0.5 * torch.atan2(2 * jxy, jxx - jyy)  # the dominant gradient; edges run across it
    H, W = jxx.shape[-2:]
    cu, cv = centre if centre is not None else ((W - 1) / 2, (H - 1) / 2)
    v, u = torch.meshgrid(torch.arange(H, dtype=jxx.dtype, device=jxx.device) - cv,
                          torch.arange(W, dtype=jxx.dtype, device=jxx.device) - cu, indexing="ij")
    r2 = (u * u + v * v).clamp_min(1e-6)
    along = (-torch.sin(theta) * u + torch.cos(theta) * v) ** 2 / r2
    mask = (energy > 1e-6) & (v > H / 32)
    if where is not None:
        mask = mask & where[:, 0]
    total = float(coherent[mask].sum())
    return float((coherent * along)[mask].sum()) / total if total > 0 else math.nan
