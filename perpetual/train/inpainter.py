"""``perpetual train inpainter``: the embedded pixel-diffusion inpainter, a DDPM on world pairs.

Loss: the clean image predicted from a noised one (``prediction_type="sample"``), on random
crops, weighted toward the holes (visible pixels are given and composited anyway).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from perpetual.models.embedded import tiny_inpainter_unet
from perpetual.models.pixel_diffusion import conditioning, noise_schedule
from perpetual.render import complete_disparity
from perpetual.train.common import load_checkpoint, load_or_make_pairs, save_checkpoint, update_ema
from perpetual.train.data import TRAIN_SEEDS

__all__ = ["batch_tensors", "train_inpainter"]

HOLE_WEIGHT, VISIBLE_WEIGHT = 1.0, 0.1


def batch_tensors(pairs, index: torch.Tensor, crop: int, g: torch.Generator):
    """Random crops (with flips): warped image, valid, completed disparity, target; float32."""
    S = pairs.source.shape[-1]
    y, x = (torch.randint(0, S - crop + 1, (2,), generator=g)).tolist()
    sl = (index, slice(None), slice(y, y + crop), slice(x, x + crop))
    warped = pairs.warped[sl].float() / 255
    valid = pairs.valid[sl]
    disparity = complete_disparity(pairs.warped_disparity[sl].float(), valid)
    target = pairs.target[sl].float() / 255
    if bool(torch.rand(1, generator=g) < 0.5):
        warped, valid, disparity, target = (t.flip(-1) for t in (warped, valid, disparity, target))
    return warped, valid, disparity, target


def train_inpainter(out: Path, steps: int, batch: int, crop: int, pairs_count: int, size: int, lr: float = 1e-3,
                    seed: int = 0, sample_every: int = 500, pairs_file: Path | None = None) -> Path:
    """Train (resuming from ``out/checkpoint`` if there); returns the folder of the final model."""
    torch.manual_seed(seed)
    pairs_file = pairs_file or out / f"pairs-{pairs_count}-{size}.safetensors"
    pairs = load_or_make_pairs(pairs_file, pairs_count, size, TRAIN_SEEDS, worlds=min(24, pairs_count), seed=seed)
    model = tiny_inpainter_unet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = noise_schedule(train=True)
    start, ema = 0, {n: p.detach().clone() for n, p in model.named_parameters()}
    if (out / "checkpoint" / "state.json").exists():
        start, ema = load_checkpoint(out / "checkpoint", model, optimizer)
        print(f"resuming inpainter training at step {start}")
    g = torch.Generator().manual_seed(seed + start)
    model.train()
    began = time.perf_counter()
    bar = tqdm(range(start, steps), initial=start, total=steps, unit="step", disable=None)
    for step in bar:
        for group in optimizer.param_groups:  # warm-up, then cosine decay
            group["lr"] = lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / steps))
        index = torch.randint(0, len(pairs), (batch,), generator=g)
        warped, valid, disparity, target = batch_tensors(pairs, index, crop, g)
        clean = target * 2 - 1
        t = torch.randint(0, schedule.config.num_train_timesteps, (batch,), generator=g)
        noisy = schedule.add_noise(clean, torch.randn(clean.shape, generator=g), t)
        pred = model(torch.cat([noisy, conditioning(warped, valid, disparity)], dim=1), t).sample
        weight = torch.where(valid, VISIBLE_WEIGHT, HOLE_WEIGHT)
        loss = (weight * (pred - clean) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        update_ema(ema, model, decay=min(0.999, (1 + step) / (10 + step)))
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % sample_every == 0 or step + 1 == steps:
            save_checkpoint(out / "checkpoint", model, ema, optimizer, step + 1)
    final = out / "final"
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(ema[name])
    model.save_pretrained(final, safe_serialization=True)
    print(f"inpainter: {steps - start} steps in {time.perf_counter() - began:.0f} s -> {final}")
    return final
