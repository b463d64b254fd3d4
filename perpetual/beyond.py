"""What a flight from a photo shows where the camera looks beyond the photo (``engine.mirror_beyond``).

A pan or an orbit turns the camera past the photo's edges, and the holes it opens there are
directions frame 0 never looked in. An inpainter that has seen only the procedural world fills
them with a featureless guess, and the depth it is given there is the nearest surface's continued
(a tree at the photo's edge becomes a wall as high as the horizon). Here those holes show frame 0
itself, mirrored back and forth at its edge in azimuth and elevation as the sky already is
(:func:`mirror_lookup`), both measured in frame 0's axes levelled to its skyline (so that a level
skyline goes on level beyond the photo's edges), within the quarter of its field nearest that
edge: the photo's own colours and texture, its sky where it had sky, and its surfaces at the distance they were along
the mirrored ray, so the shore beyond the edge is as far as the shore before it.

- What stands above the photo's skyline (a tree, a tower at its edge) is mirrored once, not
  repeated: further out, there is the sky.
- Every side is mirrored, also where something near stands across the edge (a person, a trunk,
  a tower): it is repeated beside itself, a symmetric figure, but the view stays the photo's,
  where an inpainter that has seen only the procedural world would paint a dark featureless slab.
- Each keyframe shows the mirrored land afresh where its surface is still theirs
  (:class:`~perpetual.drift.AnchorLand`), as it does frame 0's own land.

Pure tensor code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from perpetual.geometry import invert_pose, pixel_grid
from perpetual.render.sampling import sample, sample_where

__all__ = ["EDGE", "Beyond", "Mirror", "across_squared", "beyond_photo", "elevation", "mirror_lookup", "mirror_read", "rays_in_frame0"]

_LAND = 0.5  # a mirrored pixel is land where at least this share of its bilinear read is land
# Directions beyond an edge are mirrored within the quarter of frame 0's field nearest that edge:
# a photo's subject mostly stands nearer its middle, and a pan should not meet it again mirrored.
EDGE = 0.25


def _fold(angle: torch.Tensor, low: float | torch.Tensor, high: float | torch.Tensor, edge: float = 1.0) -> torch.Tensor:
    """Reflect ``angle`` back and forth into ``[low, high]`` (a triangle wave; identity inside).
    With ``edge`` < 1, an angle beyond one end is reflected within the ``edge`` share of the
    range nearest that end only; with 0, held at that end."""
    if edge == 0.0:
        return torch.clamp(angle, low, high)
    if edge < 1.0:
        width = (high - low) * edge
        return torch.where(angle > high, _fold(angle, high - width, high), torch.where(angle < low, _fold(angle, low, low + width), angle))
    t = torch.remainder((angle - low) / (high - low), 2.0)
    return low + torch.where(t > 1.0, 2.0 - t, t) * (high - low)


class Mirror(NamedTuple):
    """Frame 0 read in the directions of a view's pixels, mirrored back into its field of view.

    Attributes:
        uv: ``(1, 2, H, W)`` frame 0's pixel coordinates to read.
        outside: ``(1, 1, H, W)`` bool: the pixels whose direction was mirrored by more than half
            of frame 0's pixel (frame 0 never looked that way).
        past: ``(1, 1, H, W)``: how far each direction is beyond frame 0's right edge (positive)
            or left edge (negative), in shares of its field's width (0 within).
        shade: ``(1, 1, H, W)``: the factor that gives what is read at ``uv`` the brightness of
            frame 0's edge where the direction left its field (:attr:`Anchor.falloff`; 1 within
            it): a sky darker toward the photo's sides (a lens's vignetting, a glow about the sun)
            is not mirrored back brighter, a crease along the edge. Its land is mirrored as the
            photo shows it: darkened, it would lose contrast, the detail a view keeps.
    """

    uv: torch.Tensor
    outside: torch.Tensor
    past: torch.Tensor
    shade: torch.Tensor


def across_squared(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The squared distance of columns ``u`` from the principal point's column of intrinsics ``K``
    (``(3, 3)`` or ``(1, 3, 3)``), in half widths: the ``x²`` of :attr:`Anchor.falloff`'s ``exp(falloff x²)``."""
    cx = K[..., 0, 2]
    return ((u - cx) / (cx + 0.5)) ** 2


def mirror_lookup(pose: torch.Tensor, K: torch.Tensor, anchor: Anchor, size: tuple[int, int], edge: float = 1.0) -> Mirror:
    """Frame 0's pixel in the direction of each pixel of a camera at ``pose``, directions beyond
    its field of view mirrored back into it (see :func:`~perpetual.drift.sky_lookup`), within the
    ``edge`` share of its field nearest the edge they crossed (1: all of it): a :class:`Mirror`."""
    return _Directions(pose, K, anchor, size).mirrored(edge)


class _Directions:
    """The rays of a camera at ``pose`` (intrinsics ``K`` ``(1, 3, 3)``, image ``size``) as azimuth
    and elevation in frame 0's axes levelled to its skyline (:attr:`Anchor.level`), with frame 0's
    field of view: computed once, then mirrored into that field as often as needed (:meth:`mirrored`)."""

    def __init__(self, pose: torch.Tensor, K: torch.Tensor, anchor: Anchor, size: tuple[int, int]) -> None:
        x, y, z = rays_in_frame0(pose, K, anchor.level, size)
        self.size, self.K0 = size, anchor.K[0].to(K.dtype)
        self.frame0_from_level = (anchor.pose.to(anchor.level) @ invert_pose(anchor.level)).to(K)[:3, :3]
        H0, W0 = anchor.image.shape[-2:]
        self.half_w = math.atan2(min(self.K0[0, 2], W0 - 1 - self.K0[0, 2]), self.K0[0, 0])
        half_h = math.atan2(min(self.K0[1, 2], H0 - 1 - self.K0[1, 2]), self.K0[1, 1])
        # Frame 0's rows are planes through its x axis; levelling turns them about that axis.
        self.top, self.bottom = half_h - anchor.tilt, -half_h - anchor.tilt
        self.tilt, self.falloff = anchor.tilt, anchor.falloff
        self._edge_across2: torch.Tensor | None = None
        self.azimuth, self.elevation = torch.atan2(x, z), torch.atan2(-y, torch.hypot(x, z))
        # Its sides at each ray's elevation (taken within its rows' range above and below the photo).
        self.left, self.right = self._sides(self.elevation.clamp(self.bottom, self.top))
        u, v, in_front = self._frame0_pixels(x, y, z)
        self.unseen = ~in_front | (u < -0.5) | (u > W0 - 0.5) | (v < -0.5) | (v > H0 - 0.5)

    def _frame0_pixels(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Where levelled directions ``(x, y, z)`` meet frame 0's image plane (u, v), and whether in front of it."""
        dx, dy, dz = self.frame0_from_level @ torch.stack([x, y, z])
        K0 = self.K0
        return K0[0, 0] * dx / dz + K0[0, 2], K0[1, 1] * dy / dz + K0[1, 2], dz > 0

    def _sides(self, elevation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The azimuths of frame 0's left and right edges (planes through its y axis at
        -+``half_w``) at each levelled ``elevation``: where cos(e) sin(a) = t (cos(e) cos(a) cos(tilt)
        - sin(e) sin(tilt)), t = -+tan(half_w)."""
        c, s = math.cos(self.tilt), math.sin(self.tilt)
        sides = []
        for t in (-math.tan(self.half_w), math.tan(self.half_w)):
            shift = (-t * s * torch.tan(elevation) / math.hypot(1.0, t * c)).clamp(-1.0, 1.0)
            sides.append(math.atan(t * c) + torch.asin(shift))
        return sides[0], sides[1]

    def _within(self, azimuth: torch.Tensor, elevation: torch.Tensor, edge: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Levelled ``azimuth`` and ``elevation`` folded into frame 0's field of view (``edge``: see :func:`_fold`)."""
        azimuth = _fold(azimuth, self.left, self.right, edge)
        # At azimuth a a plane through the x axis at angle p holds elevation atan(tan(p) cos a) (a pinhole's rows curve).
        low, high = (torch.atan(math.tan(p) * torch.cos(azimuth)) for p in (self.bottom, self.top))
        return azimuth, _fold(elevation, low, high, edge)

    def _pixels_at(self, azimuth: torch.Tensor, elevation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        level = torch.cos(elevation)
        u, v, _ = self._frame0_pixels(level * torch.sin(azimuth), -torch.sin(elevation), level * torch.cos(azimuth))
        return u, v

    def mirrored(self, edge: float = 1.0) -> Mirror:
        """:func:`mirror_lookup`'s answer for these rays."""
        half_w = self.half_w
        azimuth, elevation = self._within(self.azimuth, self.elevation, edge)
        u, v = self._pixels_at(azimuth, elevation)
        half_pixel = 0.5 / float(self.K0[1, 1])
        moved = ((self.azimuth - azimuth).abs() > half_pixel) | ((self.elevation - elevation).abs() > half_pixel)
        outside = moved | self.unseen
        past = torch.sign(self.azimuth) * (self.azimuth.abs() - half_w).clamp_min(0.0) / (2 * half_w) * outside
        shade = torch.ones_like(u)
        if self.falloff != 0.0:  # frame 0's brightness goes as exp(falloff x²) along its rows: the edge's over the read pixel's
            if self._edge_across2 is None:  # where each ray leaves frame 0's field (the same for every fold)
                self._edge_across2 = across_squared(self._pixels_at(*self._within(self.azimuth, self.elevation, 0.0))[0], self.K0)
            shade = torch.where(outside, torch.exp(self.falloff * (self._edge_across2 - across_squared(u, self.K0))), shade)
        H, W = self.size
        return Mirror(torch.stack([u, v]).view(1, 2, H, W), outside.view(1, 1, H, W), past.view(1, 1, H, W), shade.view(1, 1, H, W))


def rays_in_frame0(pose: torch.Tensor, K: torch.Tensor, frame0_pose: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(3, H * W)``: each pixel's ray of a camera at ``pose`` in the camera axes of ``frame0_pose`` (x right, y down, z forward)."""
    H, W = size
    cam0_from_cam = (frame0_pose.to(pose) @ invert_pose(pose)).to(K)[:3, :3]
    rays = torch.linalg.inv(K[0]) @ torch.cat([pixel_grid(H, W, device=K.device, dtype=K.dtype).reshape(2, -1), K.new_ones(1, H * W)])
    return cam0_from_cam @ rays


def elevation(pose: torch.Tensor, K: torch.Tensor, frame0_pose: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(1, 1, H, W)``: the elevation (radians, up positive) of each pixel's ray of a camera at
    ``pose`` with intrinsics ``K`` ``(1, 3, 3)``, measured in the camera axes of ``frame0_pose``
    (frame 0's levelled to its skyline: :attr:`Anchor.level`)."""
    x, y, z = rays_in_frame0(pose, K, frame0_pose, size)
    return torch.atan2(-y, torch.hypot(x, z)).view(1, 1, *size)


class Anchor(Protocol):
    """What this module reads of frame 0 (:class:`perpetual.drift.Anchor` has it): its ``image``
    ``(1, 3, H, W)``, ``disparity`` ``(1, 1, H, W)``, ``pose`` ``(4, 4)``, intrinsics ``K``
    ``(1, 3, 3)``, the ``tilt`` of its skyline (radians above its axis) and its pose ``level``led
    to it (:func:`~perpetual.geometry.pitch_turn`), its brightness ``falloff`` toward its sides,
    the sky ``plate`` ``(1, 3, H, W)`` and its ``darkest_sky`` colour ``(1, 3, 1, 1)`` (both None
    without sky), and which rays point above its skyline."""

    image: torch.Tensor
    disparity: torch.Tensor
    pose: torch.Tensor
    K: torch.Tensor
    tilt: float
    level: torch.Tensor
    falloff: float
    plate: torch.Tensor | None
    darkest_sky: torch.Tensor | None

    def above_skyline(self, pose: torch.Tensor, K: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None: ...


@dataclass
class Beyond:
    """The pixels of a view whose rays point beyond frame 0's field of view:
    ``mask`` ``(1, 1, H, W)`` (bool), and what the photo shows there: ``image`` ``(1, 3, H, W)`` and
    ``disparity`` ``(1, 1, H, W)`` (0 is sky), meaningful only inside ``mask`` (the image is 0 outside it)."""

    mask: torch.Tensor
    image: torch.Tensor
    disparity: torch.Tensor


def _ray_length(K: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """``(1, 1, H, W)``: the length of the ray ``K⁻¹ (u, v, 1)`` of each pixel coordinate ``uv``
    ``(1, 2, H, W)`` for intrinsics ``K`` ``(1, 3, 3)``: a surface's distance along its ray is its
    depth times this."""
    x = (uv[:, :1] - K[0, 0, 2]) / K[0, 0, 0]
    y = (uv[:, 1:] - K[0, 1, 2]) / K[0, 1, 1]
    return torch.sqrt(x * x + y * y + 1.0)


def beyond_photo(anchor: Anchor, pose: torch.Tensor, K: torch.Tensor, size: tuple[int, int]) -> Beyond:
    """The pixels of a camera at ``pose`` (intrinsics ``K`` ``(1, 3, 3)``, image ``size``) that
    look beyond frame 0's field of view, and frame 0 mirrored into them (see the module)."""
    directions = _Directions(pose, K, anchor, size)
    mirror = directions.mirrored(EDGE)
    uv, outside, past = mirror.uv.to(anchor.image.dtype), mirror.outside, mirror.past
    # Read as the renderer reads (Catmull-Rom; a bilinear read blurs what a turn mirrors in), only where it is shown.
    image = sample_where(anchor.image, uv, outside, "cubic")
    land = sample((anchor.disparity > 0).to(uv.dtype), uv)
    # The mean disparity of the land pixels read, so a read across a skyline takes no sky's 0.
    source = sample(anchor.disparity, uv) / land.clamp_min(1e-6)
    # The distance along the mirrored ray kept along this one.
    pixels = pixel_grid(*size, device=uv.device, dtype=uv.dtype)
    disparity = source * _ray_length(K.to(uv.dtype), pixels) / _ray_length(anchor.K.to(uv.dtype), uv)
    land = land >= _LAND
    above = anchor.above_skyline(pose, K, size)
    if above is not None:  # what stands above the skyline is mirrored once, not repeated: the ground goes on, a tower does not
        land = land & ~(above & (past.abs() > EDGE))
    disparity = torch.where(land, disparity, torch.zeros_like(disparity))
    if anchor.plate is not None:  # sky as the sky anchor shows it (mirrored over the whole field)
        image = torch.where(land, image, mirror_read(anchor.plate, directions.mirrored(), outside, anchor.darkest_sky))
    return Beyond(outside, image, disparity)


def mirror_read(source: torch.Tensor, mirror: Mirror, where: torch.Tensor, floor: torch.Tensor | None = None) -> torch.Tensor:
    """``(1, C, H, W)``: frame 0's sky ``source`` ``(1, C, H0, W0)`` (its plate) read at
    ``mirror``'s pixels where ``where`` ``(1, 1, H, W)`` (bool) holds (Catmull-Rom, as the renderer
    reads: a bilinear read blurs what a turn mirrors in), at the brightness of the edge the
    direction left frame 0's field by (``mirror.shade``), but no darker for it than ``floor``
    ``(1, C, 1, 1)`` (the darkest sky frame 0 shows: the falloff is fitted along its rows, and
    the zenith need not darken as they do); 0 elsewhere."""
    read = sample_where(source, mirror.uv.to(source.dtype), where, "cubic")
    shaded = read * mirror.shade.to(source.dtype)
    return shaded if floor is None else torch.maximum(shaded, torch.minimum(read, floor.to(source.dtype)))
