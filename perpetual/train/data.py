"""Training pairs from the procedural world, made exactly the way the flythrough loop sees them.

A pair is two nearby cameras A and B along a plausible flight: B's true render is the target,
and the input is A warped to B by our renderer with A's true disparity, so the holes, stretch
and resampling blur are exactly those of the loop. Disparities are in scene units (A's median
depth is 1). Seeded: the same seeds give the same pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

from perpetual.align import median_depth_scale
from perpetual.geometry import intrinsics_from_fov, look_at, relative_pose
from perpetual.io.progress import Progress
from perpetual.render import warp
from perpetual.world import World, WorldSettings

__all__ = ["PairSet", "make_pairs", "world_for_seed"]

# Worlds for training and for held-out evaluation never share a seed.
TRAIN_SEEDS = range(0, 1000)
EVAL_SEEDS = range(1000, 2000)


def world_for_seed(seed: int, resolution: int = 512) -> World:
    """A world whose look (relief, sun, clouds, water) also varies with the seed."""
    g = torch.Generator().manual_seed(10_000 + seed)
    u = torch.rand(5, generator=g).tolist()
    return World(WorldSettings(
        seed=seed, resolution=resolution, relief=1.5 + 1.2 * u[0], sun_elevation=15 + 50 * u[1],
        sun_azimuth=360 * u[2], cloud_cover=0.1 + 0.7 * u[3], water_quantile=0.05 + 0.3 * u[4],
    ))


def _random_camera(world: World, g: torch.Generator) -> torch.Tensor:
    x, z = (torch.rand(2, generator=g) * world.settings.tile).tolist()
    heading = float(torch.rand(1, generator=g)) * 2 * math.pi
    pitch = math.radians(float(torch.rand(1, generator=g)) * 20 - 14)
    clearance = 0.15 + 1.2 * float(torch.rand(1, generator=g)) ** 2
    near = torch.linspace(-0.6, 0.6, 5)
    gx, gz = torch.meshgrid(near + x, near + z, indexing="ij")
    eye = torch.tensor([x, -(float(world.altitude(gx, gz).max()) + clearance), z])
    ahead = torch.tensor([math.sin(heading), -math.tan(pitch), math.cos(heading)])
    return look_at(eye, eye + ahead)


def _motion(g: torch.Generator, scale: float) -> torch.Tensor:
    """A random camera step (mostly forward, 0.02-0.27), ``dst_from_src``, translations times ``scale``."""
    r = torch.randn(6, generator=g)
    step = torch.eye(4)
    step[:3, :3] = axis_angle_to_rotation_matrix((r[:3] * torch.tensor([0.03, 0.06, 0.015])).unsqueeze(0))[0]
    short = 0.02 + 0.25 * float(torch.rand(1, generator=g))
    step[:3, 3] = -scale * torch.tensor([0.06 * float(r[3]), 0.03 * float(r[4]), short])
    return step


@dataclass
class PairSet:
    """``N`` pairs at ``(S, S)``; images uint8, disparities float16, in scene units.

    Attributes: source (A's image), source_disparity, warped (A warped to B), valid,
    warped_disparity, target (B's true image), target_disparity.
    """

    source: torch.Tensor
    source_disparity: torch.Tensor
    warped: torch.Tensor
    valid: torch.Tensor
    warped_disparity: torch.Tensor
    target: torch.Tensor
    target_disparity: torch.Tensor

    def __len__(self) -> int:
        return self.source.shape[0]

    def to_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.__dict__)


def _u8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def make_pairs(count: int, size: int, seeds: range | list[int], worlds: int = 8, seed: int = 0, fov: float = 60.0) -> PairSet:
    """``count`` pairs from ``worlds`` worlds drawn from ``seeds`` (e.g. ``TRAIN_SEEDS``), rendered
    on the CPU (on a GPU they were made no faster)."""
    g = torch.Generator().manual_seed(seed)
    picks = torch.randperm(len(seeds), generator=g)[:worlds].tolist()
    K = intrinsics_from_fov(fov, size, size).unsqueeze(0)
    fields: dict[str, list[torch.Tensor]] = {k: [] for k in PairSet.__dataclass_fields__}
    bar = Progress(count, unit="pair", desc="render pairs", every=30.0)
    for w, pick in enumerate(picks):
        world = world_for_seed(list(seeds)[pick])
        n = count // worlds + (1 if w < count % worlds else 0)
        for _ in bar(range(n)):
            A = _random_camera(world, g)
            a = world.render(A[None], K, size, size)
            scale = median_depth_scale(a.disparity)  # A's median depth: world units per scene unit
            B = _motion(g, scale) @ A
            b = world.render(B[None], K, size, size)
            out = warp(a.image, a.disparity, K, relative_pose(B[None], A[None]))
            fields["source"].append(_u8(a.image))
            fields["source_disparity"].append((a.disparity * scale).half())
            fields["warped"].append(_u8(out.image))
            fields["valid"].append(out.valid)
            fields["warped_disparity"].append((out.disparity * scale).half())
            fields["target"].append(_u8(b.image))
            fields["target_disparity"].append((b.disparity * scale).half())
    return PairSet(**{k: torch.cat(v) for k, v in fields.items()})
