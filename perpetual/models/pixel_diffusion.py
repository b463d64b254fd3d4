"""The embedded inpainter: a small pixel-space diffusion model, sampled with DDIM in a few steps.

The UNet sees the noisy image with the conditioning (warped colour, valid mask, completed
disparity) stacked as channels, and predicts the clean image (``prediction_type="sample"``), so
a few deterministic DDIM steps give a sharp, depth-aware fill.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perpetual.models.base import InpaintRequest
from perpetual.models.loading import auto_device, resolve

__all__ = ["PixelDiffusionInpainter", "conditioning", "noise_schedule"]


def noise_schedule(train: bool = False):
    """The DDPM schedule the model was trained with (DDIM for sampling)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if train:
        return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="sample", clip_sample=True)
    # "trailing" spacing starts sampling at the last training step (pure noise), which a few-step
    # sampler needs: "leading" would start at t = 750 of 4 steps, or t = 0 of 1.
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="sample",
                         clip_sample=True, timestep_spacing="trailing")


def conditioning(image: torch.Tensor, valid: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """``(B, 5, H, W)`` in [-1, 1]: warped colour (0 in holes), valid mask, squashed disparity."""
    v = valid.to(image.dtype)
    squashed = disparity / (1.0 + disparity)  # scene units (median depth 1) -> [0, 1)
    return torch.cat([(image * 2 - 1) * v, v * 2 - 1, squashed * 2 - 1], dim=1)


class PixelDiffusionInpainter:
    """An :class:`~perpetual.models.Inpainter` from a ``UNet2DModel`` folder (``embedded:inpainter``),
    or from a ``unet`` object directly (as training does for its sample images)."""

    def __init__(self, name: str = "embedded:inpainter", steps: int = 8, device: str | torch.device | None = None, unet=None) -> None:
        from diffusers import UNet2DModel

        self.device = auto_device(device)
        self.unet = (unet if unet is not None else UNet2DModel.from_pretrained(resolve(name))).to(self.device).eval()
        self.scheduler = noise_schedule()
        self.steps = steps
        self.multiple = 2 ** (len(self.unet.config.block_out_channels) - 1)

    @torch.no_grad()
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        B, _, H, W = request.image.shape
        cond = conditioning(request.image, request.valid, request.disparity).to(self.device)
        pad_h, pad_w = (-H) % self.multiple, (-W) % self.multiple
        cond = F.pad(cond, (0, pad_w, 0, pad_h), mode="replicate")
        gen = torch.Generator(device=self.device).manual_seed(int(request.seed))
        x = torch.randn((B, 3, *cond.shape[-2:]), generator=gen, device=self.device)
        self.scheduler.set_timesteps(self.steps)
        for t in self.scheduler.timesteps:
            clean = self.unet(torch.cat([x, cond], dim=1), t).sample
            x = self.scheduler.step(clean, t, x, eta=0.0).prev_sample
        out = ((x[..., :H, :W] + 1) / 2).clamp(0, 1).to(request.image.device, request.image.dtype)
        return torch.where(request.valid, request.image, out)
