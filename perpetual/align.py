"""Pure tensor maths the loop needs between frames: disparity alignment, scale, seams."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import median_blur

from perpetual.beyond import rays_in_frame0
from perpetual.geometry import pitch_turn
from perpetual.sky import wide_runs

__all__ = ["align_disparity", "clear_floating_ground", "deepen_far_land", "despeckle_median", "feather", "ground_under_horizon",
           "median_depth_scale", "snap_to_edges"]

# despeckle_median: a pixel within this share of its neighbourhood's median is a speck on its surface
SPECK_TOLERANCE = 0.3


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


def deepen_far_land(disparity: torch.Tensor, farthest: float = 0.1, least_skyline: float = 0.05) -> torch.Tensor:
    """``disparity`` ``(1, 1, H, W)`` scaled to median depth 1 (0 is sky), its far half spread out
    so that the land just under the sky (its farthest tenth) lies at disparity ``farthest``.

    A monocular estimate is disparity up to scale and shift, and the scale alone is fixed (the
    median). Land that meets the sky is most often the photo's horizon: a lake's far shore, a
    ridge, the sea's edge, kilometres away. The embedded model, trained on the procedural world,
    may read it at a few times the median depth (its farthest tenth at 0.26 of the median
    disparity on a ridge at sunset, 0.36 on a dusk lake, 0.58 on a lake at sunset), so a camera
    flying a fraction of that distance magnifies it. Disparities under the median are raised to
    the power that takes that tenth to ``farthest``: the order of depths, the median and
    everything nearer are kept. A photo whose land meets its sky in under ``least_skyline`` of
    its columns, or whose skyline land already lies that far, is left as it is."""
    land = disparity > 0
    under_sky = land[..., 1:, :] & ~land[..., :-1, :]
    if under_sky.any(dim=-2).float().mean() < least_skyline:
        return disparity
    skyline = float(disparity[..., 1:, :][under_sky].quantile(0.1))
    if not farthest < skyline < 1.0:
        return disparity
    power = math.log(farthest) / math.log(skyline)
    return torch.where(land & (disparity < 1.0), disparity.clamp_min(1e-12) ** power, disparity)


def ground_under_horizon(disparity: torch.Tensor, K: torch.Tensor, tilt: float, quantile: float = 0.25,
                         farthest: float = 0.1, rise: float = 0.06, notch: float = 0.02, reflected: float = 0.05,
                         valley: float = 0.1) -> torch.Tensor:
    """``disparity`` ``(1, 1, H, W)`` scaled to median depth 1 (0 is sky; intrinsics ``K``
    ``(1, 3, 3)``) with its far land under a level horizon ``tilt`` radians above its axis held
    no nearer than a level ground plane.

    Seen from a height ``h``, a level plane's disparity grows linearly below the horizon,
    ``y / h`` (``y``: the ray's drop below the level per unit of camera depth). A monocular
    estimate may read a lake's far shore and the water just before it near (a dusk lake's shore at
    1.3-6 median depths); flown toward, it is magnified past anything the photo shows. Each land
    pixel's implied height ``y / disparity`` says where a plane through it would lie; the plane at
    the ``quantile`` of those heights caps the land farther than the median (no nearer than the
    plane, nor farther than ``farthest``, the disparity far land is taken to), so the band under
    the horizon goes far, and what stands on the horizon (a far shore's trees) as far as the
    farthest. The land at the median depth or nearer (the photo's subject: a person whose head is
    at the horizon, reeds, a jetty) keeps its estimate, and so do the columns where the land rises
    more than ``rise`` of the height above the horizon (a tree nearby, a mountain).

    Under a level horizon there is no sky, but where a ridge falls away: sky read more than
    ``notch`` of the height under it is water showing the sky (a misty lake's sides) or a gap in a
    far shore's trees, and becomes the plane at the median of the land's implied heights (kept
    as sky, it would open into a slab of sky under the horizon as what is nearer moves down
    from it in flight). It stays sky where it spans at least ``valley`` of the width and goes no
    more than ``reflected`` of the height under the horizon: a valley where a ridge, taken for
    the horizon, falls."""
    H, W = disparity.shape[-2:]
    camera = torch.eye(4, dtype=K.dtype, device=K.device)
    drop = rays_in_frame0(camera, K, pitch_turn(tilt, K.dtype, K.device), (H, W))[1].view(1, 1, H, W)  # y: down in the level axes
    rows = torch.arange(H, dtype=K.dtype, device=K.device).view(1, 1, H, 1)
    horizon = float(K[0, 1, 2]) - math.tan(tilt) * float(K[0, 1, 1])  # the horizon's row
    top = torch.where(disparity > 0, rows, torch.full_like(rows, float(H))).amin(dim=2, keepdim=True)  # each column's highest land
    land = (disparity > 0) & (top >= horizon - rise * H)
    ground = land & (drop > 0)
    if int(ground.sum()) < 16:
        return disparity
    heights = drop[ground] / disparity[ground]
    plane = (drop / float(heights.quantile(quantile))).clamp_min(farthest)  # on and above the horizon: as far as the farthest
    water_plane = (drop / float(heights.quantile(0.5))).clamp_min(farthest)
    dips = (disparity == 0) & (rows > horizon + notch * H)
    wide = wide_runs(dips.any(dim=2).flatten(), 2 * round(valley * W / 2) + 1).view(1, 1, 1, W)  # a valley, not a gap
    water = dips & (~wide | (rows > horizon + reflected * H))
    return torch.where(land & (disparity < 1.0), torch.minimum(disparity, plane), torch.where(water, water_plane, disparity))


def clear_floating_ground(disparity: torch.Tensor, max_area: float = 0.02) -> torch.Tensor:
    """Turn small patches of ground that float in the sky into sky; ``(B, 1, H, W)`` in and out.

    A monocular estimator sometimes gives a dark patch of sky a finite depth. Kept, that patch
    is warped as a surface and grows, frame after frame, into a blot as the camera flies toward
    it. Ground (disparity > 0) that cannot be reached from the left, right or bottom edge of the
    image through ground, and covers less than ``max_area`` of it, becomes sky (0). Larger
    floating things (a balloon filling the view, an arch) are left alone.
    """
    ground = disparity > 0
    # Reachability on a grid of at most ~64 cells a side (a cell is ground if any pixel is): fast,
    # and a gap of sky narrower than a cell does not make a patch float.
    H, W = disparity.shape[-2:]
    cell = max(1, min(H, W) // 64)
    coarse = F.max_pool2d(ground.float(), cell, cell, ceil_mode=True) > 0
    reached = torch.zeros_like(coarse)
    reached[..., -1, :] = coarse[..., -1, :]
    reached[..., :, 0] = coarse[..., :, 0]
    reached[..., :, -1] = coarse[..., :, -1]
    h, w = coarse.shape[-2:]
    for i in range(h + w):  # geodesic dilation inside the ground, until nothing changes
        grown = F.max_pool2d(reached.float(), 3, 1, 1).bool() & coarse
        if i % 8 == 7 and torch.equal(grown, reached):
            break
        reached = grown
    reached = reached.repeat_interleave(cell, -2).repeat_interleave(cell, -1)[..., :H, :W]
    floating = ground & ~reached
    small = floating.flatten(1).float().mean(1).view(-1, 1, 1, 1) < max_area
    return torch.where(floating & small, torch.zeros_like(disparity), disparity)


def snap_to_edges(disparity: torch.Tensor, image: torch.Tensor, spacing: int = 2, iterations: int = 3,
                  sigma_colour: float = 0.05, despeckle: int = 0) -> torch.Tensor:
    """Sharpen a blurry ``disparity`` ``(B, 1, H, W)`` along the edges of its ``image`` ``(B, 3, H, W)``.

    A small depth model predicts on coarse tokens, so its depth edges are smeared over several
    pixels, and a smeared occlusion edge warps into a rubber sheet. Each iteration replaces a
    pixel's disparity by a joint-bilateral mean over a 5x5 grid of taps ``spacing`` pixels
    apart (Gaussian in distance, sigma ``2 * spacing``; Gaussian in RGB distance, sigma
    ``sigma_colour``), so values flow within regions of one colour and not across colour edges.
    The weights come from the image only and are computed once. On a textured surface (grass,
    foliage, lettering) they also copy the texture into the depth as speckle, which tears under
    parallax; ``despeckle`` (odd; 0 or 1: none) clears it with `despeckle_median` of that width.
    """
    H, W = disparity.shape[-2:]
    pad = 2 * spacing
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]

    def tap(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        y0, x0 = pad + dy * spacing, pad + dx * spacing
        return x[..., y0 : y0 + H, x0 : x0 + W]

    padded = F.pad(image, (pad,) * 4, mode="replicate")
    weights = torch.stack([
        torch.exp((-((tap(padded, dy, dx) - image) ** 2).sum(1, keepdim=True) / (2 * sigma_colour**2)
                   - (dy * dy + dx * dx) / 8.0).clamp_min(-60.0))  # no denormals (slow on CPUs)
        for dy, dx in shifts
    ])
    weights = weights / weights.sum(0)
    for _ in range(iterations):
        padded = F.pad(disparity, (pad,) * 4, mode="replicate")
        disparity = sum(w * tap(padded, dy, dx) for w, (dy, dx) in zip(weights, shifts))
    return despeckle_median(disparity, despeckle) if despeckle > 1 else disparity


def despeckle_median(disparity: torch.Tensor, width: int, tolerance: float = SPECK_TOLERANCE) -> torch.Tensor:
    """``disparity`` ``(B, 1, H, W)`` with its specks replaced by the ``width``-wide median around them.

    A speck is a pixel within ``tolerance`` (relative to the larger of the two) of that median: a
    texture's ripple on one surface. A pixel further from it is a structure of its own, a stalk
    or a pole thinner than half the window against the sky or far land, and is kept, where a
    plain median would flatten it into what lies behind.
    """
    median = median_blur(disparity, width)
    speck = (disparity - median).abs() < tolerance * torch.maximum(disparity, median)
    return torch.where(speck, median, disparity)
