"""The two model interfaces of the loop, and their non-learned implementations.

A :class:`DepthEstimator` maps images ``(B, 3, H, W)`` to relative disparity ``(B, 1, H, W)``
(affine-invariant: the engine aligns it). An :class:`Inpainter` fills the invalid pixels of a
rendered frame, given the completed disparity. Learned backends (transformers, diffusers, the
embedded models) implement the same protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from perpetual.render import fill_holes


@dataclass(frozen=True)
class InpaintRequest:
    """What an inpainter gets for one keyframe.

    Attributes:
        image: ``(B, 3, H, W)`` rendered colour, 0 where not valid.
        valid: ``(B, 1, H, W)`` bool.
        disparity: ``(B, 1, H, W)`` completed disparity (no holes; 0 is sky).
        prompt: text prompt (ignored by non-text backends).
        seed: random seed for this keyframe.
        strength: optional ``(B, 1, H, W)`` per-pixel refresh strength in [0, 1]: 1 in holes,
            small values lightly re-noise visible pixels, 0 keeps them exactly.
    """

    image: torch.Tensor
    valid: torch.Tensor
    disparity: torch.Tensor
    prompt: str = ""
    seed: int = 0
    strength: torch.Tensor | None = None


def strength_map(request: InpaintRequest) -> torch.Tensor:
    """``(B, 1, H, W)`` float per-pixel strength: the request's, raised to 1 in the holes (0 where valid if none)."""
    holes = (~request.valid).to(request.image.dtype)
    if request.strength is None:
        return holes
    return torch.maximum(request.strength.to(request.image.dtype).clamp(0.0, 1.0), holes)


def composite(request: InpaintRequest, out: torch.Tensor) -> torch.Tensor:
    """``out`` where the request's strength is above 0, the request's image (exact) elsewhere."""
    return torch.where(strength_map(request) > 0, out, request.image)


@runtime_checkable
class DepthEstimator(Protocol):
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Relative disparity ``(B, 1, H, W)`` of ``image`` ``(B, 3, H, W)``; larger is nearer."""
        ...


@runtime_checkable
class Inpainter(Protocol):
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        """The filled image ``(B, 3, H, W)``; pixels with strength 0 (default: valid) unchanged."""
        ...


class ClassicalInpainter:
    """Non-learned fill: smooth push-pull interpolation from the surrounding valid pixels.

    It only fills holes: a strength on visible pixels has nothing to refresh them with.
    """

    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        return fill_holes(request.image, request.valid)


class GroundPlaneDepth:
    """A geometric prior, not a learned model: a level ground plane below a horizon, sky above.

    Disparity grows linearly below the ``horizon`` row (a fraction of the height) and is 0
    above it. Used only where no depth model is configured; the engine aligns it to the rendered
    disparity like any relative estimate, so it matters only inside holes.
    """

    def __init__(self, horizon: float = 0.4) -> None:
        self.horizon = horizon

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        B, _, H, W = image.shape
        rows = torch.arange(H, dtype=image.dtype, device=image.device).view(1, 1, H, 1)
        disparity = ((rows - self.horizon * (H - 1)) / (H * (1.0 - self.horizon))).clamp_min(0.0)
        return disparity.expand(B, 1, H, W).contiguous()
