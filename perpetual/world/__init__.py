"""A procedural nature world with exact RGB, disparity and sky mask for any camera.

Pure tensor code. The ground is a tileable fractal heightfield (valleys, ridged mountains, a
water level) in world coordinates with up = -y: the surface is ``y = -altitude(x, z)``. Each
pixel's ray is marched through the heightfield and refined to the exact crossing, so the
disparity is exact for the rendered surface and views agree with each other (the ground colour
depends on the surface point only, up to the distance haze; the sky on the direction only).

Example:
    >>> world = World(WorldSettings(seed=1, resolution=128))
    >>> K = intrinsics_from_fov(60.0, 16, 24).unsqueeze(0)
    >>> view = world.render(world.start_camera().unsqueeze(0), K, 16, 24)
    >>> view.image.shape, bool((view.disparity[view.sky] == 0).all())
    (torch.Size([1, 3, 16, 24]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from perpetual.geometry import check_shape, intrinsics_from_fov, invert_pose, look_at
from perpetual.world.shading import ground_albedo, haze, shade, sky_colour
from perpetual.world.terrain import PeriodicTexture, local_max, make_heightfield, slopes, spectral_noise

__all__ = ["World", "WorldSettings", "WorldView"]


@dataclass(frozen=True)
class WorldSettings:
    """Parameters of a world; the same settings always give the same world.

    Attributes:
        seed: random seed of the terrain, textures and clouds.
        tile: side of the square tile the terrain repeats over, in scene units.
        resolution: texels per tile side (the heightfield's detail).
        relief: altitude scale of the terrain, in scene units.
        water_quantile: share of the ground below the water level.
        snow_line: altitude above which snow lies, in scene units.
        fog_distance: distance at which haze covers 63% of a surface's colour.
        max_distance: rays that hit nothing within this distance see the sky.
        sun_elevation: degrees above the horizon.
        sun_azimuth: degrees, clockwise from +z seen from above.
        cloud_cover: 0 (clear) to 1 (overcast).
    """

    seed: int = 0
    tile: float = 48.0
    resolution: int = 768
    relief: float = 2.0
    water_quantile: float = 0.18
    snow_line: float = 4.5
    fog_distance: float = 28.0
    max_distance: float = 90.0
    sun_elevation: float = 35.0
    sun_azimuth: float = 30.0
    cloud_cover: float = 0.45


@dataclass(frozen=True)
class WorldView:
    """A rendered view.

    Attributes:
        image: ``(B, 3, H, W)`` in [0, 1].
        disparity: ``(B, 1, H, W)`` 1 / z-depth in the camera; 0 for sky.
        sky: ``(B, 1, H, W)`` bool, the ray hit nothing.
    """

    image: torch.Tensor
    disparity: torch.Tensor
    sky: torch.Tensor


# Ray marching: steps are a fraction of the safe distance, never shorter than a fraction of t,
# never longer than _REACH across the ground (the radius the local slope bound holds for).
_MAX_STEPS = 240
_REACH = 1.5
_SAFETY = 0.7
_MIN_STEP = 2e-3
_REFINE = 8
_COMPACT = 8
_NEAR = 1e-3


def _first_lowest(scores: torch.Tensor, tie: float = 1e-4) -> torch.Tensor:
    """``(R,)``: per row of ``scores`` ``(R, N)``, the first index within ``tie`` of the row's
    least. Views over the same flat water score the same up to float rounding, which differs
    between CPUs' kernels; a plain argmin then picks another start on another machine."""
    lowest = scores.min(dim=1, keepdim=True).values
    return (scores <= lowest + tie).float().argmax(dim=1)


class World:
    """A world built from :class:`WorldSettings`; holds its periodic textures."""

    def __init__(self, settings: WorldSettings | None = None, device: torch.device | str = "cpu") -> None:
        self.settings = s = settings or WorldSettings()
        gen = torch.Generator().manual_seed(s.seed)
        raw = make_heightfield(s.resolution, s.relief, gen)
        self.water_level = float(torch.quantile(raw.flatten()[:: max(1, raw.numel() // 200_000)], s.water_quantile))
        grad = slopes(raw, s.tile)
        # The steepest slope within _REACH of each point bounds how fast a ray can close in on
        # the ground there: the march's safe step (water is flat).
        steep = torch.where((raw < self.water_level), 0.0, grad.norm(dim=0))
        reach_texels = math.ceil(_REACH * s.resolution / s.tile) + 1
        # What the march reads each step: altitude (water flattened) and that slope bound.
        self.march_field = PeriodicTexture(torch.stack([raw.clamp_min(self.water_level), local_max(steep, reach_texels)]), s.tile).to(device)
        # What shading reads once per pixel: terrain altitude under the water, d/dx, d/dz.
        self.surface = PeriodicTexture(torch.stack([raw, *grad]), s.tile).to(device)
        detail = torch.stack([spectral_noise(512, 1.2, gen, low_cut=4.0), spectral_noise(512, 2.4, gen, low_cut=1.0)])
        self.detail = PeriodicTexture(detail.clamp(-2.5, 2.5) / 2.5, s.tile / 8.0).to(device)
        self.clouds = PeriodicTexture(spectral_noise(256, 2.6, gen, low_cut=1.0) * 0.5 + 0.5, 16.0).to(device)
        el, az = math.radians(s.sun_elevation), math.radians(s.sun_azimuth)
        self.sun = torch.tensor([math.cos(el) * math.sin(az), -math.sin(el), math.cos(el) * math.cos(az)], device=device)
        self.device = torch.device(device)

    def altitude(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Altitude of the ground (water surface where flooded) at ``x, z`` (same shapes)."""
        return self.march_field(x, z)[0]

    def render(self, cam_from_world: torch.Tensor, K: torch.Tensor, height: int, width: int) -> WorldView:
        """Render cameras ``cam_from_world`` ``(B, 4, 4)`` with intrinsics ``K`` ``(B, 3, 3)``."""
        B = cam_from_world.shape[0]
        check_shape("cam_from_world", cam_from_world, (B, 4, 4))
        check_shape("K", K, (B, 3, 3))
        world_from_cam = invert_pose(cam_from_world.float().to(self.device))
        v, u = torch.meshgrid(
            torch.arange(height, dtype=torch.float32, device=self.device),
            torch.arange(width, dtype=torch.float32, device=self.device),
            indexing="ij",
        )
        pix = torch.stack([u, v, torch.ones_like(u)]).view(1, 3, -1)
        rays = torch.linalg.inv(K.float().to(self.device)) @ pix  # (B, 3, HW), z = 1
        direction = (world_from_cam[:, :3, :3] @ rays).permute(1, 0, 2).reshape(3, -1)  # (3, M)
        origin = world_from_cam[:, :3, 3].T.repeat_interleave(height * width, dim=1)  # (3, M)
        t, hit = self._march(origin, direction)
        length = direction.norm(dim=0)
        unit = direction / length
        colour = sky_colour(unit, self.sun, self.clouds, self.settings.cloud_cover)
        if bool(hit.any()):
            colour[:, hit] = self._ground_colour(origin[:, hit] + t[hit] * direction[:, hit], t[hit] * length[hit])
        disparity = torch.where(hit, 1.0 / t.clamp_min(_NEAR), torch.zeros_like(t))
        image = colour.view(3, B, height, width).permute(1, 0, 2, 3).clamp(0.0, 1.0)
        return WorldView(
            image=image.contiguous(),
            disparity=disparity.view(B, 1, height, width),
            sky=(~hit).view(B, 1, height, width),
        )

    def _gap(self, origin: torch.Tensor, direction: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Height of the ray point above the ground (negative below) at ray parameters ``t``."""
        return self._probe(origin, direction, t)[0]

    def _probe(self, origin: torch.Tensor, direction: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Gap to the ground and the local slope bound ``(2, M)`` at ray parameters ``t``."""
        p = origin + t * direction
        field = self.march_field(p[0], p[2])
        return torch.stack([-p[1] - field[0], field[1]])

    def _march(self, origin: torch.Tensor, direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First crossing ``t`` ``(M,)`` of rays ``o + t d`` with the ground, and whether there is one."""
        M = origin.shape[1]
        across = direction[[0, 2]].norm(dim=0)
        longest = _REACH / across.clamp_min(1e-6)
        t = torch.full((M,), _NEAR, device=self.device)
        gap, steep = self._probe(origin, direction, t)
        t_max = self.settings.max_distance / direction.norm(dim=0)
        hi = torch.zeros_like(t)
        hit = torch.zeros(M, dtype=torch.bool, device=self.device)
        # March the rays still in flight in blocks of _COMPACT steps; drop finished rays between blocks.
        ids = torch.nonzero(gap > 0)[:, 0]
        for _ in range(0, _MAX_STEPS, _COMPACT):
            if ids.numel() == 0:
                break
            o, d, ti, gi, si = origin[:, ids], direction[:, ids], t[ids], gap[ids], steep[ids]
            across_i, longest_i, t_max_i = across[ids], longest[ids], t_max[ids]
            hi_i, hit_i = hi[ids], hit[ids]
            alive = torch.ones_like(hit_i)
            for _ in range(_COMPACT):
                rate = d[1].abs() + si * across_i
                safe = torch.minimum(_SAFETY * gi / rate.clamp_min(1e-6), longest_i)
                nt = ti + torch.maximum(safe, _MIN_STEP * ti)
                g, st = self._probe(o, d, nt)
                crossed = alive & (g <= 0)
                hi_i, hit_i = torch.where(crossed, nt, hi_i), hit_i | crossed
                moving = alive & ~crossed
                ti, gi, si = torch.where(moving, nt, ti), torch.where(moving, g, gi), torch.where(moving, st, si)
                alive = moving & (nt < t_max_i)
            t[ids], gap[ids], steep[ids], hi[ids], hit[ids] = ti, gi, si, hi_i, hit_i
            ids = ids[alive]
        lo = t
        # Refine each bracket [lo, hi] to the crossing (regula falsi with bisection fallback).
        sel = torch.nonzero(hit)[:, 0]
        a, b = lo[sel], hi[sel]
        o, d = origin[:, sel], direction[:, sel]
        ga, gb = self._gap(o, d, a), self._gap(o, d, b)
        for i in range(_REFINE):
            m = a + (b - a) * (ga / (ga - gb).clamp_min(1e-12)) if i % 2 == 0 else 0.5 * (a + b)
            gm = self._gap(o, d, m)
            above = gm > 0
            a, ga = torch.where(above, m, a), torch.where(above, gm, ga)
            b, gb = torch.where(above, b, m), torch.where(above, gb, gm)
        t[sel] = a + (b - a) * (ga / (ga - gb).clamp_min(1e-12))
        return t, hit

    def _ground_colour(self, point: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """Colour ``(3, M)`` of ground points ``(3, M)`` seen from ``distance`` ``(M,)``."""
        altitude = self.altitude(point[0], point[2])
        raw, ddx, ddz = self.surface(point[0], point[2])
        water = raw < self.water_level
        ddx, ddz = torch.where(water, 0.0, ddx), torch.where(water, 0.0, ddz)
        normal = torch.stack([-ddx, -torch.ones_like(ddx), -ddz])
        normal = normal / normal.norm(dim=0, keepdim=True)
        slope = torch.sqrt(ddx**2 + ddz**2)
        detail = self.detail(point[0], point[2])
        albedo = ground_albedo(altitude, raw, slope, self.water_level, self.settings.snow_line, detail)
        return haze(shade(albedo, normal, self.sun), distance, self.settings.fog_distance)

    def start_camera(self, clearance: float = 0.35, pitch: float = -6.0, x: float = 0.0, z: float = 0.0) -> torch.Tensor:
        """A good first camera ``cam_from_world`` ``(4, 4)`` on land near ``(x, z)``.

        Tries spots within 8 units and 16 headings; takes the spot on dry land whose best heading
        has the lowest ground ahead (an open view with sky), ``clearance`` above the highest
        ground around it, pitched ``pitch`` degrees (negative: down).
        """
        dev = self.device
        offsets = torch.linspace(-8.0, 8.0, 9, device=dev)
        cx, cz = torch.meshgrid(offsets + x, offsets + z, indexing="ij")
        cx, cz = cx.reshape(-1, 1, 1), cz.reshape(-1, 1, 1)
        headings = torch.arange(16, device=dev) * (2 * math.pi / 16)
        reach = torch.linspace(1.0, 12.0, 12, device=dev)
        ahead = self.altitude(cx + torch.sin(headings)[:, None] * reach, cz + torch.cos(headings)[:, None] * reach)
        mean_ahead = ahead.mean(dim=2)
        heading_index = _first_lowest(mean_ahead)  # per spot: lowest mean ground ahead
        openness = mean_ahead.gather(1, heading_index[:, None])[:, 0]
        raw = self.surface(cx[:, 0, 0], cz[:, 0, 0])[0]
        score = openness + 10.0 * (raw < self.water_level + 0.15)  # stand on land
        best = int(_first_lowest(score[None])[0])
        ex, ez, heading = float(cx[best]), float(cz[best]), float(headings[heading_index[best]])
        near = torch.linspace(-0.5, 0.5, 5, device=dev)
        gx, gz = torch.meshgrid(near + ex, near + ez, indexing="ij")
        eye = torch.tensor([ex, -(float(self.altitude(gx, gz).max()) + clearance), ez], device=dev)
        forward = torch.tensor([math.sin(heading), -math.tan(math.radians(pitch)), math.cos(heading)], device=dev)
        return look_at(eye, eye + forward)

    def start_view(self, height: int, width: int, fov: float = 60.0) -> tuple[torch.Tensor, WorldView]:
        """The :meth:`start_camera` and what it sees: ``(4, 4)`` pose and a :class:`WorldView`."""
        cam = self.start_camera()
        K = intrinsics_from_fov(fov, height, width, device=self.device).unsqueeze(0)
        return cam, self.render(cam.unsqueeze(0), K, height, width)

    def fly(self, poses: torch.Tensor, K: torch.Tensor, height: int, width: int, start: torch.Tensor | None = None):
        """Ground truth along a camera path in scene units; yields ``(WorldView, clearance)``.

        ``poses`` ``(N, 4, 4)`` are ``cam_from_world`` with the first camera as the world frame
        and translations in scene units (the first view's median depth is 1), as every
        :class:`~perpetual.paths.CameraPath`; ``K`` is ``(N, 3, 3)``. Views' disparities are in
        scene units too. ``start`` defaults to :meth:`start_camera`.
        """
        start = self.start_camera() if start is None else start
        scale = 1.0
        for i, pose in enumerate(poses):
            world_pose = pose.to(torch.float32).clone()
            world_pose[:3, 3] *= scale
            cam = world_pose.to(self.device) @ start
            view = self.render(cam.unsqueeze(0), K[i : i + 1], height, width)
            if i == 0:
                ground = view.disparity[view.disparity > 0]
                scale = float((1.0 / ground).median()) if ground.numel() else 1.0  # world units per scene unit
            yield WorldView(view.image, view.disparity * scale, view.sky), float(self.clearance(cam))

    def first_underground(self, poses: torch.Tensor, K: torch.Tensor, height: int, width: int) -> int | None:
        """The first frame of :meth:`fly` along ``poses`` ``(N, 4, 4)`` (intrinsics ``K``
        ``(N, 3, 3)``) whose camera is below the ground, None if none is: checked before
        anything is rendered but the first view (which sets the scale)."""
        start = self.start_camera()
        first = self.render((poses[0].to(torch.float32).to(self.device) @ start).unsqueeze(0), K[:1], height, width)
        ground = first.disparity[first.disparity > 0]
        scale = float((1.0 / ground).median()) if ground.numel() else 1.0
        cams = poses.to(torch.float32).clone()
        cams[:, :3, 3] *= scale
        below = (self.clearance(cams.to(self.device) @ start) < 0).nonzero()
        return int(below[0]) if below.numel() else None

    def clearance(self, cam_from_world: torch.Tensor) -> torch.Tensor:
        """Height of cameras ``(..., 4, 4)`` above the ground below them, ``(...)``."""
        centre = invert_pose(cam_from_world.to(self.device))[..., :3, 3]
        return -centre[..., 1] - self.altitude(centre[..., 0], centre[..., 2])
