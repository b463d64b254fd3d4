"""Quaternion helpers for smooth camera rotations, on kornia's ``(w, x, y, z)`` conversions."""

from __future__ import annotations

import torch
from kornia.geometry.conversions import (
    quaternion_exp_to_log,
    quaternion_log_to_exp,
    quaternion_to_rotation_matrix,
    rotation_matrix_to_quaternion,
)

__all__ = ["matrix_to_quaternion", "quaternion_to_matrix", "slerp", "squad", "squad_controls"]


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotations ``(N, 3, 3)`` -> unit quaternions ``(N, 4)`` made sign-continuous along N."""
    q = rotation_matrix_to_quaternion(R.contiguous())
    q = q / q.norm(dim=-1, keepdim=True)
    out = [q[0]]
    for k in range(1, q.shape[0]):  # q and -q are one rotation: keep neighbours on one side
        out.append(q[k] if float((q[k] * out[-1]).sum()) >= 0 else -q[k])
    return torch.stack(out)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    return quaternion_to_rotation_matrix(q)


def _mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def _conj(q: torch.Tensor) -> torch.Tensor:
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def _log(q: torch.Tensor) -> torch.Tensor:
    q = torch.where(q[..., :1] < 0, -q, q)  # the short way round
    return quaternion_exp_to_log(q)


def slerp(q0: torch.Tensor, q1: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation ``(..., 4)`` at ``u`` ``(...)`` in [0, 1], the short way round."""
    return _mul(q0, quaternion_log_to_exp(u.unsqueeze(-1) * _log(_mul(_conj(q0), q1))))


def squad_controls(q: torch.Tensor) -> torch.Tensor:
    """Shoemake's inner control quaternions ``(N, 4)`` for a sign-continuous key sequence ``(N, 4)``."""
    prev = torch.cat([q[:1], q[:-1]])
    nxt = torch.cat([q[1:], q[-1:]])
    inv = _conj(q)
    tangent = -(_log(_mul(inv, nxt)) + _log(_mul(inv, prev))) / 4.0
    return _mul(q, quaternion_log_to_exp(tangent))


def squad(q0: torch.Tensor, q1: torch.Tensor, s0: torch.Tensor, s1: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Spherical quadrangle interpolation: passes through ``q0`` (u=0) and ``q1`` (u=1), smoothly."""
    return slerp(slerp(q0, q1, u), slerp(s0, s1, u), 2.0 * u * (1.0 - u))
