"""Camera geometry in perpetual's single convention. Pure tensor code.

Conventions (also in docs/renderer.md):

* Cameras are OpenCV: x right, y down, z forward. Intrinsics ``K`` are ``(B, 3, 3)`` in pixels
  with pixel centres at integer coordinates (as kornia and ``grid_sample(align_corners=True)``).
* Poses are ``cam_from_world`` ``(B, 4, 4)``; transforms are named ``dst_from_src``.
* Geometry is disparity ``(B, 1, H, W)`` = 1 / z-depth; disparity 0 is a point at infinity (sky).

Points are carried *homogeneously* as ``(x, y, z, w) = (ray, disparity)`` where ``ray`` is the
pixel's ray with z = 1. The Euclidean point is ``ray / disparity``; ``w = 0`` is a direction at
infinity, which a rigid transform moves by its rotation only. So sky needs no inf or NaN.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from kornia.geometry.depth import unproject_meshgrid
from kornia.geometry.linalg import inverse_transformation

__all__ = [
    "Projection",
    "check_shape",
    "disparity_to_points",
    "fov_from_intrinsics",
    "intrinsics_from_fov",
    "invert_pose",
    "is_rigid",
    "level_turns",
    "look_at",
    "opencv_to_opengl",
    "opengl_to_opencv",
    "pitch_turn",
    "pixel_grid",
    "pixel_jacobian",
    "project_points",
    "relative_pose",
    "reproject",
    "rotation_angle",
    "stretch",
    "transfer",
    "transfer_matrix",
    "transform_points",
    "unproject_pixels",
    "world_points",
]

# Points whose camera-space z is below this are treated as behind the camera.
NEAR_EPS = 1e-6


def check_shape(name: str, tensor: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``shape`` (``None`` matches any size)."""
    ok = tensor.dim() == len(shape) and all(s is None or s == t for s, t in zip(shape, tensor.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(tensor.shape)}")


def intrinsics_from_fov(
    fov_deg: float | torch.Tensor,
    height: int,
    width: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Pinhole intrinsics from a vertical field of view, square pixels, centred principal point.

    The image spans ``[-0.5, H - 0.5]`` vertically, so ``fy = (H / 2) / tan(fov / 2)`` and the
    principal point is ``((W - 1) / 2, (H - 1) / 2)``.

    Args:
        fov_deg: vertical field of view in degrees, a float or a ``(B,)`` tensor.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        ``(3, 3)`` for a float fov, ``(B, 3, 3)`` for a ``(B,)`` tensor.

    Example:
        >>> K = intrinsics_from_fov(90.0, 4, 6)
        >>> K[0, 0].item(), K[0, 2].item(), K[1, 2].item()
        (2.0, 2.5, 1.5)
    """
    fov = torch.as_tensor(fov_deg, device=device, dtype=dtype)
    if not bool(((fov > 0) & (fov < 180)).all()):
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = (height / 2.0) / torch.tan(torch.deg2rad(fov) / 2.0)
    K = torch.zeros(fov.shape + (3, 3), device=fov.device, dtype=dtype)
    K[..., 0, 0] = focal
    K[..., 1, 1] = focal
    K[..., 0, 2] = (width - 1) / 2.0
    K[..., 1, 2] = (height - 1) / 2.0
    K[..., 2, 2] = 1.0
    return K


def fov_from_intrinsics(K: torch.Tensor, height: int) -> torch.Tensor:
    """Vertical field of view in degrees of ``K`` ``(..., 3, 3)`` for an image ``height`` tall."""
    return torch.rad2deg(2.0 * torch.atan((height / 2.0) / K[..., 1, 1]))


def look_at(
    eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None
) -> torch.Tensor:
    """``cam_from_world`` of an OpenCV camera at ``eye`` looking at ``target``.

    Args:
        eye: camera centre ``(..., 3)`` in world coordinates.
        target: point to look at ``(..., 3)``.
        up: world up ``(..., 3)``; default ``(0, -1, 0)`` (world up is -y, as the first camera's).

    Returns:
        ``(..., 4, 4)`` world-to-camera transform.

    Example:
        >>> T = look_at(torch.zeros(3), torch.tensor([0.0, 0.0, 5.0]))
        >>> torch.allclose(T, torch.eye(4))
        True
    """
    if up is None:
        up = torch.tensor([0.0, -1.0, 0.0], dtype=eye.dtype, device=eye.device)
    forward = target - eye
    z = forward / forward.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = torch.linalg.cross(z, up.expand_as(z), dim=-1)
    x_norm = x.norm(dim=-1, keepdim=True)
    if bool((x_norm < 1e-9).any()):
        raise ValueError("look_at: view direction is parallel to the up vector")
    x = x / x_norm
    y = torch.linalg.cross(z, x, dim=-1)
    rot = torch.stack([x, y, z], dim=-2)  # rows are the camera axes in world coordinates
    T = torch.zeros(eye.shape[:-1] + (4, 4), dtype=eye.dtype, device=eye.device)
    T[..., :3, :3] = rot
    T[..., :3, 3] = -(rot @ eye.unsqueeze(-1)).squeeze(-1)
    T[..., 3, 3] = 1.0
    return T


def pitch_turn(tilt: float, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """``(4, 4)``: the rotation about a camera's x axis that turns its ray ``tilt`` radians above
    its axis (up positive: the plane through the x axis at that angle, one of its rows) onto the
    axis. ``pitch_turn(tilt) @ cam_from_world`` is the camera levelled to that row."""
    c, s = math.cos(tilt), math.sin(tilt)
    turn = torch.eye(4, dtype=dtype, device=device)
    turn[1, 1], turn[1, 2], turn[2, 1], turn[2, 2] = c, s, -s, c
    return turn


def level_turns(poses: torch.Tensor, tilt: float, pivot: torch.Tensor | None = None, moves: bool = False) -> torch.Tensor:
    """``cam_from_world`` poses ``(N, 4, 4)`` (float64; the world frame is a first camera pitched
    so that its row ``tilt`` radians above its axis is the horizon) with their turns made about the
    level axes instead of that camera's own (``R⁻¹ P R``, ``R`` :func:`pitch_turn`), as a tripod
    head turns a tilted camera about the vertical: yawing keeps the horizon level. Each camera is
    turned about the point ``pivot`` ``(N,)`` ahead of it on its axis (default 0: its centre),
    which stays put; with ``moves``, the moves are levelled too (each pose turned about the
    first camera's centre), as a dolly carries a camera level. The identity stays."""
    turn = pitch_turn(tilt, poses.dtype, poses.device)
    levelled = invert_pose(turn) @ poses @ turn
    if moves:
        return levelled
    centres = invert_pose(poses)[:, :3, 3]
    if pivot is not None:  # row 2 of a rotation is the camera's axis in the world
        centres = centres + pivot[:, None] * (poses[:, 2, :3] - levelled[:, 2, :3])
    levelled[:, :3, 3:] = -levelled[:, :3, :3] @ centres.unsqueeze(-1)
    return levelled


def invert_pose(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms ``(..., 4, 4)``: ``a_from_b -> b_from_a``."""
    lead = T.shape[:-2]
    return inverse_transformation(T.reshape(-1, 4, 4)).reshape(lead + (4, 4))


def relative_pose(dst_cam_from_world: torch.Tensor, src_cam_from_world: torch.Tensor) -> torch.Tensor:
    """``dst_from_src = dst_cam_from_world @ inverse(src_cam_from_world)``, shapes ``(..., 4, 4)``."""
    return dst_cam_from_world @ invert_pose(src_cam_from_world)


_FLIP_YZ = (1.0, -1.0, -1.0, 1.0)


def opencv_to_opengl(world_from_cam: torch.Tensor) -> torch.Tensor:
    """Camera-to-world ``(..., 4, 4)`` of an OpenCV camera -> the same camera in OpenGL axes.

    OpenGL cameras look down -z with y up; only the camera's own axes flip (y and z), the world
    frame is unchanged. The conversion is its own inverse; use it only at file boundaries.
    """
    flip = torch.tensor(_FLIP_YZ, dtype=world_from_cam.dtype, device=world_from_cam.device)
    return world_from_cam * flip  # scales columns: world_from_cam @ diag(1, -1, -1, 1)


def opengl_to_opencv(world_from_cam: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`opencv_to_opengl` (the same axis flip)."""
    return opencv_to_opengl(world_from_cam)


def pixel_grid(
    height: int, width: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Pixel centre coordinates ``(1, 2, H, W)``: channel 0 is u (column), channel 1 is v (row).

    Cached per size, device and dtype: treat the result as read-only.
    """
    return _pixel_grid(height, width, torch.device(device or "cpu"), dtype)


@functools.lru_cache(maxsize=16)
def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([u, v]).unsqueeze(0)


def pixel_jacobian(uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Jacobian of a pixel map ``uv`` ``(B, 2, H, W)`` (each pixel's value: the point it maps
    to) as its two columns ``(d uv / d x, d uv / d y)``, ``(B, 2, H, W)`` each. Differences are
    one-sided, the shorter of the two per axis, so a jump in ``uv`` (a depth edge) does not read
    as a stretch; border pixels take their one neighbour's difference."""

    def derivative(dim: int) -> torch.Tensor:
        step = uv.diff(dim=dim)
        ahead = torch.cat([step, step.narrow(dim, -1, 1)], dim=dim)
        behind = torch.cat([step.narrow(dim, 0, 1), step], dim=dim)
        return torch.where(_squared_length(ahead) < _squared_length(behind), ahead, behind)

    return derivative(3), derivative(2)


def stretch(du: torch.Tensor, dv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How a pixel map shrinks and stretches around each pixel: the smaller and larger singular
    values ``(B, 1, H, W)`` of its Jacobian, given as the columns ``du``, ``dv`` ``(B, 2, H, W)``
    of :func:`pixel_jacobian`. Their product is the map's local change of area."""
    a, c, b, d = du[:, 0:1], du[:, 1:2], dv[:, 0:1], dv[:, 1:2]
    total = a * a + b * b + c * c + d * d
    det = a * d - b * c
    root = (total * total - 4 * det * det).clamp_min(0).sqrt()
    return ((total - root) / 2).clamp_min(0).sqrt(), ((total + root) / 2).sqrt()


def _squared_length(v: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` squared length of ``(B, 2, H, W)`` vectors (torch's ``norm`` over a channel
    dimension is several times slower on the CPU)."""
    return v[:, 0:1] * v[:, 0:1] + v[:, 1:2] * v[:, 1:2]


def disparity_to_points(disparity: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift every pixel to a homogeneous camera-space point ``(ray, disparity)``.

    Args:
        disparity: ``(B, 1, H, W)``, >= 0; 0 is a point at infinity.
        K: intrinsics ``(B, 3, 3)``.

    Returns:
        ``(B, 4, H, W)`` points ``(x, y, 1, d)`` with ``(x, y, 1)`` the pixel ray (kornia's
        ``unproject_meshgrid``); the Euclidean point is ``(x, y, 1) / d``.
    """
    B, _, H, W = disparity.shape
    check_shape("disparity", disparity, (B, 1, H, W))
    check_shape("K", K, (B, 3, 3))
    rays = unproject_meshgrid(H, W, K, device=disparity.device, dtype=disparity.dtype)  # (B, H, W, 3)
    return torch.cat([rays.permute(0, 3, 1, 2), disparity], dim=1)


def unproject_pixels(uv: torch.Tensor, disparity: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Homogeneous points ``(B, 4, H, W)`` of pixels ``uv`` ``(B, 2, H, W)`` at ``disparity`` ``(B, 1, H, W)``.

    The inverse of :func:`project_points`; on the pixel grid it equals :func:`disparity_to_points`.
    """
    B = uv.shape[0]
    check_shape("K", K, (B, 3, 3))
    fx, fy = K[:, 0, 0].view(B, 1, 1, 1), K[:, 1, 1].view(B, 1, 1, 1)
    cx, cy = K[:, 0, 2].view(B, 1, 1, 1), K[:, 1, 2].view(B, 1, 1, 1)
    skew = K[:, 0, 1].view(B, 1, 1, 1)
    y = (uv[:, 1:2] - cy) / fy
    x = (uv[:, 0:1] - cx - skew * y) / fx
    return torch.cat([x, y, torch.ones_like(x), disparity], dim=1)


def transform_points(dst_from_src: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``(B, 4, 4)`` transforms to homogeneous points ``(B, 4, H, W)``."""
    B = points.shape[0]
    check_shape("dst_from_src", dst_from_src, (B, 4, 4))
    return torch.einsum("bij,bjhw->bihw", dst_from_src, points)


@dataclass(frozen=True)
class Projection:
    """Homogeneous points projected into a camera.

    Attributes:
        uv: pixel coordinates ``(B, 2, H, W)`` (u = column, v = row); points behind the camera
            carry a far-off-image placeholder so that no inf/NaN appears.
        disparity: disparity in that camera ``(B, 1, H, W)``; 0 for directions at infinity.
        in_front: ``(B, 1, H, W)`` bool, the point lies in front of the camera.
    """

    uv: torch.Tensor
    disparity: torch.Tensor
    in_front: torch.Tensor


# Where points behind the camera are "projected": finite, and far outside any image.
OFF_IMAGE = 1e6


def world_points(disparity: torch.Tensor, K: torch.Tensor, cam_from_world: torch.Tensor, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The world points ``(3, N)`` (float64) of a frame's land, and where they are: a mask
    ``(h, w)`` over every ``stride``-th pixel of its disparity ``(1, 1, H, W)`` (sky, 0, left out),
    with intrinsics ``K`` ``(1, 3, 3)`` and pose ``cam_from_world`` ``(4, 4)``."""
    H, W = disparity.shape[-2:]
    d = disparity[0, 0, ::stride, ::stride].cpu().double()
    uv = pixel_grid(H, W, dtype=torch.float64)[0, :, ::stride, ::stride]
    land = d > 0
    z = 1.0 / d[land]
    rays = torch.linalg.inv(K[0].cpu().double()) @ torch.stack([uv[0][land], uv[1][land], torch.ones_like(z)])
    world_from_cam = invert_pose(cam_from_world.cpu().double())
    return world_from_cam[:3, :3] @ (rays * z) + world_from_cam[:3, 3:], land


def project_points(points: torch.Tensor, K: torch.Tensor) -> Projection:
    """Project homogeneous camera-space points ``(B, 4, H, W)`` with intrinsics ``K`` ``(B, 3, 3)``.

    For ``q = (x, y, z, w)``: pixel ``= K (x, y, z) / z``, disparity ``= w / z``.
    """
    B = points.shape[0]
    check_shape("K", K, (B, 3, 3))
    z = points[:, 2:3]
    in_front = z > NEAR_EPS
    z_safe = torch.where(in_front, z, torch.ones_like(z))
    x, y = points[:, 0:1] / z_safe, points[:, 1:2] / z_safe
    fx, fy = K[:, 0, 0].view(B, 1, 1, 1), K[:, 1, 1].view(B, 1, 1, 1)
    cx, cy = K[:, 0, 2].view(B, 1, 1, 1), K[:, 1, 2].view(B, 1, 1, 1)
    skew = K[:, 0, 1].view(B, 1, 1, 1)
    uv = torch.cat([fx * x + skew * y + cx, fy * y + cy], dim=1)
    uv = torch.where(in_front, uv, torch.full_like(uv, OFF_IMAGE))
    disparity = torch.where(in_front, points[:, 3:4] / z_safe, torch.zeros_like(z))
    return Projection(uv=uv, disparity=disparity, in_front=in_front)


def transfer_matrix(K: torch.Tensor, dst_from_src: torch.Tensor, K_dst: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(B, 4, 4)`` map from source ``(u, v, 1, d)`` to destination homogeneous pixels.

    ``M = diag(K_dst, 1) @ dst_from_src @ diag(K^-1, 1)``. For ``h = M (u, v, 1, d)``, the point
    lands at pixel ``(h0, h1) / h2`` with disparity ``h3 / h2``, and is in front when ``h2 > 0``.
    """
    B = dst_from_src.shape[0]
    check_shape("K", K, (B, 3, 3))
    check_shape("dst_from_src", dst_from_src, (B, 4, 4))
    K_dst = K if K_dst is None else K_dst
    check_shape("K_dst", K_dst, (B, 3, 3))
    lift = torch.zeros_like(dst_from_src)
    lift[:, :3, :3] = torch.linalg.inv_ex(K).inverse  # no singularity check: a host sync on a GPU
    lift[:, 3, 3] = 1.0
    drop = torch.zeros_like(dst_from_src)
    drop[:, :3, :3] = K_dst
    drop[:, 3, 3] = 1.0
    return drop @ dst_from_src @ lift


def transfer(M: torch.Tensor, uv: torch.Tensor, disparity: torch.Tensor) -> Projection:
    """Move pixels ``uv`` ``(B, 2, H, W)`` at ``disparity`` ``(B, 1, H, W)`` by a :func:`transfer_matrix`.

    One small matrix product per pixel: the fast path of the renderer.
    """
    B, _, H, W = uv.shape
    check_shape("M", M, (B, 4, 4))
    uvd = torch.cat([uv, disparity], dim=1).view(B, 3, H * W)
    h = torch.baddbmm(M[:, :, 2:3], torch.cat([M[:, :, 0:2], M[:, :, 3:4]], dim=2), uvd).view(B, 4, H, W)
    z = h[:, 2:3]
    in_front = z > NEAR_EPS
    behind = (~in_front).to(uv.dtype)
    inv_z = z.clamp_min(NEAR_EPS).reciprocal() * (1.0 - behind)
    uv_out = torch.addcmul(behind * OFF_IMAGE, h[:, 0:2], inv_z)
    return Projection(uv=uv_out, disparity=h[:, 3:4] * inv_z, in_front=in_front)


def reproject(
    disparity: torch.Tensor, K: torch.Tensor, dst_from_src: torch.Tensor, K_dst: torch.Tensor | None = None
) -> Projection:
    """Where every source pixel lands in the destination camera.

    Args:
        disparity: source disparity ``(B, 1, H, W)``.
        K: source intrinsics ``(B, 3, 3)``.
        dst_from_src: ``(B, 4, 4)`` rigid transform from source to destination camera.
        K_dst: destination intrinsics ``(B, 3, 3)``; defaults to ``K``.

    Returns:
        :class:`Projection` of the source pixels into the destination, ``(B, ·, H, W)``.

    Example:
        >>> K = intrinsics_from_fov(60.0, 4, 4).unsqueeze(0)
        >>> p = reproject(torch.zeros(1, 1, 4, 4), K, torch.eye(4).unsqueeze(0))
        >>> torch.allclose(p.uv, pixel_grid(4, 4))
        True
    """
    B, _, H, W = disparity.shape
    check_shape("disparity", disparity, (B, 1, H, W))
    grid = pixel_grid(H, W, device=disparity.device, dtype=disparity.dtype).expand(B, 2, H, W)
    return transfer(transfer_matrix(K, dst_from_src, K_dst), grid, disparity)


def rotation_angle(T: torch.Tensor) -> torch.Tensor:
    """Rotation angle in radians of rigid transforms ``(..., 4, 4)``."""
    trace = T[..., 0, 0] + T[..., 1, 1] + T[..., 2, 2]
    return torch.acos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0))


def is_rigid(T: torch.Tensor, atol: float = 1e-4) -> torch.Tensor:
    """``(...)`` bool: finite, orthonormal rotation with determinant +1, last row ``(0, 0, 0, 1)``."""
    R = T[..., :3, :3]
    eye = torch.eye(3, dtype=T.dtype, device=T.device)
    finite = torch.isfinite(T).flatten(-2).all(-1)
    ortho = ((R @ R.transpose(-1, -2) - eye).abs() <= atol).flatten(-2).all(-1)
    det = (torch.linalg.det(R) - 1.0).abs() <= atol
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=T.dtype, device=T.device)
    last = ((T[..., 3, :] - bottom).abs() <= atol).all(-1)
    return finite & ortho & det & last

