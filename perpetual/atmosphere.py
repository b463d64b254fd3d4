"""Aerial perspective: distant ground fades toward the colour of the horizon. Pure tensor code.

Koschmieder's law: a surface of colour ``J`` seen through ``d`` units of air shows
``I = A + (J - A) t`` with transmission ``t = exp(-beta d)``, ``A`` the atmospheric light (the
horizon's colour) and ``beta`` the extinction per scene unit. A warp that moves a surface from
distance ``d0`` to ``d1`` must therefore also change its colour: ``I1 = A + (I0 - A) t1 / t0``.
Without that, a far ridge keeps its haze as the camera flies up to it and a long flight turns
into a blue-grey wash; with it, the ridge's own colours come back as the camera approaches.
The ratio only depends on the two distances, so it does not accumulate over a chain of
keyframes. Sky (disparity 0) is at infinity and is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from perpetual.geometry import check_shape, pixel_grid, transform_points, unproject_pixels
from perpetual.render import Warped, WarpSettings, warp

__all__ = ["Atmosphere", "carry_haze", "estimate_atmosphere", "ray_distance", "warp_hazed"]

# Transmission is never taken below this: at most 1 / _FLOOR (about 3) times the
# contrast a surface showed comes back (quantisation and noise grow by as much).
_FLOOR = 0.35


@dataclass(frozen=True)
class Atmosphere:
    """The haze of a scene.

    Attributes:
        light: ``(1, 3, 1, 1)`` atmospheric light ``A``, the colour distant ground fades to.
        extinction: ``beta`` per scene unit (the median depth of frame 0 is 1); 0: no haze.
    """

    light: torch.Tensor
    extinction: float

    def transmission(self, disparity: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` share of a surface's own colour that reaches the camera; 0 for sky."""
        distance = ray_distance(disparity, K)
        return torch.where(disparity > 0, torch.exp(-self.extinction * distance.clamp_max(1e6)), torch.zeros_like(distance))


def ray_distance(disparity: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Distance along each pixel's ray to its surface, ``(B, 1, H, W)`` from disparity ``(B, 1, H, W)``
    (1 / z-depth) and intrinsics ``(B, 3, 3)``; ``inf`` for sky (disparity 0)."""
    B, _, H, W = disparity.shape
    uv = pixel_grid(H, W, device=disparity.device, dtype=disparity.dtype).expand(B, 2, H, W)
    rays = unproject_pixels(uv, disparity, K)[:, :3]  # (x, y, 1): z = 1
    return (rays * rays).sum(dim=1, keepdim=True).sqrt() / disparity  # (Tensor.norm over dim 1 is 100x slower here)


def carry_haze(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, dst_from_src: torch.Tensor,
               atmosphere: Atmosphere) -> torch.Tensor:
    """``image`` ``(B, 3, H, W)`` with each surface's haze changed from its distance in this camera
    (``disparity`` ``(B, 1, H, W)``, ``K`` ``(B, 3, 3)``) to its distance from a camera at
    ``dst_from_src`` ``(B, 4, 4)``: ``A + (I - A) t1 / t0``, both transmissions floored at
    ``_FLOOR``; in [0, 1]. Sky is unchanged.

    Warp the result to show the surfaces with the haze of their new distances. Done per source
    pixel, before the warp: where the warp blends a surface with the sky beside it (a skyline),
    each keeps its own haze, where haze removed before the warp and put back at the blended
    disparity after it would tint the blend toward ``A`` and leave a halo along the skyline.
    """
    if atmosphere.extinction <= 0:
        return image
    B, _, H, W = disparity.shape
    uv = pixel_grid(H, W, device=disparity.device, dtype=disparity.dtype).expand(B, 2, H, W)
    points = unproject_pixels(uv, disparity, K)  # (x, y, 1, disparity): the surface at (x, y, 1) / disparity
    moved = transform_points(dst_from_src.to(points), points)
    land = disparity > 0
    safe = torch.where(land, disparity, torch.ones_like(disparity))
    near = (points[:, :3] * points[:, :3]).sum(1, keepdim=True).sqrt() / safe  # distances in this camera
    far = (moved[:, :3] * moved[:, :3]).sum(1, keepdim=True).sqrt() / safe  # and in the other
    t0 = torch.exp(-atmosphere.extinction * near.clamp_max(1e6)).clamp_min(_FLOOR)
    t1 = torch.exp(-atmosphere.extinction * far.clamp_max(1e6)).clamp_min(_FLOOR)
    A = atmosphere.light.to(image)
    return torch.where(land, A + (image - A) * (t1 / t0), image).clamp(0.0, 1.0)


def estimate_atmosphere(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, bins: int = 8) -> Atmosphere:
    """The haze of one frame ``(1, 3, H, W)`` with its disparity ``(1, 1, H, W)`` (scene units).

    ``A``: the sky's colour just above the ground (the horizon). ``beta``: ground pixels are
    grouped by distance; the distance of each group's mean colour from ``A`` shrinks as
    ``exp(-beta d)`` if the ground's own colours do not depend on distance, so ``beta`` is the
    slope of a least-squares line through the logarithms.
    A frame whose colours do not fade with distance, or without a horizon to take ``A`` from,
    gets ``beta = 0`` (nothing changes).
    """
    check_shape("image", image, (1, 3, None, None))
    ground = disparity > 0
    sky = ~ground
    # The horizon: sky pixels with ground within 3 rows below them.
    below = torch.zeros_like(ground)
    for k in range(1, 4):
        below[..., :-k, :] |= ground[..., k:, :]
    horizon = sky & below
    if int(horizon.sum()) < 8 or int(ground.sum()) < 8 * bins:
        # No horizon, no reference for the haze's colour (the farthest ground would fit a haze
        # to any view whose far end differs from its near end): leave colours as they are.
        return Atmosphere(image.mean(dim=(2, 3), keepdim=True), 0.0)
    light = image[horizon.expand_as(image)].view(3, -1).median(dim=1).values.view(1, 3, 1, 1)
    distance = ray_distance(disparity, K)[ground]
    colours = image.permute(1, 0, 2, 3)[:, ground[:, 0]]  # (3, M)
    edges = torch.quantile(distance, torch.linspace(0, 1, bins + 1, dtype=distance.dtype, device=distance.device))
    d, c = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (distance >= lo) & (distance <= hi)
        d.append(distance[inside].mean())
        c.append((colours[:, inside].mean(dim=1) - light.view(3)).norm())
    d, c = torch.stack(d), torch.stack(c).clamp_min(1e-4).log()
    slope = ((d - d.mean()) * (c - c.mean())).sum() / ((d - d.mean()) ** 2).sum().clamp_min(1e-12)
    return Atmosphere(light, max(0.0, float(-slope)))


def warp_hazed(image: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor, dst_from_src: torch.Tensor, K_dst: torch.Tensor,
               atmosphere: Atmosphere | None, settings: WarpSettings) -> Warped:
    """A frame ``image`` ``(1, 3, H, W)`` (``disparity`` ``(1, 1, H, W)``, ``K`` ``(1, 3, 3)``) warped
    to a camera ``dst_from_src`` ``(1, 4, 4)`` away with ``K_dst`` ``(1, 3, 3)``, each surface
    with the haze of its new distance (:func:`carry_haze`; as is without ``atmosphere``)."""
    source = image if atmosphere is None else carry_haze(image, disparity, K, dst_from_src, atmosphere)
    return warp(source, disparity, K, dst_from_src, K_dst, settings=settings)
