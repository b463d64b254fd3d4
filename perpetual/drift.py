"""Drift control for long flights: keep the sky, the land, the colours and the detail of frame 0. Pure tensor code."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb, rgb_to_lab
from kornia.filters import gaussian_blur2d, spatial_gradient
from kornia.morphology import opening

from perpetual.align import feather
from perpetual.atmosphere import Atmosphere, warp_hazed
from perpetual.beyond import Beyond, across_squared, elevation, mirror_lookup, mirror_read
from perpetual.geometry import invert_pose, pitch_turn, pixel_jacobian, stretch
from perpetual.render import WarpSettings
from perpetual.render.fill import fill_holes
from perpetual.render.sampling import sample, sample_where
from perpetual.sky import snap_sky

__all__ = ["Anchor", "AnchorLand", "AnchorSky", "Draft", "DriftControl", "MatchColour", "RestoreDetail", "anchor_sky", "detail_level", "drift_controls",
           "elevation", "horizon_tilt", "magnification", "crispness", "match_colour", "resharpen", "restore_detail", "sharpness_maps", "sky_lookup", "sky_seen",
           "sky_profile"]

_SQUARE = torch.ones(3, 3)  # the smallest patch of frame 0's sky AnchorLand gives back (specks are no skyline)
_LEAST_ANCHORED = 0.05  # below this share of the view showing frame 0's own land, the whole view is pulled toward frame 0's
# Frame 0's axes are levelled to its horizon where at least this share of its columns' sky ends
# within _FLAT of its height of one row (a lake's far shore, a plain): not a ridge, a roof or a person.
_LEVEL_COLUMNS = 0.5
_FLAT = 0.02
# Frame 0's falloff toward its sides is fitted where at least this share of its rows are half sky, and held to at most _MOST_FALLOFF.
_FALLOFF_ROWS = 0.05
_MOST_FALLOFF = 1.0


class Anchor:
    """What frame 0 looked like: its image, disparity, sky mask, pose, intrinsics, Lab statistics;
    ``tilt``: the angle above its axis (radians) of its horizon's row where its skyline is level
    across at least half its width (:func:`horizon_tilt`; else 0);
    ``falloff``: how its brightness falls toward its sides along its rows, ``exp(falloff x²)`` at
    ``x`` half widths from its centre (:func:`_falloff`: a lens's vignetting, a glow about the sun);
    ``level``: its pose turned about its x axis to look along that row
    (:func:`~perpetual.geometry.pitch_turn`), the axes every elevation of a flight from it is
    measured in, so that a level skyline has one elevation along its whole length (in frame 0's
    own axes a row below its middle falls away toward its sides);
    ``skyline``: the elevation of its horizon, the median over those columns of the elevation of
    their lowest sky pixel, and ``sky_floor``: the elevation below which it shows almost no sky,
    the 5th percentile over them (both None without sky)."""

    def __init__(self, image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor) -> None:
        self.image, self.disparity, self.sky = image, disparity, (disparity == 0).to(image.dtype)
        self.pose, self.K = pose, K
        lab = rgb_to_lab(image.clamp(0, 1))
        self.mean, self.std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True)
        sky = disparity == 0
        self.tilt = horizon_tilt(disparity, K) or 0.0
        self.level = pitch_turn(self.tilt, pose.dtype, pose.device) @ pose
        self.falloff = _falloff(image, sky, K)
        up = elevation(pose, K, self.level, tuple(image.shape[-2:]))
        lowest = torch.where(sky, up, torch.full_like(up, math.inf)).amin(dim=2).flatten()  # (W,) per column
        lowest = lowest[lowest.isfinite()]
        self.skyline = float(lowest.median()) if lowest.numel() else None
        self.sky_floor = float(lowest.quantile(0.05)) if lowest.numel() else None
        self._sharpness: torch.Tensor | None = None
        self._margin = 2.0 / float(K[0, 1, 1])  # two of frame 0's pixels, read once (no host sync per frame)
        self.profile = sky_profile(image, sky, up) if self.skyline is not None else None
        # Frame 0's sky with its land painted over by the sky that would be behind it: the
        # profile's colour at that elevation, shifted by the surrounding sky's own difference from
        # the profile (filled smoothly in from all sides), so a mirrored direction that meets land
        # continues the sky without a seam, in colours frame 0's sky has (the darkest: darkest_sky).
        self.plate = self.darkest_sky = None
        if self.profile is not None:
            behind = self.sky_colour(up)
            low, high = (c.view(1, 3, 1, 1) for c in image[0][:, sky[0, 0]].aminmax(dim=1))
            self.plate = torch.where(sky, image, (fill_holes(image - behind, sky) + behind).clamp(low, high))
            self.darkest_sky = low

    def sky_colour(self, up: torch.Tensor) -> torch.Tensor:
        """``(1, 3, H, W)``: frame 0's sky colour at each elevation of ``up`` ``(1, 1, H, W)``
        (its :attr:`profile` interpolated, the end colours held beyond it)."""
        low, high, colours = self.profile  # colours: (bins, 3), bins >= 2
        at = ((up[:, 0] - low) / max(high - low, 1e-6) * (len(colours) - 1)).clamp(0, len(colours) - 1)  # (1, H, W)
        below = at.floor().long().clamp_max(len(colours) - 2)
        rgb = torch.lerp(colours[below], colours[below + 1], (at - below).unsqueeze(-1))  # (1, H, W, 3)
        return rgb.permute(0, 3, 1, 2).to(up.dtype)

    def sharpness(self) -> torch.Tensor:
        """``(1, 2, H, W)``: frame 0's :func:`sharpness_maps`, computed once."""
        if self._sharpness is None:
            self._sharpness = sharpness_maps(self.image)
        return self._sharpness

    def above_skyline(self, pose: torch.Tensor, K: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """``(1, 1, H, W)``: the pixels of a camera at ``pose`` (intrinsics ``K`` ``(1, 3, 3)``) whose
        rays point more than two of frame 0's pixels above its ``skyline``; None without sky."""
        if self.skyline is None:
            return None
        return elevation(pose, K, self.level, size) > self.skyline + self._margin

    def below_sky_floor(self, pose: torch.Tensor, K: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """``(1, 1, H, W)``: the pixels of a camera at ``pose`` (intrinsics ``K`` ``(1, 3, 3)``) whose
        rays point more than two of frame 0's pixels below its ``sky_floor``; None without sky."""
        if self.sky_floor is None:
            return None
        return elevation(pose, K, self.level, size) < self.sky_floor - self._margin


def horizon_tilt(disparity: torch.Tensor, K: torch.Tensor) -> float | None:
    """The angle above the axis of a camera with intrinsics ``K`` ``(1, 3, 3)`` (radians, up
    positive) of its level skyline, from its disparity ``(1, 1, H, W)`` (0 is sky): the median of
    the rows within :data:`_FLAT` of the height of the row most columns' sky ends near, where that
    is at least :data:`_LEVEL_COLUMNS` of them (the horizon, or land as far); None where fewer
    are (a ridge, a roof, a person: no level horizon)."""
    height = disparity.shape[-2]
    rows = torch.arange(height, device=disparity.device, dtype=K.dtype).view(1, 1, -1, 1)
    lowest_row = torch.where(disparity == 0, rows, torch.full_like(rows, -1.0)).amax(dim=2).flatten()  # (W,); -1: no sky
    ends = lowest_row[lowest_row >= 0]
    if ends.numel() < _LEVEL_COLUMNS * lowest_row.numel():
        return None
    near = (ends.view(-1, 1) - ends.view(1, -1)).abs() <= _FLAT * height  # [column, column]
    counts = near.sum(0)
    best = int(counts.argmax())
    if int(counts[best]) < _LEVEL_COLUMNS * lowest_row.numel():
        return None
    return math.atan2(float(K[0, 1, 2] - ends[near[:, best]].median()), float(K[0, 1, 1]))


def _falloff(image: torch.Tensor, sky: torch.Tensor, K: torch.Tensor) -> float:
    """The ``b`` of a brightness ``exp(b x²)`` along the rows (``x``: the distance from the
    principal point's column of intrinsics ``K`` ``(1, 3, 3)``, in half widths), fitted to the sky
    (``sky`` ``(1, 1, H, W)``, bool) of ``image`` ``(1, 3, H, W)`` (a sky changes with elevation,
    so only what changes along a row is fitted): its log luminance against ``x²`` in the rows at
    least half sky, each row's own mean taken out. 0 where under :data:`_FALLOFF_ROWS` of the rows are
    such or the sky brightens toward the sides (a lens darkens them); at most :data:`_MOST_FALLOFF`."""
    H, W = image.shape[-2:]
    rows = sky[0, 0].sum(dim=1) >= W / 2
    if int(rows.sum()) < _FALLOFF_ROWS * H:
        return 0.0
    mask = sky[0, 0][rows]
    x2 = across_squared(torch.arange(W, device=image.device, dtype=image.dtype), K.to(image.dtype))
    lum = image[0].mean(dim=0)[rows].clamp_min(1e-3).log()
    counts = mask.sum(dim=1, keepdim=True)
    centred = [torch.where(mask, a - (a * mask).sum(dim=1, keepdim=True) / counts, torch.zeros_like(a)) for a in (lum, x2.expand_as(lum))]
    b = float((centred[0] * centred[1]).sum() / (centred[1] ** 2).sum().clamp_min(1e-9))
    return max(min(b, 0.0), -_MOST_FALLOFF)


def sky_profile(image: torch.Tensor, sky: torch.Tensor, up: torch.Tensor, bins: int = 32) -> tuple[float, float, torch.Tensor]:
    """Frame 0's sky colour as a function of elevation: ``(lowest, highest, colours (bins, 3))``,
    the median colour of the sky pixels (``sky`` ``(1, 1, H, W)``, bool) of ``image``
    ``(1, 3, H, W)`` in each of ``bins`` equal bands of elevation ``up`` ``(1, 1, H, W)``; a band
    without sky takes the nearest band's colour. A sky mostly changes with elevation (brighter
    toward the horizon at dusk and in haze), so this is the sky in any direction the photo did not show."""
    elevations, colours = up[sky], image.permute(0, 2, 3, 1)[sky[:, 0]]  # (N,), (N, 3)
    low, high = float(elevations.min()), float(elevations.max())
    band = ((elevations - low) / max(high - low, 1e-6) * bins).long().clamp_max(bins - 1)
    profile = torch.full((bins, 3), math.nan, dtype=image.dtype, device=image.device)
    for b in band.unique().tolist():
        profile[b] = colours[band == b].median(dim=0).values
    filled = ~profile[:, 0].isnan()
    nearest = (torch.arange(bins, device=image.device)[:, None] - filled.nonzero()[:, 0][None]).abs().argmin(dim=1)
    return low, high, profile[filled][nearest]


def sky_lookup(pose: torch.Tensor, K: torch.Tensor, anchor: Anchor, size: tuple[int, int]) -> torch.Tensor:
    """Where in frame 0 to read the sky for each pixel of a camera at ``pose``: ``(1, 2, H, W)`` pixel coordinates.

    The sky only rotates, so a pixel's sky is frame 0's in the same direction. Directions frame 0
    never saw (after the camera turned beyond its field of view) are mirrored back into it, in
    azimuth and elevation about frame 0's axes levelled to its skyline (:attr:`Anchor.level`), so
    the clouds continue without a seam instead of the loop's smeared fill.
    """
    return mirror_lookup(pose, K, anchor, size).uv


def sky_seen(pose: torch.Tensor, K: torch.Tensor, anchor: Anchor, where: torch.Tensor) -> torch.Tensor | None:
    """``(1, 3, H, W)``: frame 0's sky in the direction of each pixel of a camera at ``pose``
    (intrinsics ``K`` ``(1, 3, 3)``) where ``where`` ``(1, 1, H, W)`` (bool) holds, 0 elsewhere,
    read once from :attr:`Anchor.plate` at :func:`sky_lookup` (Catmull-Rom, as the renderer reads:
    a bilinear read at half a pixel halves the finest band, and cables and cloud edges would
    soften at every keyframe), beyond frame 0's field at the brightness of the edge it is mirrored
    at (:func:`~perpetual.beyond.mirror_read`). None when frame 0 shows no sky."""
    if anchor.plate is None:
        return None
    return mirror_read(anchor.plate, mirror_lookup(pose, K, anchor, tuple(where.shape[-2:])), where, anchor.darkest_sky)


def anchor_sky(image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor, anchor: Anchor) -> torch.Tensor:
    """Replace the sky of ``image`` ``(1, 3, H, W)`` by frame 0's sky seen through the camera's rotation.

    The sky is at infinity, so it only rotates: frame 0's sky in the same direction is the right
    sky wherever frame 0 saw sky there (as InfiniteNature-Zero does); beyond frame 0's view it is
    mirrored in from the nearest edge (:func:`sky_lookup`), and where that direction meets frame
    0's land, the sky behind it is continued (:attr:`Anchor.plate`; :func:`sky_seen`). Other
    pixels are unchanged, and so is every pixel when frame 0 shows no sky.
    """
    sky = disparity == 0
    seen = sky_seen(pose, K, anchor, sky)
    return image if seen is None else torch.where(sky, seen.to(image.dtype), image)


def match_colour(image: torch.Tensor, anchor: Anchor, strength: float, anchored: torch.Tensor | None = None,
                 land: torch.Tensor | None = None, photo: torch.Tensor | None = None) -> torch.Tensor:
    """Pull the Lab mean of ``image`` ``(1, 3, H, W)`` toward frame 0's by ``strength`` (0..1), and
    its spread too where it is wider than frame 0's.

    With ``anchored`` ``(1, 1, H, W)`` (how much of each pixel is frame 0's own, :class:`AnchorLand`)
    and ``land`` ``(1, 1, H, W)`` (bool), while at least ``_LEAST_ANCHORED`` of the view is frame
    0's own land, only the colour (Lab's a and b) of the land frame 0 did not see is pulled,
    toward the land that it did see in the same view. Frame 0's own pixels are its colours already, and a
    pull toward frame 0's whole statistics would pile up in the rest (a pan away from a dark coat
    darkens the invented land at every keyframe, the coat's pixels being restored each time);
    the lightness is left to the inpainter, which takes it from the land around the holes. Given
    ``photo`` ``(1, 1, H, W)`` (how much of each pixel is a surface frame 0 showed, carried along
    by the warps however magnified: :attr:`Draft.photo`), that land keeps its colour too: a view
    come close to a yellow facade, magnified past what :class:`AnchorLand` redraws, would
    otherwise be pulled toward what little of frame 0's land is still redrawn in view and turn
    white and blue.
    """
    if strength <= 0:
        return image
    lab = rgb_to_lab(image.clamp(0, 1))
    seen = None if anchored is None or land is None else land & (anchored >= 0.5)
    if seen is None or float(seen.float().mean()) < _LEAST_ANCHORED:
        return lab_to_rgb(torch.lerp(lab, _matched(lab, None, anchor.mean, anchor.std), strength)).clamp(0, 1)
    own = anchored if photo is None else torch.maximum(anchored, photo)
    unseen = land & (own < 0.5)
    if int(unseen.sum()) < 16:
        return image
    mean, std = _stats(lab, seen)
    pulled = torch.lerp(lab, _matched(lab, unseen, mean, std), strength)
    pulled = torch.cat([lab[:, :1], pulled[:, 1:]], dim=1)  # the lightness is the inpainter's, from its context
    weight = torch.where(land, 1.0 - own, torch.zeros_like(own))
    return lab_to_rgb(torch.lerp(lab, pulled, weight)).clamp(0, 1)


def _stats(lab: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Lab mean and spread ``(1, 3, 1, 1)`` each of ``lab`` ``(1, 3, H, W)`` over ``mask`` ``(1, 1, H, W)`` (None: all)."""
    values = lab.flatten(2) if mask is None else lab[:, :, mask[0, 0]]
    return values.mean(dim=2).view(1, 3, 1, 1), values.std(dim=2).clamp_min(1e-3).view(1, 3, 1, 1)


def _matched(lab: torch.Tensor, mask: torch.Tensor | None, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``lab`` with the statistics of its ``mask`` moved to ``mean`` and ``std``."""
    own_mean, own_std = _stats(lab, mask)
    # Spread may shrink toward the reference's but never grow: a pixel that survives many keyframes
    # (far ground, sky the anchor cannot reach) would otherwise have its contrast raised at
    # every one of them, without end, while the rest of the view stays flat.
    gain = (std / own_std).clamp_max(1.0)
    return (lab - own_mean) * gain + mean


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


def _fine_band(x: torch.Tensor) -> torch.Tensor:
    """The finest octave of ``x`` ``(B, C, H, W)``: what a blur of one pixel removes."""
    return x - _blur(x, 1.0)


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)``: the blurred structure tensor ``gx², gx gy, gy²`` of ``x`` ``(B, 1, H, W)``."""
    g = spatial_gradient(x, normalized=False)  # (B, 1, 2, H, W), Sobel
    gx, gy = g[:, :, 0], g[:, :, 1]
    return _blur(torch.cat([gx * gx, gx * gy, gy * gy], dim=1), 3.0)


def detail_level(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: how much fine detail ``image`` ``(B, 3, H, W)`` has around each pixel.

    The square root of the smaller eigenvalue of the local structure tensor of the finest octave
    of the luminance: the gradient energy in the direction with the least of it. Magnification
    lowers it, and stretching (flying forward over ground stretches the view radially) lowers it
    even where the other direction keeps its texture: smears score low.
    """
    J = _gradient_energy(_fine_band(image.mean(1, keepdim=True)))
    a, b, c = J[:, 0:1], J[:, 1:2], J[:, 2:3]
    smaller = (a + c) / 2 - (((a - c) / 2) ** 2 + b**2).sqrt()
    return smaller.clamp_min(0.0).sqrt()


_MOST_DETAIL_GAIN = 2.0  # restore_detail: the most it multiplies a pixel's remaining detail by
# From a photo, a surface magnified more than this since first seen gets grain for less of its detail (RestoreDetail.resolved).
_PHOTO_RESOLVED = _MOST_DETAIL_GAIN


def restore_detail(
    image: torch.Tensor, disparity: torch.Tensor, target: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """Give ``image`` ``(B, 3, H, W)`` back the fine detail its surfaces had when first seen.

    ``target`` ``(B, 1, H, W)`` is the :func:`detail_level` each pixel's surface showed in the frame
    it first appeared in, carried along by the warp. Where the image now has less (its surface has
    been magnified or stretched, so its finest octave is empty in some direction), isotropic
    band-limited noise of the missing energy is added to the luminance, ``strength`` (0..1) of its
    amplitude per call. A keyframe's detail then warps with its surface, grows coarser as the
    camera approaches and is topped up again at the next keyframe: a scale-free texture, as
    natural surfaces have, instead of smears. The grain never takes a pixel beyond
    ``_MOST_DETAIL_GAIN`` times the detail it still has: a surface magnified to a blank gets
    none (it would turn into a uniform noise texture, the whole frame in the end), and says so
    through the flight's magnified share instead. Sky (disparity 0) is left alone. Returns
    ``(B, 3, H, W)`` in [0, 1].
    """
    if strength <= 0:
        return image
    noise = torch.randn(image[:, :1].shape, generator=generator, device=image.device, dtype=image.dtype)
    band = _fine_band(noise)
    band = band / band.std().clamp_min(1e-6)
    J = _gradient_energy(band)  # isotropic: about the same energy in every direction
    per_direction = ((J[:, 0:1] + J[:, 2:3]) / 2).mean().clamp_min(1e-6)
    current = detail_level(image)
    target = torch.minimum(target, _MOST_DETAIL_GAIN * current)  # what the view still holds bounds what is added
    amplitude = ((target**2 - current**2).clamp_min(0.0) / per_direction).sqrt()
    grain = strength * amplitude * band * (disparity > 0)
    return (image + grain).clamp(0.0, 1.0)


def _finest_band(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)``: each pixel of ``x`` less the mean of its four neighbours (a quarter of the
    negative 4-neighbour Laplacian; borders repeated): the top of the band, which a fractional
    read attenuates most."""
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    around = padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]
    return x - around / 4


def crispness(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: the local RMS (a Gaussian window of 3 pixels) of the finest band of the
    luminance of ``image`` ``(B, 3, H, W)``, which the sharpness of a flight measures globally
    (:func:`perpetual.structure.sharpness`, the variance of the Laplacian)."""
    return _blur(_finest_band(image.mean(1, keepdim=True)) ** 2, 3.0).sqrt()


def sharpness_maps(image: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)``: the :func:`crispness` and :func:`detail_level` of ``image`` ``(B, 3, H, W)``,
    what :func:`resharpen` reads, warped, for the frames rendered from it."""
    return torch.cat([crispness(image), detail_level(image)], dim=1)


_MOST_RESHARPEN_GAIN = 2.0  # resharpen: the most it multiplies a pixel's finest band by


def resharpen(image: torch.Tensor, crisp: torch.Tensor, detail: torch.Tensor, land: torch.Tensor) -> torch.Tensor:
    """Give a resampled ``image`` ``(B, 3, H, W)`` back the crispness its source showed.

    ``crisp`` and ``detail`` ``(B, 1, H, W)`` are the :func:`crispness` and :func:`detail_level`
    of the image it was read from, carried along by the warp. A read at a fractional offset
    attenuates the top of the band (a half-pixel Catmull-Rom read keeps a third of the
    Laplacian's energy, an ideal band-limited shift all of it), so the frames rendered from a
    keyframe look softer than the keyframe did and a flight pulses at its keyframe rate. Where
    the image is less crisp than ``crisp``, its own finest band is amplified by the ratio (at most
    ``_MOST_RESHARPEN_GAIN``), on ``land`` ``(B, 1, H, W)`` only, and by less where that would
    take its :func:`detail_level` (the band below) past ``detail``: the source's look restored,
    not a magnified surface sharpened beyond it. On photos read at a half-pixel offset this comes
    about 2 dB closer to the ideal shift than the read alone (``benchmarks/bench_resharpen.py``).
    A function of the frame alone (no grain), so consecutive frames stay consistent; meant for
    frames that nothing is read from again (sharpening a keyframe that the next is read from
    compounds its errors; :class:`AnchorLand` sharpens a keyframe's land where the next keyframe
    reads the photo again). Returns ``(B, 3, H, W)`` in [0, 1].
    """
    band = land * _finest_band(image)
    gain = (crisp / crispness(image).clamp_min(1e-6)).clamp(1.0, _MOST_RESHARPEN_GAIN) - 1.0
    before, after = detail_level(image), detail_level(image + gain * band)
    # The detail level grows about linearly with the gain: scale it back to reach ``detail`` at most.
    room = ((detail - before) / (after - before).clamp_min(1e-6)).clamp(0.0, 1.0)
    return (image + gain * _blur(room, 3.0) * band).clamp(0.0, 1.0)


def magnification(source_uv: torch.Tensor, valid: torch.Tensor, least: float = 1.0) -> torch.Tensor:
    """``(B, 1, H, W)``: how many times a warp magnified each destination pixel's surface, in the
    direction it magnified most (the inverse of the smaller singular value of ``d source_uv / d pixel``).

    ``source_uv`` ``(B, 2, H, W)`` is where each pixel read its source (``Warped.source_uv``),
    ``valid`` ``(B, 1, H, W)`` where that means something. Differences are one-sided, the smaller of
    the two per axis, so a depth edge (a jump in ``source_uv``) does not read as shrinking. At
    least ``least`` (1 by default: a surface seen smaller keeps its detail); invalid pixels are 1.
    """
    smaller, _ = stretch(*pixel_jacobian(torch.where(valid, source_uv, torch.zeros_like(source_uv))))
    return torch.where(valid, 1.0 / smaller.clamp_min(1e-3), torch.ones_like(smaller)).clamp_min(least)


@dataclass
class Draft:
    """A keyframe being made, as the drift controls see and change it: its ``image``
    ``(1, 3, H, W)``, ``disparity`` ``(1, 1, H, W)``, ``pose`` ``(4, 4)``, ``K`` ``(1, 3, 3)``,
    frame index ``t``; where each pixel read the last keyframe (``source_uv`` ``(1, 2, H, W)``,
    ``valid`` ``(1, 1, H, W)``), that keyframe's ``image`` and ``detail`` reference; and the
    ``detail`` reference this keyframe will carry (set by :class:`RestoreDetail`); ``anchored``
    ``(1, 1, H, W)``: how much of each pixel is frame 0's own (set by :class:`AnchorLand`, which
    also gives those surfaces frame 0's distances);
    ``beyond``: frame 0 mirrored beyond its field of view, as the view showed it (``engine.mirror_beyond``);
    ``photo`` ``(1, 1, H, W)``: how much of each pixel is a surface frame 0 showed, however magnified
    since (the first channel of :attr:`~perpetual.frame.Frame.provenance`; holes 0);
    ``magnified`` ``(1, 1, H, W)``: how many times larger each surface is shown than where it was
    first seen (2 to the second channel of that provenance; holes 1)."""

    image: torch.Tensor
    disparity: torch.Tensor
    pose: torch.Tensor
    K: torch.Tensor
    t: int
    source_uv: torch.Tensor
    valid: torch.Tensor
    last_image: torch.Tensor
    last_detail: torch.Tensor | None = None
    detail: torch.Tensor | None = None
    anchored: torch.Tensor | None = None
    beyond: Beyond | None = None
    photo: torch.Tensor | None = None
    magnified: torch.Tensor | None = None


class DriftControl(Protocol):
    """One drift control: a keyframe's :class:`Draft` in, the draft it leaves out."""

    def __call__(self, draft: Draft) -> Draft: ...


@dataclass(frozen=True)
class AnchorSky:
    """Frame 0's sky wherever it saw sky in that direction (:func:`anchor_sky`; ``drift.anchor_sky``)."""

    anchor: Anchor

    def __call__(self, draft: Draft) -> Draft:
        return replace(draft, image=anchor_sky(draft.image, draft.disparity, draft.pose, draft.K, self.anchor))


@dataclass(frozen=True)
class AnchorLand:
    """Frame 0's own pixels wherever a keyframe shows a surface frame 0 saw (``drift.anchor_land``).

    A keyframe is rendered from the keyframe before it, so a surface seen at the start has been
    resampled once per keyframe since, its fine detail blurred away and the grain put back in its
    place piling up (a 30-degree pan makes 120 keyframes). Here the photo itself is warped to the
    keyframe's pose as :meth:`~perpetual.engine.Flythrough.render` warps a keyframe
    (:func:`~perpetual.atmosphere.warp_hazed`), and where it lands on the keyframe's own surface (land in both, disparity
    within ``tolerance`` of the keyframe's: not an occluder, not a tear) its colour replaces the
    keyframe's, feathered over ``seam`` pixels, and its disparity the keyframe's: depth edges,
    resampled at every keyframe too, would otherwise soften until the surface beside them no
    longer passes the tolerance and keeps its blurred pixels. Land frame 0 never saw, sky, and land the photo
    shows magnified more than ``most_magnified`` times stay as they are: there the keyframe's
    detail grain (:class:`RestoreDetail`) travels with its surface from keyframe to keyframe,
    where frame 0's pixels would be given new grain at each (a shimmer at the keyframe rate).
    Where the draft carries frame 0 mirrored beyond its field of view (``Draft.beyond``, what
    ``engine.mirror_beyond`` put there), that land is restored the same way. And where the
    keyframe shows land but the photo, warped, shows its sky (at least a 3x3 patch of it: a
    speck frame 0 took for sky inside its land is no skyline), the sky comes back, colour and
    disparity 0: the quads joining a skyline to the sky beside it stretch a little at every
    keyframe, and the land would otherwise spread up into the sky, a pixel every few keyframes.
    With ``resharpen`` (``render.resharpen``) the photo's land, read at fractional offsets, is
    given back the crispness frame 0 showed there (:func:`resharpen`), as an in-between frame is
    given its keyframe's: else each keyframe is softer than the frames before it, which were
    sharpened to the last one, and a flight pulses at its keyframe rate. The next keyframe reads
    the photo again there, so the sharpening does not compound.
    """

    anchor: Anchor
    atmosphere: Atmosphere | None = None
    settings: WarpSettings = WarpSettings()
    tolerance: float = 0.05
    most_magnified: float = 2.0
    seam: int = 2
    resharpen: bool = True

    def __call__(self, draft: Draft) -> Draft:
        anchor = self.anchor
        dst_from_first = (draft.pose @ invert_pose(anchor.pose)).to(anchor.disparity).unsqueeze(0)
        first = warp_hazed(anchor.image, anchor.disparity, anchor.K, dst_from_first, draft.K, self.atmosphere, self.settings)
        image, disparity, valid = first.image, first.disparity, first.valid
        if self.resharpen:
            read = sample(anchor.sharpness(), first.source_uv)
            image = resharpen(image, read[:, :1], read[:, 1:], valid & (disparity > 0))
        if draft.beyond is not None:
            mirrored = draft.beyond.mask & ~valid
            image = torch.where(mirrored, draft.beyond.image, image)
            disparity, valid = torch.where(mirrored, draft.beyond.disparity, disparity), valid | mirrored
        land = draft.disparity > 0
        same = valid & land & ((disparity - draft.disparity).abs() <= self.tolerance * draft.disparity)
        same = same & (magnification(first.source_uv, first.valid) <= self.most_magnified)
        shows_sky = (first.valid & (snap_sky(first.disparity) == 0)).to(image.dtype)
        sky = land & (opening(shows_sky, _SQUARE.to(image)) > 0.5)  # patches of sky, not specks
        weight = torch.where(sky, torch.ones_like(image[:, :1]), feather(same | sky, self.seam))
        disparity = torch.where(same, disparity, draft.disparity).masked_fill(sky, 0.0)
        return replace(draft, image=torch.lerp(draft.image, image, weight), disparity=disparity, anchored=weight)


@dataclass(frozen=True)
class MatchColour:
    """Colour statistics pulled ``strength`` toward frame 0's (:func:`match_colour`; ``drift.colour_match``)."""

    anchor: Anchor
    strength: float

    def __call__(self, draft: Draft) -> Draft:
        return replace(draft, image=match_colour(draft.image, self.anchor, self.strength, draft.anchored, draft.disparity > 0,
                                                 draft.photo))


@dataclass(frozen=True)
class RestoreDetail:
    """The detail each surface had when first seen, ``strength`` of it put back as grain
    (:func:`restore_detail`; ``drift.detail``), with grain seeded by ``seed`` plus the frame
    index; the reference travels with the surfaces, holes take their neighbours' (or, where
    :class:`AnchorLand` filled them with frame 0's pixels, their own).

    With ``resolved`` (a flight from a photo) and where the draft says how magnified each
    surface is since it was first seen (:attr:`Draft.magnified`), one magnified ``m`` times more
    than ``resolved`` is given grain for ``resolved / m`` of that detail: what the pixels it was
    first seen with still resolve at the view's finest scale, twice over, as
    :func:`restore_detail` bounds one keyframe's grain. Without it that bound is lost from
    keyframe to keyframe, since the detail the view still holds then counts the grain the
    keyframes before put there, and a magnified surface becomes all grain at its first-seen
    detail. The procedural world has detail at every scale, and there that is what its truth
    shows as the camera nears (0, the default); a photo's smooth surfaces, a boat's painted
    hull flown toward, turned into speckle."""

    strength: float
    seed: int
    resolved: float = 0.0

    def __call__(self, draft: Draft) -> Draft:
        reference = draft.last_detail if draft.last_detail is not None else detail_level(draft.last_image)
        detail = fill_holes(sample(reference, draft.source_uv), draft.valid)
        if draft.anchored is not None:  # a hole showing frame 0's own pixels is first seen with their detail
            detail = torch.where(~draft.valid & (draft.anchored >= 0.5), detail_level(draft.image), detail)
        wanted = detail
        if self.resolved > 0 and draft.magnified is not None:
            wanted = detail * (self.resolved / draft.magnified).clamp_max(1.0)
        generator = torch.Generator(device=draft.image.device).manual_seed(self.seed + draft.t)
        return replace(draft, image=restore_detail(draft.image, draft.disparity, wanted, self.strength, generator), detail=detail)


def drift_controls(anchor: Anchor, *, anchor_sky: bool, anchor_land: bool, colour_match: float, detail: float, seed: int,
                   atmosphere: Atmosphere | None = None, settings: WarpSettings = WarpSettings(),
                   resharpen: bool = True, photo: bool = False) -> list[DriftControl]:
    """The controls a flight applies at each keyframe, in order (the ``[drift]`` settings of the
    same names); ``atmosphere``, ``settings`` and ``resharpen``: the flight's haze, warp and
    ``render.resharpen``, for :class:`AnchorLand`; ``photo``: a flight from a photo, whose
    magnified surfaces get grain for what their first pixels resolve (:class:`RestoreDetail`)."""
    controls: list[DriftControl] = [AnchorSky(anchor)] if anchor_sky else []
    if anchor_land:
        controls.append(AnchorLand(anchor, atmosphere, settings, resharpen=resharpen))
    if colour_match > 0:
        controls.append(MatchColour(anchor, colour_match))
    if detail > 0:
        controls.append(RestoreDetail(detail, seed, _PHOTO_RESOLVED if photo else 0.0))
    return controls
