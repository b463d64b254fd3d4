"""``perpetual train depth``: the embedded depth model, scale-and-shift-invariant on world renders."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from perpetual.models.depth import _MEAN, _STD
from perpetual.models.embedded import tiny_depth_model
from perpetual.train.common import load_checkpoint, load_or_make_pairs, save_checkpoint, update_ema
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
                save_every: int = 500, pairs_file: Path | None = None, relative: float = 0.5) -> Path:
    """Train (resuming from ``out/checkpoint`` if there); returns the folder of the final model."""
    torch.manual_seed(seed)
    pairs_file = pairs_file or out / f"pairs-{pairs_count}-{size}.safetensors"
    pairs = load_or_make_pairs(pairs_file, pairs_count, size, TRAIN_SEEDS, worlds=min(24, pairs_count), seed=seed)
    images = torch.cat([pairs.source, pairs.target])
    truth = torch.cat([pairs.source_disparity, pairs.target_disparity]).float()
    model = tiny_depth_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    start, ema = 0, {n: p.detach().clone() for n, p in model.named_parameters()}
    if (out / "checkpoint" / "state.json").exists():
        start, ema = load_checkpoint(out / "checkpoint", model, optimizer)
        print(f"resuming depth training at step {start}")
    g = torch.Generator().manual_seed(seed + start)
    model.train()
    began = time.perf_counter()
    bar = tqdm(range(start, steps), initial=start, total=steps, unit="step", disable=None)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
        index = torch.randint(0, len(images), (batch,), generator=g)
        x = images[index].float() / 255
        y = truth[index, 0]
        if bool(torch.rand(1, generator=g) < 0.5):
            x, y = x.flip(-1), y.flip(-1)
        pred = model(pixel_values=(x - _MEAN) / _STD).predicted_depth
        loss = ssi_loss(pred, y, relative=relative)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        update_ema(ema, model, decay=min(0.999, (1 + step) / (10 + step)))
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % save_every == 0 or step + 1 == steps:
            save_checkpoint(out / "checkpoint", model, ema, optimizer, step + 1)
    final = out / "final"
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(ema[name])
    model.save_pretrained(final, safe_serialization=True)
    print(f"depth: {steps - start} steps in {time.perf_counter() - began:.0f} s -> {final}")
    return final
