"""A flight's scene as a point cloud: every keyframe's land, coloured, in world coordinates,
written as a binary PLY (``plyfile``) that MeshLab, Blender and CloudCompare read.

The world frame is the flight's (poses.json's): the first camera at the origin, x right,
y down, z forward (OpenCV), in scene units (frame 0's median depth is 1). Sky is left out;
points that fall in one voxel of ``voxel`` scene units are one point (the first keyframe's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from perpetual.frame import Frame
from perpetual.geometry import world_points
from perpetual.io.files import atomic_path

__all__ = ["SceneCloud"]


class SceneCloud:
    """Collects keyframes' surface points ``(N, 3)`` and colours ``(N, 3)`` (uint8), thinned to
    one per voxel as they come, so memory grows with the scene's extent, not the frame count."""

    def __init__(self, voxel: float = 0.005) -> None:
        if not voxel > 0:
            raise ValueError(f"the scene's voxel size must be above 0, got {voxel}")
        self.voxel = voxel
        self.points = torch.zeros(0, 3, dtype=torch.float32)
        self.colours = torch.zeros(0, 3, dtype=torch.uint8)

    def add(self, frame: Frame, K: torch.Tensor) -> None:
        """A keyframe's land (``frame.disparity > 0``) with its colours; ``K`` ``(1, 3, 3)``."""
        points, land = world_points(frame.disparity, K, frame.pose)
        colours = (frame.image[0].cpu().clamp(0, 1) * 255).round().to(torch.uint8)[:, land]
        self.points = torch.cat([self.points, points.T.float()])
        self.colours = torch.cat([self.colours, colours.T])
        self._thin()

    def _thin(self) -> None:
        cells = torch.floor(self.points / self.voxel).long()
        _, group = torch.unique(cells, dim=0, return_inverse=True)
        order = torch.arange(len(cells))
        first = torch.full((int(group.max()) + 1 if len(group) else 0,), len(cells), dtype=torch.long)
        first = first.scatter_reduce(0, group, order, reduce="amin")
        keep = torch.sort(first).values
        self.points, self.colours = self.points[keep], self.colours[keep]

    def state(self) -> dict[str, torch.Tensor]:
        """What a resumed run needs to continue the cloud."""
        return {"scene_points": self.points.contiguous(), "scene_colours": self.colours.contiguous()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        self.points, self.colours = tensors["scene_points"], tensors["scene_colours"]

    def save(self, file: str | Path) -> None:
        """A binary little-endian PLY of ``vertex`` elements: x, y, z (float) and red, green, blue (uchar)."""
        from plyfile import PlyData, PlyElement

        vertex = np.empty(len(self.points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
        for i, axis in enumerate("xyz"):
            vertex[axis] = self.points[:, i].numpy()
        for i, channel in enumerate(("red", "green", "blue")):
            vertex[channel] = self.colours[:, i].numpy()
        with atomic_path(file) as tmp:
            PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(tmp))
