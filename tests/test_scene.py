"""The scene export (--ply): keyframes' land as coloured points in world coordinates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from plyfile import PlyData

import perpetual
from perpetual.frame import Frame
from perpetual.geometry import intrinsics_from_fov, look_at
from perpetual.io.scene import SceneCloud


def _frame(pose: torch.Tensor) -> tuple[Frame, torch.Tensor]:
    H, W = 24, 32
    image = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    disparity = torch.linspace(0.2, 1.0, H).view(1, 1, H, 1).expand(1, 1, H, W).clone()
    disparity[..., :6, :] = 0.0  # sky: the top rows
    return Frame(0, image, disparity, pose, True, 0.0), intrinsics_from_fov(torch.tensor([60.0]), H, W)


def test_points_sit_on_their_pixels_with_their_colours_and_sky_is_left_out():
    pose = look_at(torch.tensor([0.3, -0.2, -1.0], dtype=torch.float64), torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64))
    frame, K = _frame(pose)
    cloud = SceneCloud(voxel=1e-6)
    cloud.add(frame, K)
    land = frame.disparity[0, 0] > 0
    assert len(cloud.points) == int(land.sum())  # every land pixel, no sky
    cam = (pose[:3, :3].float() @ cloud.points.T + pose[:3, 3:].float())  # back into the camera
    pixels = K[0] @ (cam / cam[2:])
    u, v = pixels[0].round().long(), pixels[1].round().long()
    assert torch.allclose(pixels[:2], torch.stack([u, v]).float(), atol=1e-3)
    assert torch.allclose(1.0 / cam[2], frame.disparity[0, 0, v, u], rtol=1e-4)
    expected = (frame.image[0, :, v, u].T * 255).round().to(torch.uint8)
    assert torch.equal(cloud.colours, expected)


def test_duplicates_are_thinned_to_one_point_per_voxel():
    frame, K = _frame(torch.eye(4, dtype=torch.float64))
    cloud = SceneCloud(voxel=1e-6)
    cloud.add(frame, K)
    once = len(cloud.points)
    cloud.add(frame, K)  # the same surfaces seen again
    assert len(cloud.points) == once
    coarse = SceneCloud(voxel=0.5)
    coarse.add(frame, K)
    cells = torch.floor(coarse.points / 0.5).long()
    assert len(torch.unique(cells, dim=0)) == len(cells) < once
    with pytest.raises(ValueError, match="voxel"):
        SceneCloud(voxel=0)


def test_fly_writes_a_ply_and_a_resumed_run_writes_the_same_one(tmp_path):
    settings = dict(config="classical", frames=60, size=(64, 48), progress=False)
    whole = perpetual.fly(None, "forward", tmp_path / "a.mp4", ply=tmp_path / "a.ply", **settings)
    data = PlyData.read(str(tmp_path / "a.ply"))
    vertex = data["vertex"]
    assert [p.name for p in vertex.properties] == ["x", "y", "z", "red", "green", "blue"]
    assert 1000 < vertex.count <= whole.keyframes * 64 * 48
    assert np.isfinite(np.stack([vertex["x"], vertex["y"], vertex["z"]])).all()

    def interrupt(frame):
        if frame.index == 45:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        perpetual.fly(None, "forward", tmp_path / "b.mp4", ply=tmp_path / "b.ply", on_frame=interrupt, **settings)
    assert not (tmp_path / "b.ply").exists()  # nothing under the final name until the run completes
    resumed = perpetual.fly(None, "forward", tmp_path / "b.mp4", ply=tmp_path / "b.ply", resume=True, **settings)
    assert resumed.made < 60
    assert (tmp_path / "a.ply").read_bytes() == (tmp_path / "b.ply").read_bytes()
    assert math.isclose(vertex["z"].max(), PlyData.read(str(tmp_path / "b.ply"))["vertex"]["z"].max())
