"""``perpetual train inpainter``: the embedded pixel-diffusion inpainter, a DDPM on world pairs.

Loss: the clean image predicted from a noised one (``prediction_type="sample"``, as the classical
fill plus the UNet's correction), on random crops, weighted toward the holes; the visible pixels
count too, so the model also learns to restore what warping blurred (used when the engine
lightly refreshes visible pixels).
"""

from __future__ import annotations

from pathlib import Path

import torch

from perpetual.models.embedded import tiny_inpainter_unet
from perpetual.models.pixel_diffusion import clean_estimate, conditioning, noise_schedule
from perpetual.render import complete_disparity
from perpetual.train.common import fit, save_samples, training_pairs
from perpetual.train.settings import InpainterTraining

__all__ = ["InpainterTraining", "batch_tensors", "initial_inpainter_unet", "train_inpainter"]

HOLE_WEIGHT = 1.0


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


def initial_inpainter_unet(init: str | None = None):
    """The embedded architecture with its zero output layer, or the weights of ``init`` (a folder
    written by ``perpetual train inpainter`` or ``embedded:inpainter``) to fine-tune."""
    if not init:
        return tiny_inpainter_unet()
    import json

    from diffusers import UNet2DModel

    from perpetual.models.embedded import INPAINT_CHANNELS
    from perpetual.models.loading import resolve

    folder = Path(resolve(init))
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    if config.get("_class_name") != "UNet2DModel" or config.get("in_channels") != INPAINT_CHANNELS:
        raise ValueError(f"--init {init}: not a pixel-diffusion inpainter (a UNet2DModel folder with {INPAINT_CHANNELS} "
                         "input channels, as 'perpetual train inpainter' writes, or embedded:inpainter)")
    return UNet2DModel.from_pretrained(folder, torch_dtype=torch.float32)


def train_inpainter(out: Path, training: InpainterTraining = InpainterTraining(), device: str | torch.device = "cpu",
                    pairs_file: Path | None = None) -> Path:
    """Train (resuming from ``out/checkpoint`` if there); returns the folder of the final model.

    ``device``: where the model trains (the pairs are rendered and batches drawn on the CPU).
    ``pairs_file``: the cached training pairs, if not the run folder's own.
    """
    torch.manual_seed(training.seed)
    if training.crop > training.size:
        raise ValueError(f"the inpainter's crop ({training.crop}) must fit in the training render size ({training.size})")
    model = initial_inpainter_unet(training.init or None).to(device)
    pairs = training_pairs(out, training, pairs_file)
    batch, crop, high_noise, visible_weight = training.batch, training.crop, training.high_noise, training.visible_weight
    schedule = noise_schedule(train=True)

    def loss_fn(g: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, len(pairs), (batch,), generator=g)
        warped, valid, disparity, target = batch_tensors(pairs, index, crop, g)
        clean = target * 2 - 1
        T = schedule.config.num_train_timesteps
        t = torch.randint(0, T, (batch,), generator=g)
        t = torch.where(torch.rand(batch, generator=g) < high_noise, torch.randint(int(0.6 * T), T, (batch,), generator=g), t)
        noisy = schedule.add_noise(clean, torch.randn(clean.shape, generator=g), t)
        warped, valid, disparity, clean, noisy, t = (x.to(device) for x in (warped, valid, disparity, clean, noisy, t))
        pred = clean_estimate(model, noisy, conditioning(warped, valid, disparity), t)
        weight = torch.where(valid, visible_weight, HOLE_WEIGHT)
        return (weight * (pred - clean) ** 2).mean()

    def samples(step: int) -> None:
        """A PNG per checkpoint: warped input | classical fill | this model | truth, the first four pairs."""
        from perpetual.models.pixel_diffusion import PixelDiffusionInpainter
        from perpetual.models.base import ClassicalInpainter, InpaintRequest

        sampler = PixelDiffusionInpainter(device=device, unet=model)
        rows = []
        for i in range(min(4, len(pairs))):
            warped, valid = pairs.warped[i : i + 1].float() / 255, pairs.valid[i : i + 1]
            req = InpaintRequest(warped, valid, complete_disparity(pairs.warped_disparity[i : i + 1].float(), valid), seed=i)
            row = [warped, ClassicalInpainter()(req), sampler(req), pairs.target[i : i + 1].float() / 255]
            rows.append(torch.cat(row, dim=3))
        save_samples(out, step, rows)

    return fit("inpainter", model, loss_fn, out, training, on_checkpoint=samples)
