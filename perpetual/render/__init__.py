"""The differentiable RGB-D renderer: warp a frame with disparity into another camera.

Pure tensor code: imports torch, kornia and perpetual.geometry only.

Example:
    >>> import torch
    >>> from perpetual.geometry import intrinsics_from_fov
    >>> image, disparity = torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), 0.5)
    >>> K = intrinsics_from_fov(60.0, 8, 8).unsqueeze(0)
    >>> out = warp(image, disparity, K, torch.eye(4).unsqueeze(0))
    >>> bool(out.valid.all()), torch.allclose(out.image, image, atol=1e-5)
    (True, True)
"""

from __future__ import annotations

import torch

from perpetual.render.fill import complete_disparity, fill_holes, push_pull
from perpetual.render.graphed import graphed_hard_warp
from perpetual.render.hard import hard_warp
from perpetual.render.reference import reference_warp
from perpetual.render.soft import soft_warp
from perpetual.render.types import WarpSettings, Warped, check_warp_inputs

__all__ = [
    "WarpSettings",
    "Warped",
    "complete_disparity",
    "fill_holes",
    "push_pull",
    "reference_warp",
    "warp",
]


def warp(
    image: torch.Tensor,
    disparity: torch.Tensor,
    K: torch.Tensor,
    dst_from_src: torch.Tensor,
    K_dst: torch.Tensor | None = None,
    *,
    size: tuple[int, int] | None = None,
    settings: WarpSettings | None = None,
) -> Warped:
    """Render a source RGB-D frame from another camera.

    Args:
        image: source colour ``(B, C, H, W)``, usually ``C = 3`` in [0, 1].
        disparity: source disparity ``(B, 1, H, W)`` (1 / z-depth, 0 = sky), finite, >= 0.
        K: source intrinsics ``(B, 3, 3)`` in pixels.
        dst_from_src: ``(B, 4, 4)`` rigid transform from the source to the destination camera.
        K_dst: destination intrinsics ``(B, 3, 3)``; defaults to ``K``.
        size: destination ``(height, width)``; defaults to the source size.
        settings: :class:`WarpSettings`; default: the hard renderer.

    Returns:
        :class:`Warped` with ``image (B, C, Hd, Wd)``, ``disparity (B, 1, Hd, Wd)``,
        ``valid (B, 1, Hd, Wd)`` and ``source_uv (B, 2, Hd, Wd)``.
    """
    settings = settings or WarpSettings()
    K_dst, size = check_warp_inputs(image, disparity, K, dst_from_src, K_dst, size)
    if settings.mode == "soft":
        return soft_warp(image, disparity, K, dst_from_src, K_dst, size, settings)
    if settings.graph:
        return graphed_hard_warp(image, disparity, K, dst_from_src, K_dst, size=size, settings=settings)
    return hard_warp(image, disparity, K, dst_from_src, K_dst, size, settings)
