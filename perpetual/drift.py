"""Drift control for long flights: keep the sky and the colours of frame 0. Pure tensor code."""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, rgb_to_lab

from perpetual.geometry import invert_pose
from perpetual.render import warp

__all__ = ["Anchor", "anchor_sky", "match_colour"]


class Anchor:
    """What frame 0 looked like: its image, sky mask, pose, intrinsics and Lab statistics."""

    def __init__(self, image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor) -> None:
        self.image, self.sky = image, (disparity == 0).to(image.dtype)
        self.pose, self.K = pose, K
        lab = rgb_to_lab(image.clamp(0, 1))
        self.mean, self.std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True)


def anchor_sky(image: torch.Tensor, disparity: torch.Tensor, pose: torch.Tensor, K: torch.Tensor, anchor: Anchor) -> torch.Tensor:
    """Replace the sky of ``image`` ``(1, 3, H, W)`` by frame 0's sky seen through the camera's rotation.

    The sky is at infinity, so it only rotates: frame 0's sky, re-warped by the rotation between
    the two cameras, is the right sky wherever frame 0 saw sky in that direction (as
    InfiniteNature-Zero does). Elsewhere the image is unchanged.
    """
    rotation = (pose @ invert_pose(anchor.pose)).to(image.dtype).clone()
    rotation[:3, 3] = 0.0
    source = torch.cat([anchor.image, anchor.sky], dim=1)
    seen = warp(source, torch.zeros_like(anchor.sky), anchor.K, rotation.unsqueeze(0), K, size=tuple(image.shape[-2:]))
    use = seen.valid & (seen.image[:, 3:4] > 0.99) & (disparity == 0)
    return torch.where(use, seen.image[:, :3], image)


def match_colour(image: torch.Tensor, anchor: Anchor, strength: float) -> torch.Tensor:
    """Pull the Lab mean and spread of ``image`` ``(1, 3, H, W)`` toward frame 0's by ``strength`` (0..1)."""
    if strength <= 0:
        return image
    lab = rgb_to_lab(image.clamp(0, 1))
    mean, std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    matched = (lab - mean) / std * anchor.std + anchor.mean
    return lab_to_rgb(torch.lerp(lab, matched, strength)).clamp(0, 1)
