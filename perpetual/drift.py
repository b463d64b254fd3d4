"""Drift control for long flights: keep the sky and the colours of frame 0. Pure tensor code."""

from __future__ import annotations

import math

import torch
from kornia.color import lab_to_rgb, rgb_to_lab

from perpetual.geometry import invert_pose, pixel_grid
from perpetual.render.sampling import sample

__all__ = ["Anchor", "anchor_sky", "match_colour", "sky_lookup"]


class Anchor:
    """What frame 0 looked like: its image, sky mask, pose, intrinsics and Lab statistics."""

    def __init__(self, image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor) -> None:
        self.image, self.sky = image, (disparity == 0).to(image.dtype)
        self.pose, self.K = pose, K
        lab = rgb_to_lab(image.clamp(0, 1))
        self.mean, self.std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True)


def _fold(angle: torch.Tensor, low: float | torch.Tensor, high: float | torch.Tensor) -> torch.Tensor:
    """Reflect ``angle`` back and forth into ``[low, high]`` (a triangle wave; identity inside)."""
    t = torch.remainder((angle - low) / (high - low), 2.0)
    return low + torch.where(t > 1.0, 2.0 - t, t) * (high - low)


def sky_lookup(pose: torch.Tensor, K: torch.Tensor, anchor: Anchor, size: tuple[int, int]) -> torch.Tensor:
    """Where in frame 0 to read the sky for each pixel of a camera at ``pose``: ``(1, 2, H, W)`` pixel coordinates.

    The sky only rotates, so a pixel's sky is frame 0's in the same direction. Directions frame 0
    never saw (after the camera turned beyond its field of view) are mirrored back into it, in
    azimuth and elevation about frame 0's axis, so the clouds continue without a seam instead of
    the loop's smeared fill.
    """
    H, W = size
    cam0_from_cam = (anchor.pose @ invert_pose(pose)).to(K.dtype)[:3, :3]
    rays = torch.linalg.inv(K[0]) @ torch.cat([pixel_grid(H, W, device=K.device, dtype=K.dtype).reshape(2, -1), K.new_ones(1, H * W)])
    x, y, z = cam0_from_cam @ rays  # frame 0's camera axes: x right, y down, z forward
    K0 = anchor.K[0].to(K.dtype)
    H0, W0 = anchor.image.shape[-2:]
    half_w = math.atan2(min(K0[0, 2], W0 - 1 - K0[0, 2]), K0[0, 0])
    half_h = math.atan2(min(K0[1, 2], H0 - 1 - K0[1, 2]), K0[1, 1])
    azimuth = _fold(torch.atan2(x, z), -half_w, half_w)
    # At azimuth a the image spans elevations |e| <= atan(tan(half_h) cos a) (a pinhole's rows curve).
    limit = torch.atan(math.tan(half_h) * torch.cos(azimuth))
    elevation = _fold(torch.atan2(-y, torch.hypot(x, z)), -limit, limit)
    dx, dy, dz = torch.cos(elevation) * torch.sin(azimuth), -torch.sin(elevation), torch.cos(elevation) * torch.cos(azimuth)
    u, v = K0[0, 0] * dx / dz + K0[0, 2], K0[1, 1] * dy / dz + K0[1, 2]
    return torch.stack([u, v]).view(1, 2, H, W)


def anchor_sky(image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor, anchor: Anchor) -> torch.Tensor:
    """Replace the sky of ``image`` ``(1, 3, H, W)`` by frame 0's sky seen through the camera's rotation.

    The sky is at infinity, so it only rotates: frame 0's sky in the same direction is the right
    sky wherever frame 0 saw sky there (as InfiniteNature-Zero does); beyond frame 0's view it is
    mirrored in from the nearest edge (:func:`sky_lookup`). Where that lands on frame 0's ground,
    and everywhere that is not sky, the image is unchanged.
    """
    uv = sky_lookup(pose, K, anchor, tuple(image.shape[-2:]))
    seen = sample(torch.cat([anchor.image, anchor.sky], dim=1).to(image.dtype), uv.to(image.dtype))
    use = (seen[:, 3:4] > 0.99) & (disparity == 0)
    return torch.where(use, seen[:, :3], image)


def match_colour(image: torch.Tensor, anchor: Anchor, strength: float) -> torch.Tensor:
    """Pull the Lab mean and spread of ``image`` ``(1, 3, H, W)`` toward frame 0's by ``strength`` (0..1)."""
    if strength <= 0:
        return image
    lab = rgb_to_lab(image.clamp(0, 1))
    mean, std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    matched = (lab - mean) / std * anchor.std + anchor.mean
    return lab_to_rgb(torch.lerp(lab, matched, strength)).clamp(0, 1)
