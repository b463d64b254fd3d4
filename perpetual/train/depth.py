"""``perpetual train depth``: the embedded depth model, scale-and-shift-invariant on world renders."""

from __future__ import annotations

from pathlib import Path

import torch

from perpetual.models.depth import normalise
from perpetual.models.embedded import tiny_depth_model
from perpetual.train.common import fit, load_or_make_pairs
from perpetual.train.data import TRAIN_SEEDS

__all__ = ["ssi_loss", "train_depth"]


def ssi_loss(pred: torch.Tensor, target: torch.Tensor, relative: float = 0.0) -> torch.Tensor:
    """Scale-and-shift-invariant loss (MiDaS): align ``pred`` to ``target`` per image by least squares.

    Both ``(B, H, W)`` disparities; the fit is closed form and differentiable. The loss is the
    aligned MSE (normalised by the target's variance) plus ``relative`` times the mean relative
    disparity error, which is the relative depth error that depth metrics (delta < 1.25) count,
    so far ground is not neglected.
    """
    p, t = pred.flatten(1), target.flatten(1)
    pm, tm = p.mean(1, keepdim=True), t.mean(1, keepdim=True)
    scale = ((p - pm) * (t - tm)).sum(1, keepdim=True) / ((p - pm) ** 2).sum(1, keepdim=True).clamp_min(1e-8)
    aligned = scale * (p - pm) + tm
    loss = ((aligned - t) ** 2).mean() / (t.var(1).mean().clamp_min(1e-8))
    if relative:
        loss = loss + relative * ((aligned - t).abs() / (t + 0.05)).mean()
    return loss


def train_depth(out: Path, steps: int, batch: int, pairs_count: int, size: int, lr: float = 2e-3, seed: int = 0,
                save_every: int = 500, pairs_file: Path | None = None, relative: float = 0.0) -> Path:
    """Train (resuming from ``out/checkpoint`` if there); returns the folder of the final model."""
    torch.manual_seed(seed)
    pairs_file = pairs_file or out / f"pairs-{pairs_count}-{size}.safetensors"
    pairs = load_or_make_pairs(pairs_file, pairs_count, size, TRAIN_SEEDS, worlds=min(24, pairs_count), seed=seed)
    images = torch.cat([pairs.source, pairs.target])
    truth = torch.cat([pairs.source_disparity, pairs.target_disparity]).float()
    model = tiny_depth_model()

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, len(images), (batch,), generator=g)
        x = images[index].float() / 255
        y = truth[index, 0]
        if bool(torch.rand(1, generator=g) < 0.5):
            x, y = x.flip(-1), y.flip(-1)
        pred = model(pixel_values=normalise(x)).predicted_depth
        return ssi_loss(pred, y, relative=relative)

    return fit("depth", model, loss_fn, out, steps, lr, seed, save_every)
