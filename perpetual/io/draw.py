"""Draw a camera path: top-down and side views with a frustum every few frames (PNG)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from perpetual.geometry import invert_pose
from perpetual.io.files import atomic_path
from perpetual.paths import CameraPath

_PANEL = 360
_MARGIN = 28


def _frustum(world_from_cam: torch.Tensor, size: float, fov: float, aspect: float) -> torch.Tensor:
    """Camera centre and the four corners of its image plane at distance ``size``, world ``(5, 3)``."""
    half_h = size * torch.tan(torch.deg2rad(torch.tensor(fov / 2.0, dtype=torch.float64)))
    half_w = half_h * aspect
    corners = torch.tensor([[0, 0, 0], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=torch.float64)
    corners = corners * torch.stack([half_w, half_h, torch.tensor(size, dtype=torch.float64)])
    return corners @ world_from_cam[:3, :3].T + world_from_cam[:3, 3]


def draw_path(path: CameraPath, out: str | Path, every: int | None = None) -> None:
    """Write a PNG: left, seen from above (x right, z up the page); right, from the side (z, altitude)."""
    world_from_cam = invert_pose(path.poses)
    centres = world_from_cam[:, :3, 3]
    every = every or max(1, len(path) // 12)
    extent = float((centres.max(0).values - centres.min(0).values).max().clamp_min(0.2))
    size = 0.08 * extent
    frusta = [_frustum(world_from_cam[i], size, float(path.fov[i]), path.width / path.height) for i in range(0, len(path), every)]
    pts = torch.cat([centres, *frusta])
    views = {"top (x, z)": (0, 2, 1.0), "side (z, up)": (2, 1, -1.0)}
    image = Image.new("RGB", (2 * _PANEL, _PANEL + 20), "white")
    draw = ImageDraw.Draw(image)
    for panel, (title, (a, b, flip)) in enumerate(views.items()):
        lo = torch.stack([pts[:, a].min(), (flip * pts[:, b]).min()])
        span = float(torch.stack([pts[:, a].max(), (flip * pts[:, b]).max()]).sub(lo).max().clamp_min(1e-6))
        scale = (_PANEL - 2 * _MARGIN) / span

        def to_px(p: torch.Tensor) -> tuple[float, float]:
            x = panel * _PANEL + _MARGIN + (float(p[a]) - float(lo[0])) * scale
            y = _PANEL - _MARGIN - (flip * float(p[b]) - float(lo[1])) * scale
            return x, y + 20

        draw.text((panel * _PANEL + 8, 4), title, fill="black")
        draw.line([to_px(p) for p in centres], fill=(40, 90, 200), width=2)
        for f in frusta:
            tip = to_px(f[0])
            for corner in f[1:]:
                draw.line([tip, to_px(corner)], fill=(200, 60, 40), width=1)
            draw.line([to_px(c) for c in (*f[1:], f[1])], fill=(200, 60, 40), width=1)
        start = to_px(centres[0])
        draw.ellipse([start[0] - 4, start[1] - 4, start[0] + 4, start[1] + 4], fill=(20, 160, 60))
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
