"""Classical hole filling by push-pull pyramids (Gortler et al., 1996). Pure tensor code.

Push: halve the resolution repeatedly, each coarse pixel summarising its valid children, until
nothing is missing. Pull: walk back up, filling each level's holes from the upsampled level
below. Holes of any size fill in ``log2(size)`` cheap steps, smoothly and without iteration.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from perpetual.geometry import check_shape

__all__ = ["complete_disparity", "fill_holes", "push_pull"]


def _pad_even(x: torch.Tensor, value: float) -> torch.Tensor:
    H, W = x.shape[-2:]
    return F.pad(x, (0, W % 2, 0, H % 2), value=value)


def push_pull(values: torch.Tensor, valid: torch.Tensor, reduce: Literal["mean", "min"] = "mean") -> torch.Tensor:
    """Fill ``values`` ``(B, C, H, W)`` where ``valid`` ``(B, 1, H, W)`` is False.

    Args:
        reduce: how a coarse pixel summarises its valid children: ``"mean"`` (smooth fill) or
            ``"min"`` (the smallest value wins, per channel: background-biased for disparity).

    Returns:
        ``(B, C, H, W)``, equal to ``values`` where valid. Images with no valid pixel fill with 0.
    """
    check_shape("valid", valid, (values.shape[0], 1, *values.shape[-2:]))
    valid = valid.to(values.dtype)
    if bool((valid > 0).all()):
        return values
    H, W = values.shape[-2:]
    if H == 1 and W == 1:
        return values * valid
    if reduce == "mean":
        v = _pad_even(values * valid, 0.0)
        w = _pad_even(valid, 0.0)
        total = F.avg_pool2d(w, 2) * 4
        coarse = (F.avg_pool2d(v, 2) * 4) / total.clamp_min(1e-12)
    elif reduce == "min":
        big = torch.finfo(values.dtype).max
        v = _pad_even(torch.where(valid > 0, values, torch.full_like(values, big)), big)
        total = F.avg_pool2d(_pad_even(valid, 0.0), 2) * 4
        coarse = -F.max_pool2d(-v, 2)
        coarse = torch.where(total > 0, coarse, torch.zeros_like(coarse))
    else:
        raise ValueError(f"reduce must be 'mean' or 'min', got {reduce!r}")
    coarse = push_pull(coarse, total > 0, reduce)
    if reduce == "min":  # each hole pixel takes the farthest of the coarse cells around it
        coarse = -F.max_pool2d(-coarse, 3, 1, 1)
        up = F.interpolate(coarse, scale_factor=2, mode="nearest")[..., :H, :W]
    else:
        up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)[..., :H, :W]
    return torch.where(valid > 0, values, up)


def complete_disparity(disparity: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Background-biased completion of ``disparity`` ``(B, 1, H, W)`` where ``valid`` is False.

    A disocclusion reveals what lies behind the occluder, so holes take the farthest (smallest)
    disparity among the nearby valid pixels, at every scale of the pyramid.

    Example:
        >>> d = torch.tensor([[[[1.0, 1.0, 0.0, 0.5, 0.5]]]])
        >>> complete_disparity(d, d > 0)[0, 0, 0, 2].item()
        0.5
    """
    return push_pull(disparity, valid, reduce="min")


def fill_holes(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Fast non-learned colour fill: smooth push-pull interpolation of ``image`` ``(B, C, H, W)``.

    Good for the thin holes of in-between frames; the learned inpainters handle large ones.
    """
    return push_pull(image, valid, reduce="mean")
