"""A classical sky prior for photographs. Pure tensor code.

The embedded depth model has only seen the procedural world's skies; a photograph's sunset,
dusk, overcast or haze it may read as land, and then the clouds are warped as terrain. Two rules
find such sky, column by column, at a working height of :data:`_ROWS` pixels, besides what the
model itself calls sky (:func:`estimated_sky`):

- :func:`sky_prior`: the smooth, sky-coloured run of pixels from the top edge down to the first
  edge (after the per-column boundary of sky-region detectors such as Shen & Wang's, without their
  energy optimisation). "Sky-coloured" is at least the image's median brightness, or blue over red
  and green (dusk): a dark smooth roof, hair or a shadowed face at the top edge is not sky.
- :func:`grow_sky`: sky found from the top edge goes on down through pixels that are smooth and
  that the depth estimate puts almost as far as the sky (under :data:`_FAR` of its largest
  disparity), whatever their colour: the pink band of a dusk sky above the horizon, a fog bank,
  the low clouds of a storm. The model gives them a sliver of disparity, more than it gives the
  sky above them; the distant land they end at has edges, or is nearer. Then the sky floods
  sideways (and up and down) through such smooth, far pixels above the image's skyline (the
  median row where a column's sky ends): a dark, vignetted corner or a column whose top pixel
  failed the colour test would otherwise stand in the sky as a strip of land, warped as terrain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, spatial_gradient

__all__ = ["FARTHEST_GROUND", "SKY_FLOOR", "estimated_sky", "grow_sky", "sky_change", "sky_prior", "snap_sky"]

FARTHEST_GROUND = 0.01  # disparity: ground filled into holes is never farther than 1 / this in scene units
# Share of a view added to both sky fractions before they are compared (:func:`sky_change`): a
# forest photo's few pixels of sky between the leaves (under a hundredth of it), gone from a later
# view, count as a change of at most 2x, not as all of its sky lost.
SKY_FLOOR = 0.01

_SKY_LEVEL = 0.02  # depth estimates below this share of the image's largest are sky
_ROWS = 96  # the prior works at this height: edges of a few pixels, not of single noisy ones
_EDGE = 0.012  # gradient magnitude (per pixel at that height, intensity 0..1) that ends the sky
_GROW_EDGE = 0.03  # ... that ends sky grown below it: softer cloud and haze edges it crosses
_FAR = 0.15  # share of the image's largest estimated disparity under which a smooth pixel below sky is sky


def estimated_sky(estimate: torch.Tensor) -> torch.Tensor:
    """Where a depth estimate ``(B, 1, H, W)`` means sky: below ``_SKY_LEVEL`` of the image's largest.

    Estimators give the sky near the horizon a sliver of disparity rather than 0; taken as ground,
    it would sit hundreds of scene units away and hide the horizon from everything that needs it
    (the sky anchor, the autopilot's sky band, the haze estimate).
    """
    return estimate <= _SKY_LEVEL * estimate.flatten(1).amax(1).view(-1, 1, 1, 1)


def _small(image: torch.Tensor) -> torch.Tensor:
    """``image`` ``(B, 3, H, W)`` at the working height, blurred a little."""
    H, W = image.shape[-2:]
    size = (_ROWS, max(1, round(W * _ROWS / H)))
    return gaussian_blur2d(F.interpolate(image, size=size, mode="area"), (5, 5), (1.0, 1.0), border_type="replicate")


def _gradient(small: torch.Tensor) -> torch.Tensor:
    """``(B, 1, h, w)``: the largest gradient magnitude over the colour channels."""
    return spatial_gradient(small, normalized=True).norm(dim=2).amax(dim=1, keepdim=True)


def _first(stop: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 1, w)``: the first row where ``stop`` ``(B, 1, h, w)`` holds in each column (h if none)."""
    return torch.where(stop, rows, torch.full_like(rows, stop.shape[2])).amin(dim=2, keepdim=True)


def _rows(like: torch.Tensor) -> torch.Tensor:
    B, _, h, w = like.shape
    return torch.arange(h, device=like.device).view(1, 1, h, 1).expand(B, 1, h, w)


def _full_size(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(mask.to(like.dtype), size=like.shape[-2:], mode="nearest") > 0.5


def sky_prior(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: where ``image`` ``(B, 3, H, W)`` in [0, 1] shows sky by the first rule above."""
    B = image.shape[0]
    small = _small(image)
    brightness = small.mean(1, keepdim=True)
    r, g, b = small.unbind(1)
    bright = brightness >= brightness.flatten(1).median(1).values.view(B, 1, 1, 1)
    blue = ((b - torch.maximum(r, g) > 0.02) & (b > 0.1)).unsqueeze(1)
    stop = (_gradient(small) > _EDGE) | ~(bright | blue)
    rows = _rows(brightness)
    return _full_size(rows < _first(stop, rows), image)


def grow_sky(image: torch.Tensor, sky: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """``sky`` ``(B, 1, H, W)`` bool grown down by the second rule above, for ``image``
    ``(B, 3, H, W)`` in [0, 1] and the depth model's disparity ``estimate`` ``(B, 1, H, W)``.
    Only a column whose sky reaches the top edge grows, from the end of that run."""
    B = image.shape[0]
    small = _small(image)
    size = small.shape[-2:]
    far = F.interpolate(estimate, size=size, mode="area") <= _FAR * estimate.flatten(1).amax(1).view(B, 1, 1, 1)
    rows = _rows(far)
    run = _first(F.interpolate(sky.to(image.dtype), size=size, mode="area") <= 0.5, rows)  # where each column's sky from the top ends
    smooth_far = (_gradient(small) <= _GROW_EDGE) & far
    stop = ~smooth_far & (rows >= run)
    grown = (rows < _first(stop, rows)) & (run > 0)
    return sky | _full_size(_flood(grown, smooth_far & (rows < _skyline(grown))), image)


def _skyline(sky: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 1, 1)``: the median, over the columns of ``sky`` ``(B, 1, h, w)`` whose sky starts at
    the top edge, of the row where it ends (0 where none does)."""
    ends = _first(~sky, _rows(sky)).flatten(1).float()
    median = torch.where(ends > 0, ends, torch.nan).nanmedian(dim=1).values  # NaN where no column has sky
    return median.nan_to_num(0.0).view(-1, 1, 1, 1)


def _flood(seed: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``seed`` ``(B, 1, h, w)`` bool grown through its 8-neighbours wherever ``allowed``."""
    region = seed
    for _ in range(sum(seed.shape[-2:])):
        grown = region | (F.max_pool2d(region.to(torch.float32), 3, stride=1, padding=1) > 0) & allowed
        if torch.equal(grown, region):
            break
        region = grown
    return region


def snap_sky(disparity: torch.Tensor) -> torch.Tensor:
    """Sky where a disparity ``(B, 1, H, W)`` is a sliver above 0: renders of ground-sky
    silhouettes mix the two (a horizon pixel at 1e-5, i.e. ground 100,000 scene units away); such
    a pixel is sky."""
    return torch.where(disparity < 0.5 * FARTHEST_GROUND, torch.zeros_like(disparity), disparity)


def sky_change(fraction: float, first: float) -> float:
    """How far a view's sky ``fraction`` (a share of the view) is from frame 0's ``first``, as a
    factor >= 1 either way, each fraction counted with :data:`SKY_FLOOR` added."""
    ratio = (fraction + SKY_FLOOR) / (first + SKY_FLOOR)
    return max(ratio, 1.0 / ratio)
