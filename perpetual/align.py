"""Pure tensor maths the loop needs between frames: disparity alignment, scale, seams."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["align_disparity", "feather", "median_depth_scale"]


def align_disparity(
    estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, iterations: int = 5
) -> torch.Tensor:
    """Fit ``scale * estimate + shift`` to ``target`` on ``mask``, robustly; return the fitted map.

    Least squares in disparity (as Text2Room), then iteratively reweighted with Huber weights so
    that outliers (moving edges, bad estimates) do not pull the fit. All ``(B, 1, H, W)``. Where
    the mask has fewer than 2 pixels, the estimate is returned scaled to the target's median.
    """
    out = []
    for e, t, m in zip(estimate, target, mask):
        e, t = e[m], t[m]
        if e.numel() < 2:
            out.append(None)
            continue
        w = torch.ones_like(e)
        for _ in range(iterations):
            A = torch.stack([e * w, w], dim=1)
            sol = torch.linalg.lstsq(A, (t * w).unsqueeze(1)).solution[:, 0]
            r = (sol[0] * e + sol[1] - t).abs()
            delta = 1.345 * r.median().clamp_min(1e-6) * 1.4826
            w = torch.where(r <= delta, torch.ones_like(r), delta / r).sqrt()
        out.append(sol)
    fitted = []
    for b, sol in enumerate(out):
        if sol is None:
            fitted.append(estimate[b])
        else:
            fitted.append(sol[0] * estimate[b] + sol[1])
    return torch.stack(fitted)


def feather(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """A soft version of a bool ``mask`` ``(B, 1, H, W)``: 1 deep inside, ramping to 0 over ``radius`` px."""
    m = mask.float()
    if radius <= 0:
        return m
    inside = m
    for _ in range(radius):  # erode by one pixel per step and accumulate
        inside = -F.max_pool2d(-inside, 3, 1, 1)
        m = m + inside
    return (m / (radius + 1)).clamp(0.0, 1.0)


def median_depth_scale(disparity: torch.Tensor) -> float:
    """The factor that makes the median non-sky depth 1 (the scene-scale rule) for ``(1, 1, H, W)``."""
    d = disparity[disparity > 0]
    if d.numel() == 0:
        return 1.0
    return float((1.0 / d).median())
