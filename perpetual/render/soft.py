"""Softmax splatting (Niklaus & Liu, 2020): a renderer smooth in all its inputs.

Every source pixel is splatted bilinearly onto its four destination neighbours with weight
``bilinear * exp(sharpness * d)``, so nearer points dominate where several land together
and gradients flow to the image (splatted values), the disparity (positions and weights) and the
pose (positions). Under magnification it leaves the cracks plain splatting leaves; use the hard
renderer to render frames and this one to optimise through a warp.
"""

from __future__ import annotations

import torch

from perpetual.geometry import pixel_grid, reproject
from perpetual.render.types import WarpSettings, Warped

_DEAD = 1e-3


def soft_warp(
    image: torch.Tensor,
    disparity: torch.Tensor,
    K: torch.Tensor,
    dst_from_src: torch.Tensor,
    K_dst: torch.Tensor,
    size: tuple[int, int],
    settings: WarpSettings,
) -> Warped:
    """Softmax-splat ``image`` ``(B, C, H, W)`` and its disparity into the destination camera."""
    B, C, H, W = image.shape
    Hd, Wd = size
    landed = reproject(disparity, K, dst_from_src, K_dst)
    d = landed.disparity
    # Subtracting the largest disparity keeps exp() in range; it scales every weight alike, so it
    # cancels in the normalised result (detached, it carries no gradient of its own).
    d_max = d.flatten(1).amax(1).detach().view(B, 1, 1, 1)
    importance = torch.exp(settings.softmax_sharpness * (d - d_max)) * landed.in_front
    src_uv = pixel_grid(H, W, device=image.device, dtype=image.dtype).expand(B, 2, H, W)
    payload = torch.cat([image, d, src_uv, torch.ones_like(d)], dim=1)  # last channel: weight
    u, v = landed.uv[:, 0:1], landed.uv[:, 1:2]
    x0, y0 = u.floor(), v.floor()
    # Bilinear weights with a small dead zone: a point within _DEAD of a pixel centre gives the
    # neighbours exactly nothing (still a continuous partition of unity). Without it, float
    # round-off (2.9999998) hands a far pixel a 1e-7 weight that exp(sharpness * d) can inflate.
    fx = ((u - x0 - _DEAD) / (1 - 2 * _DEAD)).clamp(0, 1)
    fy = ((v - y0 - _DEAD) / (1 - 2 * _DEAD)).clamp(0, 1)
    dump = B * Hd * Wd
    batch = torch.arange(B, device=image.device).view(B, 1, 1, 1)
    acc = image.new_zeros(dump + 1, payload.shape[1])
    coverage = image.new_zeros(dump + 1)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = x0 + dx, y0 + dy
        bilinear = (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
        inside = landed.in_front & (x >= 0) & (x <= Wd - 1) & (y >= 0) & (y <= Hd - 1)
        index = (batch * Hd + y.long().clamp(0, Hd - 1)) * Wd + x.long().clamp(0, Wd - 1)
        index = torch.where(inside, index, torch.full_like(index, dump)).flatten()
        weight = bilinear * importance
        acc = acc.index_add(0, index, (payload * weight).permute(0, 2, 3, 1).reshape(-1, payload.shape[1]))
        coverage = coverage.index_add(0, index, bilinear.flatten())
    acc = acc[:dump].view(B, Hd, Wd, -1).permute(0, 3, 1, 2)
    total = acc[:, -1:]
    mean = acc[:, :-1] / total.clamp_min(1e-12)
    valid = coverage[:dump].view(B, 1, Hd, Wd) >= settings.min_coverage
    zero = torch.zeros((), dtype=image.dtype, device=image.device)
    return Warped(
        image=torch.where(valid, mean[:, :C], zero),
        disparity=torch.where(valid, mean[:, C : C + 1], zero),
        valid=valid,
        source_uv=mean[:, C + 1 : C + 3],
    )
