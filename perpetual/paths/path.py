"""The camera path: poses, intrinsics, size and timing of every frame, as data."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from perpetual.geometry import intrinsics_from_fov, invert_pose, is_rigid, level_turns
from perpetual.paths.interpolate import interp1d, interpolate_poses

__all__ = ["CameraPath"]


@dataclass(frozen=True)
class CameraPath:
    """A camera path.

    Attributes:
        poses: ``(N, 4, 4)`` float64 ``cam_from_world`` (OpenCV cameras). The world frame is the
            first camera of the flight; translations are in scene units (the first frame's median
            depth is 1).
        fov: ``(N,)`` vertical field of view per frame, degrees.
        width, height: frame size in pixels.
        fps: frames per second.
        pivot: ``(N,)`` how far ahead of each camera, along its axis, lies the point its turn is
            made about: an orbit's target; 0 (the default), the camera's own centre. Levelling
            (:meth:`levelled`) turns each camera about it.
    """

    poses: torch.Tensor
    fov: torch.Tensor
    width: int = 256
    height: int = 256
    fps: float = 30.0
    pivot: torch.Tensor | None = None

    def __post_init__(self) -> None:
        poses = torch.as_tensor(self.poses, dtype=torch.float64)
        if poses.dim() == 2:
            poses = poses.unsqueeze(0)
        fov = torch.as_tensor(self.fov, dtype=torch.float64)
        fov = fov.expand(poses.shape[0]).clone() if fov.dim() == 0 else fov
        pivot = torch.zeros(poses.shape[0], dtype=torch.float64) if self.pivot is None else torch.as_tensor(self.pivot, dtype=torch.float64)
        object.__setattr__(self, "poses", poses)
        object.__setattr__(self, "fov", fov)
        object.__setattr__(self, "pivot", pivot)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first problem: shapes, rigidity, fov, size, fps."""
        n = self.poses.shape[0]
        if self.poses.dim() != 3 or self.poses.shape[1:] != (4, 4) or n == 0:
            raise ValueError(f"camera path poses must have shape (N, 4, 4) with N >= 1, got {tuple(self.poses.shape)}")
        if self.fov.shape != (n,):
            raise ValueError(f"camera path needs one fov per pose ({n}), got shape {tuple(self.fov.shape)}")
        if self.pivot.shape != (n,) or not bool(torch.isfinite(self.pivot).all()):
            raise ValueError(f"camera path needs one finite pivot distance per pose ({n}), got shape {tuple(self.pivot.shape)}")
        if not bool(torch.isfinite(self.poses).all()):
            bad = int((~torch.isfinite(self.poses)).flatten(1).any(1).nonzero()[0])
            raise ValueError(f"camera path pose {bad} is not finite (NaN or inf)")
        rigid = is_rigid(self.poses, atol=1e-4)
        if not bool(rigid.all()):
            bad = int((~rigid).nonzero()[0])
            raise ValueError(f"camera path pose {bad} is not a rigid transform (rotation must be orthonormal, det +1)")
        if not bool(((self.fov > 0) & (self.fov < 180)).all()):
            bad = int((~((self.fov > 0) & (self.fov < 180))).nonzero()[0])
            raise ValueError(f"camera path fov at frame {bad} is {float(self.fov[bad])}; it must be in (0, 180) degrees")
        if self.width < 2 or self.height < 2:
            raise ValueError(f"frame size must be at least 2x2 pixels, got {self.width}x{self.height}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return self.poses.shape[0]

    def __getitem__(self, index: int | slice) -> CameraPath:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return replace(self, poses=self.poses[index], fov=self.fov[index], pivot=self.pivot[index])

    def __add__(self, other: CameraPath) -> CameraPath:
        """``a + b``: ``b`` flown on from ``a``'s last camera (``b``'s first frame is that camera)."""
        rebase = invert_pose(other.poses[0]) @ self.poses[-1]  # b's world -> a's world
        moved = other.poses[1:] @ rebase
        return replace(self, poses=torch.cat([self.poses, moved]), fov=torch.cat([self.fov, other.fov[1:]]),
                       pivot=torch.cat([self.pivot, other.pivot[1:]]))

    @property
    def times(self) -> torch.Tensor:
        """``(N,)`` seconds of each frame."""
        return torch.arange(len(self), dtype=torch.float64) / self.fps

    @property
    def seconds(self) -> float:
        return len(self) / self.fps

    def centres(self) -> torch.Tensor:
        """``(N, 3)`` camera centres in world coordinates."""
        return invert_pose(self.poses)[:, :3, 3]

    def pose_at(self, progress: float) -> torch.Tensor:
        """``cam_from_world`` ``(4, 4)`` at fractional frame ``progress``: the pose at whole frames,
        between them centres interpolated linearly and rotations by slerp."""
        i = min(int(math.floor(progress)), len(self) - 2)
        if len(self) < 2 or progress == i:
            return self.poses[max(0, min(i, len(self) - 1))]
        keys = torch.tensor([float(i), float(i + 1)], dtype=torch.float64)
        return interpolate_poses(keys, self.poses[i : i + 2], torch.tensor([progress], dtype=torch.float64))[0]

    def intrinsics(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(N, 3, 3)`` pixel intrinsics of every frame."""
        return intrinsics_from_fov(self.fov.to(dtype), self.height, self.width, dtype=dtype)

    def reversed(self) -> CameraPath:
        return replace(self, poses=self.poses.flip(0), fov=self.fov.flip(0), pivot=self.pivot.flip(0))

    def resampled(self, frames: int) -> CameraPath:
        """The same flight over ``frames`` frames, smoothly interpolated (see ``from_waypoints``)."""
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        keys = torch.linspace(0.0, 1.0, len(self), dtype=torch.float64)
        at = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)
        if len(self) == 1:
            return replace(self, poses=self.poses.expand(frames, 4, 4).clone(), fov=self.fov.expand(frames).clone(),
                           pivot=self.pivot.expand(frames).clone())
        poses = interpolate_poses(keys, self.poses, at)
        return replace(self, poses=poses, fov=interp1d(keys, self.fov, at), pivot=interp1d(keys, self.pivot, at))

    def levelled(self, tilt: float, moves: bool = True) -> CameraPath:
        """The same flight for a first camera pitched so that its row ``tilt`` radians above its
        axis (up positive) looks at the horizon: its turns made about the level axes
        (:func:`~perpetual.geometry.level_turns`), so that a pan keeps the horizon level. With
        ``moves`` its moves are levelled too, as a dolly carries the camera level: a camera that
        looks down at the ground ahead flies over it, not into it. Without, each camera is turned
        about its :attr:`pivot`, which stays where the path put it: a camera stays there, and an
        orbit circles its target on a level circle. A path that never turns stays, without
        ``moves``."""
        return replace(self, poses=level_turns(self.poses, tilt, self.pivot, moves))

    def with_size(self, width: int, height: int) -> CameraPath:
        return replace(self, width=width, height=height)
