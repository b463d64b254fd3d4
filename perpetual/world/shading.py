"""Colours of the world: sky by direction, ground by material, light and haze. Pure tensor code.

Ground colour depends only on the surface point (Lambertian light, no reflections), sky colour
only on the view direction, so views agree with each other up to the distance haze.
Directions are world vectors ``(3, M)`` with up = -y.
"""

from __future__ import annotations

import torch

from perpetual.world.terrain import PeriodicTexture, smoothstep

# Linear RGB-ish palettes in [0, 1].
HAZE = torch.tensor([0.72, 0.80, 0.88])
ZENITH = torch.tensor([0.22, 0.42, 0.78])
SUN = torch.tensor([1.0, 0.95, 0.85])
GRASS = torch.tensor([0.26, 0.42, 0.16])
FOREST = torch.tensor([0.13, 0.26, 0.11])
ROCK = torch.tensor([0.42, 0.39, 0.36])
SNOW = torch.tensor([0.93, 0.95, 0.98])
SAND = torch.tensor([0.76, 0.70, 0.52])
WATER = torch.tensor([0.10, 0.26, 0.36])


def _col(c: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return c.to(like.device, like.dtype).view(3, *([1] * (like.dim() - 1)))


def sky_colour(direction: torch.Tensor, sun: torch.Tensor, clouds: PeriodicTexture, cloud_cover: float) -> torch.Tensor:
    """Sky ``(3, M)`` seen along unit world directions ``(3, M)``; ``sun`` is a unit ``(3,)`` vector."""
    up = -direction[1:2]
    colour = torch.lerp(_col(HAZE, direction), _col(ZENITH, direction), smoothstep(0.0, 0.45, up))
    toward_sun = (direction * sun.view(3, 1)).sum(0, keepdim=True).clamp_min(0.0)
    colour = colour + _col(SUN, direction) * (0.35 * toward_sun**8 + 2.0 * toward_sun**600)
    # Clouds on a plane at infinity: their texture coordinates depend on the direction only.
    lift = up.clamp_min(0.02)
    density = clouds(direction[0:1] / lift * 4.0, direction[2:3] / lift * 4.0)[0]
    cover = smoothstep(1.0 - 2.0 * cloud_cover, 1.6 - 2.0 * cloud_cover, density) * smoothstep(0.02, 0.2, up)
    lit = 0.9 + 0.1 * toward_sun
    return torch.lerp(colour, lit * torch.ones_like(colour), 0.85 * cover).clamp(0.0, 1.0)


def ground_albedo(
    altitude: torch.Tensor, raw: torch.Tensor, slope: torch.Tensor, water_level: float, snow_line: float, detail: torch.Tensor
) -> torch.Tensor:
    """Albedo ``(3, M)`` from altitude (with water), terrain altitude ``raw``, slope and detail noise ``(2, M)``."""
    ref = altitude.unsqueeze(0)
    fine, coarse = detail[0:1], detail[1:2]
    vegetation = torch.lerp(_col(GRASS, ref), _col(FOREST, ref), smoothstep(-0.3, 0.6, coarse))
    colour = vegetation * (0.85 + 0.15 * fine)
    rock = _col(ROCK, ref) * (0.8 + 0.25 * fine + 0.1 * coarse)
    colour = torch.lerp(colour, rock, smoothstep(0.55, 0.95, slope + 0.15 * coarse[0]).unsqueeze(0))
    high = smoothstep(snow_line - 0.6, snow_line + 0.2, altitude + 0.4 * coarse[0]) * smoothstep(1.3, 0.7, slope)
    colour = torch.lerp(colour, _col(SNOW, ref) * (0.95 + 0.05 * fine), high.unsqueeze(0))
    beach = smoothstep(water_level + 0.12, water_level + 0.02, raw) * smoothstep(0.8, 0.3, slope)
    colour = torch.lerp(colour, _col(SAND, ref) * (0.9 + 0.1 * fine), beach.unsqueeze(0))
    water = (raw < water_level).unsqueeze(0)
    sea = _col(WATER, ref) * (0.9 + 0.1 * fine) * (1.0 - 0.25 * smoothstep(0.0, 0.6, water_level - raw)).unsqueeze(0)
    return torch.where(water, sea, colour)


def shade(albedo: torch.Tensor, normal: torch.Tensor, sun: torch.Tensor) -> torch.Tensor:
    """Lambertian sun light plus sky ambient; ``albedo, normal`` ``(3, M)``, ``sun`` ``(3,)``."""
    diffuse = (normal * sun.view(3, 1)).sum(0, keepdim=True).clamp_min(0.0)
    sky_light = 0.5 + 0.5 * (-normal[1:2])  # how much of the sky the surface faces
    light = _col(SUN, albedo) * (1.2 * diffuse) + _col(ZENITH, albedo) * (0.55 * sky_light) + 0.08
    return albedo * light


def haze(colour: torch.Tensor, distance: torch.Tensor, fog_distance: float) -> torch.Tensor:
    """Aerial perspective: blend ``(3, M)`` toward the horizon haze with distance ``(M,)``."""
    amount = 1.0 - torch.exp(-distance / fog_distance)
    return torch.lerp(colour, _col(HAZE, colour), amount.unsqueeze(0))
