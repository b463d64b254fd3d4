"""A classical sky prior for photographs. Pure tensor code.

The embedded depth model has only seen the procedural world's skies; a photograph's sunset,
dusk, overcast or haze it may read as land, and then the clouds are warped as terrain. Sky in a
photograph is, column by column, the smooth, sky-coloured run of pixels from the top edge down
to the first edge: :func:`sky_prior` finds it (after the per-column boundary of sky-region
detectors such as Shen & Wang's, without their energy optimisation). "Sky-coloured" is at least
the image's median brightness, or blue over red and green (dusk): a dark smooth roof, hair or a
shadowed face at the top edge is not sky.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, spatial_gradient

__all__ = ["sky_prior"]

_ROWS = 96  # the prior works at this height: edges of a few pixels, not of single noisy ones
_EDGE = 0.012  # gradient magnitude (per pixel at that height, intensity 0..1) that ends the sky


def sky_prior(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: where ``image`` ``(B, 3, H, W)`` in [0, 1] shows sky by the rule above."""
    B, _, H, W = image.shape
    h, w = _ROWS, max(1, round(W * _ROWS / H))
    small = gaussian_blur2d(F.interpolate(image, size=(h, w), mode="area"), (5, 5), (1.0, 1.0), border_type="replicate")
    edges = spatial_gradient(small, normalized=True).norm(dim=2).amax(dim=1, keepdim=True) > _EDGE  # (B, 1, h, w)
    brightness = small.mean(1, keepdim=True)
    r, g, b = small.unbind(1)
    bright = brightness >= brightness.flatten(1).median(1).values.view(B, 1, 1, 1)
    blue = ((b - torch.maximum(r, g) > 0.02) & (b > 0.1)).unsqueeze(1)
    stop = edges | ~(bright | blue)
    rows = torch.arange(h, device=image.device).view(1, 1, h, 1).expand(B, 1, h, w)
    first_stop = torch.where(stop, rows, torch.full_like(rows, h)).amin(dim=2, keepdim=True)  # (B, 1, 1, w)
    sky = (rows < first_stop).to(image.dtype)
    return F.interpolate(sky, size=(H, W), mode="nearest") > 0.5
