"""Shared fixtures: small synthetic RGB-D scenes with analytically known geometry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

from perpetual.geometry import intrinsics_from_fov


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request) -> torch.dtype:
    return request.param


def smooth_image(height: int, width: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A random image ``(1, 3, H, W)`` blurred once so that bilinear reads vary smoothly."""
    gen = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 3, height, width, generator=gen, dtype=dtype)
    return F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, 1)


def camera(height: int, width: int, fov: float = 60.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return intrinsics_from_fov(fov, height, width, dtype=dtype).unsqueeze(0)


def pose(translation=(0.0, 0.0, 0.0), axis_angle=(0.0, 0.0, 0.0), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``dst_from_src`` ``(1, 4, 4)`` from a translation and an axis-angle rotation."""
    T = torch.eye(4, dtype=dtype).unsqueeze(0).clone()
    T[0, :3, :3] = axis_angle_to_rotation_matrix(torch.tensor([axis_angle], dtype=dtype))[0]
    T[0, :3, 3] = torch.tensor(translation, dtype=dtype)
    return T


def ground_and_sky(height: int, width: int, horizon: float = 0.35, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Disparity ``(1, 1, H, W)`` of a ground plane below a horizon row, sky (0) above it."""
    rows = torch.arange(height, dtype=dtype).view(height, 1).expand(height, width)
    return ((rows - height * horizon) / (height * 0.5)).clamp_min(0).view(1, 1, height, width)


def random_scene(seed: int, height: int = 24, width: int = 32, dtype: torch.dtype = torch.float64):
    """Ground, sky and two boxes in front, seen from a random nearby camera."""
    gen = torch.Generator().manual_seed(seed)
    d = ground_and_sky(height, width, dtype=dtype).clone()
    for _ in range(2):
        y0 = int(torch.randint(0, height - 6, (1,), generator=gen))
        x0 = int(torch.randint(0, width - 6, (1,), generator=gen))
        h = int(torch.randint(3, 8, (1,), generator=gen))
        w = int(torch.randint(3, 10, (1,), generator=gen))
        level = 0.8 + 0.6 * float(torch.rand(1, generator=gen))
        d[..., y0 : y0 + h, x0 : x0 + w] = d[..., y0 : y0 + h, x0 : x0 + w].clamp_min(level)
    rot = ((torch.rand(3, generator=gen, dtype=dtype) - 0.5) * 0.1).tolist()
    trans = ((torch.rand(3, generator=gen, dtype=dtype) - 0.5) * 0.3).tolist()
    return smooth_image(height, width, seed, dtype), d, camera(height, width, dtype=dtype), pose(trans, rot, dtype)


def model_free(**sections):
    """The settings of the fast engine tests: the ground-plane depth prior and the classical fill
    (no learned models), no detail grain, no open sky, the path flown at its own speed
    (``guard.fit`` off); ``sections`` replace whole sections."""
    from dataclasses import replace

    from perpetual.config import Config, DriftSettings, EngineSettings, GuardSettings, ModelSettings

    base = Config(engine=EngineSettings(open_sky=False), drift=DriftSettings(detail=0.0), guard=GuardSettings(fit=False),
                  models=ModelSettings(depth="ground-plane", inpainter="classical", sky_prior=False))
    return replace(base, **sections)
