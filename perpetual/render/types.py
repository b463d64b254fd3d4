"""Settings and results of the renderer, and the input checks every warp shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from perpetual.geometry import check_shape


@dataclass(frozen=True)
class WarpSettings:
    """How :func:`perpetual.render.warp` renders.

    Attributes:
        mode: ``"hard"``: z-buffered splat of disparity, crack closing, then a backward lookup of
            colour (sharp, crack-free, occlusion exact; the renderer of the flythrough loop).
            ``"soft"``: softmax splatting (smooth everywhere; for optimisation and training).
        max_stretch: two neighbouring source pixels that land farther apart than this many
            destination pixels are torn apart: the surface is split there (a depth edge) and
            nothing is drawn across the gap. Diagonal neighbours may land ``sqrt(2)`` times as far.
        crack_passes: 3x3 closing passes over the z-buffer (hard mode). Each pass closes
            cracks up to 2 pixels wide, enough for magnification up to ``max_stretch = 3``.
        iterations: Newton steps of the lookup on the source quad mesh (hard mode).
        max_reprojection_error: a destination pixel is valid only if the surface point found for
            it reprojects within this many pixels of it (hard mode).
        sampling: how colour is read at the source points found (hard mode): ``"bilinear"``, or
            ``"cubic"``: clamped Catmull-Rom, except next to torn quads (depth edges), where it
            falls back to bilinear. Cubic keeps detail over hundreds of repeated resamplings
            (long flights); bilinear matches the reference renderer exactly.
        compile: run the hard renderer's per-pixel kernels (z-buffer, quad table, lookup, cubic
            reads) through ``torch.compile``: about 2x faster warps on CPU (2.5x on an H100) after a
            one-time compile of tens of seconds (see :mod:`perpetual.render.compiled`). Same results.
        graph: on CUDA, replay the hard warp as one CUDA graph per input shape (captured on first
            use; inputs that require gradients stay eager): the same results without the launch
            cost of its ~870 small ops (see :mod:`perpetual.render.graphed`).
        sky_apart: (hard mode) sky (disparity 0, at infinity) and ground are never one surface:
            where they meet the ground keeps half a pixel around each skyline pixel, and the sky
            fills the gap a sinking skyline opens (a hole where it is wider than ``max_stretch``).
            Off, the quad between a skyline pixel and the sky is drawn as a surface and stretches
            as the land moves: flying forward, peaks smear up into the sky. Off by default: over
            long autopilot flights the sky it shows where unseen land would rise reads as open
            space (see docs/long-flights.md).
        softmax_sharpness: how strongly nearer points win in soft mode: weights are
            ``exp(sharpness * disparity)``, disparity in scene units (the median depth of the first
            frame is 1).
        min_coverage: in soft mode a pixel is valid when the bilinear splat weights reaching it sum
            to at least this.
    """

    mode: Literal["hard", "soft"] = "hard"
    max_stretch: float = 3.0
    crack_passes: int = 1
    iterations: int = 3
    max_reprojection_error: float = 0.1
    sampling: Literal["bilinear", "cubic"] = "bilinear"
    compile: bool = False
    graph: bool = True
    sky_apart: bool = False
    softmax_sharpness: float = 20.0
    min_coverage: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("hard", "soft"):
            raise ValueError(f"WarpSettings.mode must be 'hard' or 'soft', got {self.mode!r}")
        if self.sampling not in ("bilinear", "cubic"):
            raise ValueError(f"WarpSettings.sampling must be 'bilinear' or 'cubic', got {self.sampling!r}")
        if self.max_stretch < 1.0:
            raise ValueError(f"WarpSettings.max_stretch must be >= 1 pixel, got {self.max_stretch}")
        if self.crack_passes < 0 or self.iterations < 1:
            raise ValueError("WarpSettings: crack_passes must be >= 0 and iterations >= 1")


@dataclass(frozen=True)
class Warped:
    """A source RGB-D frame rendered into a destination camera.

    Attributes:
        image: ``(B, C, Hd, Wd)`` colour; 0 where not valid.
        disparity: ``(B, 1, Hd, Wd)`` disparity in the destination camera; 0 where not valid
            (and 0 for sky, which is valid).
        valid: ``(B, 1, Hd, Wd)`` bool; False where disoccluded, torn across a depth edge, or
            out of the source view.
        source_uv: ``(B, 2, Hd, Wd)`` the source pixel each destination pixel shows (u, v); only
            meaningful where ``valid``.
    """

    image: torch.Tensor
    disparity: torch.Tensor
    valid: torch.Tensor
    source_uv: torch.Tensor

    @property
    def invalid_fraction(self) -> torch.Tensor:
        """``(B,)`` share of destination pixels that are not valid."""
        return 1.0 - self.valid.flatten(1).float().mean(1)


def check_warp_inputs(
    image: torch.Tensor,
    disparity: torch.Tensor,
    K: torch.Tensor,
    dst_from_src: torch.Tensor,
    K_dst: torch.Tensor | None,
    size: tuple[int, int] | None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Validate warp inputs; return ``K_dst`` and the destination ``(height, width)``."""
    if image.dim() != 4:
        raise ValueError(f"image must have shape (B, C, H, W), got {tuple(image.shape)}")
    B, _, H, W = image.shape
    if H < 2 or W < 2:
        raise ValueError(f"images must be at least 2x2 pixels, got {H}x{W}")
    check_shape("disparity", disparity, (B, 1, H, W))
    check_shape("K", K, (B, 3, 3))
    if not bool((torch.linalg.det(K.detach()) != 0).all()):
        raise ValueError("K must be invertible intrinsics (nonzero focal lengths)")
    check_shape("dst_from_src", dst_from_src, (B, 4, 4))
    if K_dst is None:
        K_dst = K
    check_shape("K_dst", K_dst, (B, 3, 3))
    size = (H, W) if size is None else (int(size[0]), int(size[1]))
    if size[0] < 2 or size[1] < 2:
        raise ValueError(f"destination size must be at least 2x2, got {size}")
    return K_dst, size
