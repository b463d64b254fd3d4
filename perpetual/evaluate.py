"""``perpetual eval``: the embedded models against the classical fill and the truth, on held-out worlds.

Inpainting: PSNR, SSIM and mean absolute error on the hole pixels of warped pairs (A warped to B
by our renderer) against B's true render. Depth: AbsRel and delta < 1.25 after a least-squares
scale and shift in disparity, on the ground (non-sky) pixels of true renders.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from kornia.metrics import ssim

from perpetual.align import align_disparity
from perpetual.models.base import DepthEstimator, Inpainter, InpaintRequest
from perpetual.render import complete_disparity
from perpetual.train.data import EVAL_SEEDS, PairSet, make_pairs

__all__ = ["DepthScores", "HoleScores", "eval_depth", "eval_inpainter", "held_out_pairs"]


@dataclass(frozen=True)
class HoleScores:
    psnr: float
    ssim: float
    mae: float
    pairs: int
    hole_fraction: float


@dataclass(frozen=True)
class DepthScores:
    abs_rel: float
    delta_1: float
    images: int


def held_out_pairs(count: int = 300, size: int = 112, worlds: int = 6, seed: int = 1) -> PairSet:
    """Pairs from worlds never used in training (seeds 1000+)."""
    return make_pairs(count, size, EVAL_SEEDS, worlds=worlds, seed=seed)


def eval_inpainter(inpainter: Inpainter, pairs: PairSet, batch: int = 16) -> HoleScores:
    """Scores on hole pixels (pairs with no hole are skipped)."""
    se = ae = n = ssim_sum = 0.0
    used = 0
    for i in range(0, len(pairs), batch):
        sl = slice(i, i + batch)
        valid = pairs.valid[sl]
        holes = ~valid
        keep = holes.flatten(1).any(1)
        if not bool(keep.any()):
            continue
        warped = pairs.warped[sl][keep].float() / 255
        target = pairs.target[sl][keep].float() / 255
        valid, holes = valid[keep], holes[keep]
        disparity = complete_disparity(pairs.warped_disparity[sl][keep].float(), valid)
        filled = inpainter(InpaintRequest(warped, valid, disparity, seed=i))
        mask = holes.expand_as(target)
        se += float(((filled - target) ** 2)[mask].sum())
        ae += float((filled - target).abs()[mask].sum())
        ssim_sum += float(ssim(filled, target, 7)[mask].sum())
        n += float(mask.sum())
        used += int(keep.sum())
    return HoleScores(psnr=10 * math.log10(n / max(se, 1e-12)), ssim=ssim_sum / n, mae=ae / n, pairs=used,
                      hole_fraction=float((~pairs.valid).float().mean()))


def eval_depth(depth: DepthEstimator, pairs: PairSet, batch: int = 16) -> DepthScores:
    """AbsRel and delta < 1.25 in depth, after scale and shift alignment in disparity."""
    abs_rel, good, count = 0.0, 0.0, 0.0
    for i in range(0, len(pairs), batch):
        image = pairs.source[i : i + batch].float() / 255
        truth = pairs.source_disparity[i : i + batch].float()
        pred = depth(image)
        aligned = align_disparity(pred, truth, torch.ones_like(truth, dtype=torch.bool))
        ground = truth > 0
        z_true = 1.0 / truth[ground]
        z_pred = 1.0 / aligned[ground].clamp_min(1e-3)
        abs_rel += float(((z_pred - z_true).abs() / z_true).sum())
        good += float((torch.maximum(z_pred / z_true, z_true / z_pred) < 1.25).sum())
        count += float(ground.sum())
    return DepthScores(abs_rel=abs_rel / count, delta_1=good / count, images=len(pairs))


def report(scores: dict[str, HoleScores | DepthScores]) -> tuple[str, dict]:
    """A printable table and a JSON-ready dict."""
    lines = []
    for name, s in scores.items():
        if isinstance(s, HoleScores):
            lines.append(f"{name:<28} hole PSNR {s.psnr:6.2f} dB  SSIM {s.ssim:.4f}  MAE {s.mae:.4f}  ({s.pairs} pairs, {s.hole_fraction:.1%} holes)")
        else:
            lines.append(f"{name:<28} AbsRel {s.abs_rel:.4f}  delta<1.25 {s.delta_1:.4f}  ({s.images} images)")
    return "\n".join(lines), {k: asdict(v) for k, v in scores.items()}
