import math

import pytest
import torch
from kornia.geometry.camera.perspective import project_points as kornia_project
from kornia.geometry.camera.perspective import unproject_points as kornia_unproject

from perpetual import geometry as g
from tests.conftest import camera, pose


def test_intrinsics_round_trip_fov():
    K = g.intrinsics_from_fov(50.0, 120, 200)
    assert K[0, 2].item() == pytest.approx(99.5) and K[1, 2].item() == pytest.approx(59.5)
    assert g.fov_from_intrinsics(K, 120).item() == pytest.approx(50.0, abs=1e-4)
    # The top edge of the image (v = -0.5) is half the fov above the optical axis.
    assert math.degrees(math.atan((59.5 + 0.5) / K[1, 1].item())) == pytest.approx(25.0, abs=1e-4)


@pytest.mark.parametrize("fov", [0.0, -5.0, 180.0])
def test_intrinsics_reject_bad_fov(fov):
    with pytest.raises(ValueError, match="field of view"):
        g.intrinsics_from_fov(fov, 10, 10)


def test_look_at_axes_and_target():
    eye = torch.tensor([1.0, -2.0, 0.5])
    target = torch.tensor([4.0, -1.0, 6.0])
    T = g.look_at(eye, target)
    assert bool(g.is_rigid(T))
    cam_eye = T @ torch.cat([eye, torch.ones(1)])
    cam_target = T @ torch.cat([target, torch.ones(1)])
    assert torch.allclose(cam_eye[:3], torch.zeros(3), atol=1e-6)
    # The target is straight ahead on the optical axis; world up (-y) points to image up (-y).
    assert torch.allclose(cam_target[:2], torch.zeros(2), atol=1e-5) and cam_target[2] > 0
    up_in_cam = T[:3, :3] @ torch.tensor([0.0, -1.0, 0.0])
    assert up_in_cam[1] < 0 and abs(up_in_cam[0]) < 1e-6


def test_look_at_rejects_vertical_view():
    with pytest.raises(ValueError, match="parallel"):
        g.look_at(torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))


def test_pose_inverse_and_relative(dtype):
    a = pose((0.3, -0.1, 0.2), (0.1, 0.2, -0.3), dtype)[0]
    b = pose((-0.2, 0.4, 1.0), (-0.2, 0.05, 0.1), dtype)[0]
    eye = torch.eye(4, dtype=dtype)
    assert torch.allclose(a @ g.invert_pose(a), eye, atol=1e-6)
    b_from_a = g.relative_pose(b, a)
    assert torch.allclose(b_from_a @ a, b, atol=1e-6)


def test_opencv_opengl_round_trip():
    c2w = g.invert_pose(pose((0.3, -0.1, 0.2), (0.1, 0.2, -0.3))[0])
    gl = g.opencv_to_opengl(c2w)
    assert torch.allclose(g.opengl_to_opencv(gl), c2w)
    # The OpenGL camera looks down its -z: the OpenCV forward axis is minus the third column.
    assert torch.allclose(gl[:3, 2], -c2w[:3, 2]) and torch.allclose(gl[:3, 1], -c2w[:3, 1])
    assert torch.allclose(gl[:3, 3], c2w[:3, 3])


def test_unproject_project_round_trip_matches_kornia(dtype):
    H, W = 7, 9
    K = camera(H, W, dtype=dtype)
    disparity = torch.rand(1, 1, H, W, dtype=dtype) + 0.1
    points = g.disparity_to_points(disparity, K)
    euclid = (points[:, :3] / points[:, 3:4]).permute(0, 2, 3, 1)  # (1, H, W, 3)
    uv = g.pixel_grid(H, W, dtype=dtype).permute(0, 2, 3, 1)
    theirs = kornia_unproject(uv, 1.0 / disparity.permute(0, 2, 3, 1), K[:, None, None])
    assert torch.allclose(euclid, theirs, atol=1e-6)
    assert torch.allclose(g.unproject_pixels(g.pixel_grid(H, W, dtype=dtype), disparity, K), points)
    proj = g.project_points(points, K)
    assert torch.allclose(proj.uv, g.pixel_grid(H, W, dtype=dtype), atol=1e-5)
    assert torch.allclose(proj.disparity, disparity, atol=1e-6)
    assert torch.allclose(proj.uv.permute(0, 2, 3, 1), kornia_project(euclid, K[:, None, None]), atol=1e-4)


def test_sky_is_a_direction_moved_by_rotation_only():
    H, W = 6, 8
    K = camera(H, W)
    sky = torch.zeros(1, 1, H, W)
    moved = g.reproject(sky, K, pose(translation=(5.0, -3.0, 20.0)))
    assert torch.allclose(moved.uv, g.pixel_grid(H, W), atol=1e-4)
    assert torch.all(moved.disparity == 0)
    turned = g.reproject(sky, K, pose(axis_angle=(0.0, 0.1, 0.0)))
    assert not torch.allclose(turned.uv, g.pixel_grid(H, W), atol=1e-2)


def test_transfer_matches_unproject_transform_project(dtype):
    H, W = 5, 6
    K, T = camera(H, W, dtype=dtype), pose((0.2, -0.1, 0.3), (0.05, -0.1, 0.02), dtype)
    K_dst = g.intrinsics_from_fov(45.0, H, W, dtype=dtype).unsqueeze(0)
    d = torch.rand(1, 1, H, W, dtype=dtype)
    slow = g.project_points(g.transform_points(T, g.disparity_to_points(d, K)), K_dst)
    fast = g.reproject(d, K, T, K_dst)
    assert torch.allclose(fast.uv, slow.uv, atol=1e-4) and torch.allclose(fast.disparity, slow.disparity, atol=1e-6)


def test_points_behind_camera_are_flagged_and_finite():
    K = camera(4, 4)
    moved = g.reproject(torch.full((1, 1, 4, 4), 1.0), K, pose(translation=(0.0, 0.0, -2.0)))
    assert not moved.in_front.any()
    assert torch.isfinite(moved.uv).all() and (moved.uv.abs() > 1e5).all()


def test_is_rigid_detects_bad_matrices():
    good = pose((1.0, 2.0, 3.0), (0.3, 0.2, 0.1))[0]
    assert bool(g.is_rigid(good))
    scaled = good.clone()
    scaled[:3, :3] *= 1.1
    nan = good.clone()
    nan[0, 3] = float("nan")
    assert not bool(g.is_rigid(scaled)) and not bool(g.is_rigid(nan))


def test_shape_errors_are_value_errors():
    with pytest.raises(ValueError, match=r"K must have shape \(1, 3, 3\)"):
        g.disparity_to_points(torch.zeros(1, 1, 4, 4), torch.eye(3))
