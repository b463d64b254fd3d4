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
- :func:`skyline_sky`: a sunset's lit and slate clouds are full of edges and the model reads them
  as land sloping up to the top edge, so neither rule above goes far into them. The skyline is
  found instead as a whole: the row in each column where the view turns from bright above to
  dark below (sky over land, the light source over what it lights), chosen jointly over all
  columns by dynamic programming so that it runs on smoothly from column to column, and never
  across an edge as strong as itself (a cloud's edges are weaker than the skyline under them; a
  near object's outline is not), nor below land the model puts near, unless the sky found runs
  on down into that land without an edge (the dim side of a dusk sky, read as land sloping
  toward the camera). Everything above it is sky, unless the sky found is not smooth,
  the brightness hardly steps down across the line (texture, noise) or the model puts what it
  would add at the disparity of a far range (a hazy range, which the model has seen in the
  world: it is land).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, spatial_gradient

__all__ = ["FARTHEST_GROUND", "SKY_FLOOR", "estimated_sky", "grow_sky", "sky_change", "sky_prior", "skyline_sky", "snap_sky", "wide_runs"]

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
# The skyline (:func:`skyline_sky`), at the working height:
_SKYLINE_LOWEST = 0.75  # share of the height: the skyline is never lower
_SKYLINE_NEAR = 1.5  # ... nor below land past the sky's smooth run at over this times the median disparity
_SKYLINE_BEND = 0.02  # cost of a row's step between neighbouring columns, against brightness steps 0..1
_SKYLINE_ROWS = 3  # the mean brightness of this many rows above and below a row is compared
_SKYLINE_CROSS = 0.7  # an edge above the skyline at least this share as strong as it, crossed, costs ...
_SKYLINE_CROSS_COST = 3.0  # ... this many times its excess
_SKYLINE_COLUMNS = 0.6  # the rule runs where the other rules find sky at the top of this share of columns
_SKYLINE_SKY = 0.05  # ... and this share of the image
_SKYLINE_SPAN = 0.1  # sky added in a run of columns narrower than this share of the width is not sky
_SKYLINE_SMOOTH = 0.08  # ... nor below sky found whose mean gradient is over this (photos' skies: under 0.04)
_SKYLINE_STEP = 0.6  # ... nor where the brightness steps down across the skyline by under this times its edge
_SKYLINE_FAR_LAND = 0.07  # ... nor where the model puts what it adds, on average, under this share of its largest disparity


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
    """``(..., 1, w)``: the first row where ``stop`` ``(..., h, w)`` holds in each column (h if
    none), ``rows`` holding each element's row (broadcast to ``stop``)."""
    return torch.where(stop, rows, stop.shape[-2]).amin(dim=-2, keepdim=True)


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


def skyline_sky(image: torch.Tensor, sky: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """``sky`` ``(B, 1, H, W)`` bool extended down to the skyline (the third rule above), for
    ``image`` ``(B, 3, H, W)`` in [0, 1] and the depth model's disparity ``estimate`` ``(B, 1, H, W)``.
    An image whose sky the other rules find in few columns (a portrait, a room) is left as it is."""
    small = _small(image)
    h, w = small.shape[-2:]
    found = F.interpolate(sky.to(image.dtype), size=(h, w), mode="area") > 0.5
    starts = _first(~found, _rows(found)).view(-1, w)  # (B, w): rows of sky each column has from the top
    estimate = F.interpolate(estimate, size=(h, w), mode="area")
    followed = ((starts > 0).float().mean(1) >= _SKYLINE_COLUMNS) & (found.flatten(1).float().mean(1) >= _SKYLINE_SKY)
    ends = torch.stack([_sky_ends(small[i], starts[i], estimate[i, 0]) if followed[i] else starts[i] for i in range(len(starts))])
    rows = _rows(found)
    return sky | _full_size((rows >= starts.view(-1, 1, 1, w)) & (rows < ends.view(-1, 1, 1, w)), image)


def _sky_ends(small: torch.Tensor, starts: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """``(w,)``: the row where the sky of ``small`` ``(3, h, w)`` ends in each column, at its
    skyline where that lies below the sky found (``starts`` ``(w,)``) across a run of columns at
    least :data:`_SKYLINE_SPAN` wide, else at ``starts``; ``estimate`` ``(h, w)``: its disparity.
    All at ``starts`` where the sky found is not smooth (:data:`_SKYLINE_SMOOTH`), the line is no
    step (:data:`_SKYLINE_STEP`) or what it adds is a far range to the model
    (:data:`_SKYLINE_FAR_LAND`)."""
    h, w = estimate.shape
    rows = torch.arange(h, device=estimate.device).view(h, 1)
    gradient = _gradient(small[None])[0, 0]
    if gradient[rows < starts].mean() > _SKYLINE_SMOOTH:
        return starts  # the sky found is not smooth: not a sky to follow down
    smooth_to = _first((gradient > _GROW_EDGE) & (rows >= starts), rows)  # the sky found's smooth run on down
    near = (estimate > _SKYLINE_NEAR * estimate.median()) & (rows >= smooth_to)
    lowest = _first(near, rows)[0].clamp(max=int(_SKYLINE_LOWEST * h)).maximum(starts)
    step, edge = _step_and_edge(small.mean(0), gradient)
    line = _best_skyline(_skyline_gain(step, edge, gradient, starts), starts, lowest)
    line = torch.where(wide_runs(line > starts + 1, round(_SKYLINE_SPAN * w)), line, starts)
    moved = line > starts
    if not moved.any():
        return starts
    at = line[moved].view(1, -1)
    if step[:, moved].gather(0, at).mean() < _SKYLINE_STEP * edge[:, moved].gather(0, at).mean():
        return starts  # no step across it, only its edges: texture or noise, not a skyline
    if estimate[(rows >= starts) & (rows < line)].mean() < _SKYLINE_FAR_LAND * estimate.max():
        return starts  # far land the model has seen: a hazy range, not a misread sky
    return line


def _step_and_edge(brightness: torch.Tensor, gradient: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, w)`` each, for a ``brightness`` and its ``gradient`` ``(h, w)``: at each row, the mean
    brightness of the :data:`_SKYLINE_ROWS` rows above less that of as many from it down (0 where
    it rises), and the largest gradient from two rows above it to one below."""
    h, w = brightness.shape
    k = _SKYLINE_ROWS
    padded = F.pad(brightness.view(1, 1, h, w), (0, 0, k, k), mode="replicate")[0, 0]
    step = (padded[:-k].unfold(0, k, 1)[:h].mean(-1) - padded[k:].unfold(0, k, 1)[:h].mean(-1)).clamp_min(0)
    edge = F.max_pool2d(gradient.view(1, 1, h, w), (4, 1), stride=1, padding=(2, 0))[0, 0, :h]
    return step, edge


def _skyline_gain(step: torch.Tensor, edge: torch.Tensor, gradient: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """``(h + 1, w)``: what a skyline gains at each row (row h: none in the column), for the
    brightness ``step`` down across each row, the ``edge`` there and the ``gradient`` ``(h, w)``,
    and the sky already found ``starts`` ``(w,)``: the step, less the excess of the edges it
    leaves above it, between the sky found and itself, over :data:`_SKYLINE_CROSS` of its own edge."""
    h, w = step.shape
    rows = torch.arange(h, device=step.device)
    between = (rows.view(1, h, 1) >= starts.view(1, 1, w)) & (rows.view(1, h, 1) < rows.view(h, 1, 1) - 2)  # [skyline, row, column]
    crossed = ((gradient.view(1, h, w) - _SKYLINE_CROSS * edge.view(h, 1, w)).clamp_min(0) * between).sum(1)
    return torch.cat([step - _SKYLINE_CROSS_COST * crossed, torch.zeros_like(step[:1])])


def _best_skyline(gain: torch.Tensor, highest: torch.Tensor, lowest: torch.Tensor) -> torch.Tensor:
    """``(w,)`` long: the row per column, within ``highest`` and ``lowest`` ``(w,)``, that maximises
    the ``gain`` ``(h + 1, w)`` summed over the columns less :data:`_SKYLINE_BEND` per row stepped
    between neighbours (a Viterbi pass over the columns)."""
    rows = torch.arange(gain.shape[0], device=gain.device)
    allowed = (rows.view(-1, 1) >= highest) & (rows.view(-1, 1) <= lowest)
    gain = torch.where(allowed, gain, torch.full_like(gain, -torch.inf))
    bend = -_SKYLINE_BEND * (rows.view(-1, 1) - rows.view(1, -1)).abs().to(gain.dtype)  # [row, previous row]
    total, came_from = gain[:, 0], []
    for column in range(1, gain.shape[1]):
        total, previous = (total.view(1, -1) + bend).max(1)
        total = total + gain[:, column]
        came_from.append(previous)
    line = [total.argmax()]
    for previous in reversed(came_from):
        line.append(previous[line[-1]])
    return torch.stack(line[::-1])


def wide_runs(mask: torch.Tensor, width: int) -> torch.Tensor:
    """``mask`` ``(w,)`` bool without its runs of trues shorter than ``width``."""
    starts = torch.cat([mask[:1], mask[1:] & ~mask[:-1]])
    run = torch.cumsum(starts.long(), 0) * mask  # each run's number, 0 off the runs
    lengths = torch.bincount(run, minlength=int(run.max()) + 1)
    return mask & (lengths[run] >= width)


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
