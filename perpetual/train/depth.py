"""``perpetual train depth``: the embedded depth model, scale-and-shift-invariant on world renders."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from perpetual.models.depth import normalise
from perpetual.models.embedded import tiny_depth_model
from perpetual.train.common import fit, save_samples, training_pairs
from perpetual.train.settings import DepthTraining
from perpetual.train.skies import photographic_look, photographic_skies

__all__ = ["DepthTraining", "finer_patches", "initial_depth_model", "ssi_loss", "train_depth"]


_PATCHES = "backbone.embeddings.patch_embeddings.projection.weight"
_POSITIONS = "backbone.embeddings.position_embeddings"


def finer_patches(state: dict[str, torch.Tensor], patch: int, grid: int) -> dict[str, torch.Tensor]:
    """A DINOv2-backbone state dict carried over to ``patch``-pixel patches on a ``grid`` x ``grid`` token grid.

    A patch of ``f * patch`` pixels becomes ``patch``: each new kernel tap sums the ``f x f`` old
    taps it covers (the model then sees the image as if upsampled ``f`` times, which is where it
    starts), and the position embeddings are resampled bicubically, as DINOv2 does at other sizes.
    """
    if _PATCHES not in state or _POSITIONS not in state:
        raise ValueError("can only start from a Depth Anything model with a DINOv2 backbone")
    state = dict(state)
    kernel = state[_PATCHES]
    old = kernel.shape[-1]
    if old != patch:
        if old % patch:
            raise ValueError(f"can only start from patches a whole multiple of {patch} pixels, not {old}")
        f = old // patch
        state[_PATCHES] = kernel.view(*kernel.shape[:2], patch, f, patch, f).sum((3, 5))
    positions = state[_POSITIONS]
    side = round((positions.shape[1] - 1) ** 0.5)
    if side != grid:
        table = positions[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(grid, grid), mode="bicubic", align_corners=False)
        state[_POSITIONS] = torch.cat([positions[:, :1], table.permute(0, 2, 3, 1).flatten(1, 2)], 1)
    return state


def initial_depth_model(init: str | None = None):
    """The embedded architecture, fresh or starting from the weights of ``init`` (a model folder or
    ``embedded:depth``), carried over to its patch size if ``init`` used coarser patches."""
    model = tiny_depth_model()
    if init:
        from transformers import AutoModelForDepthEstimation

        from perpetual.models.loading import resolve

        backbone = model.config.backbone_config
        state = AutoModelForDepthEstimation.from_pretrained(resolve(init)).state_dict()
        model.load_state_dict(finer_patches(state, backbone.patch_size, backbone.image_size // backbone.patch_size))
    return model


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


def train_depth(out: Path, training: DepthTraining = DepthTraining(), device: str | torch.device = "cpu",
                pairs_file: Path | None = None) -> Path:
    """Train (resuming from ``out/checkpoint`` if there); returns the folder of the final model.

    ``device``: where the model trains (the pairs are rendered and batches drawn on the CPU).
    ``pairs_file``: the cached training pairs, if not the run folder's own.
    """
    torch.manual_seed(training.seed)
    model = initial_depth_model(training.init or None).to(device)
    patch = model.config.backbone_config.patch_size
    if training.size % patch:
        raise ValueError(f"the depth model's training size must be a multiple of its {patch}-pixel patches, got --size {training.size}")
    pairs = training_pairs(out, training, pairs_file)
    batch, relative = training.batch, training.relative
    images = torch.cat([pairs.source, pairs.target])
    truth = torch.cat([pairs.source_disparity, pairs.target_disparity]).float()

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, len(images), (batch,), generator=g)
        x = images[index].float() / 255
        y = truth[index, 0]
        if bool(torch.rand(1, generator=g) < 0.5):
            x, y = x.flip(-1), y.flip(-1)
        if training.skies > 0:
            repaint = (torch.rand(batch, generator=g) < training.skies).view(-1, 1, 1, 1)
            x = photographic_look(torch.where(repaint, photographic_skies(x, (y == 0).unsqueeze(1), g), x), g)
        x, y = x.to(device), y.to(device)
        pred = model(pixel_values=normalise(x)).predicted_depth
        return ssi_loss(pred, y, relative=relative)

    def samples(step: int) -> None:
        """A PNG per checkpoint: image | prediction (aligned to the truth) | true disparity, the first four pairs."""
        from perpetual.align import align_disparity
        from perpetual.io.video import colourise_disparity

        rows = []
        for i in range(min(4, len(pairs))):
            x, y = pairs.source[i : i + 1].float() / 255, pairs.source_disparity[i : i + 1].float()
            pred = model(pixel_values=normalise(x.to(device))).predicted_depth.unsqueeze(1).cpu()
            pred = align_disparity(pred, y, torch.ones_like(y, dtype=torch.bool))
            near = float(y.max().clamp_min(1e-6))
            rows.append(torch.cat([x, colourise_disparity(pred, near=near), colourise_disparity(y, near=near)], dim=3))
        save_samples(out, step, rows)

    return fit("depth", model, loss_fn, out, training, on_checkpoint=samples)
