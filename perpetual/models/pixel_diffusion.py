"""The embedded inpainter: a small pixel-space diffusion model, sampled with DDIM in a few steps.

The UNet sees the noisy image with the conditioning stacked as channels: the warped colour with
its holes pre-filled by the classical push-pull fill, the valid mask and the completed disparity.
It predicts a correction to that fill, so its clean-image estimate (``prediction_type="sample"``)
is ``fill + UNet(...)``; with a zero output layer it starts as the classical fill, and training
only has to learn what the fill gets wrong (texture, edges, depth-aware continuation).

Sampling honours a per-pixel strength (differential diffusion): a pixel of strength ``s`` is held
to the input, noised to the current level, while the timestep is above ``s`` of the schedule and
denoised by the model after that; holes have strength 1, pixels of strength 0 stay exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perpetual.models.base import InpaintRequest, composite, strength_map
from perpetual.models.hub import refuse_custom_code
from perpetual.models.loading import auto_device, resolve
from perpetual.render import fill_holes

__all__ = ["PixelDiffusionInpainter", "clean_estimate", "conditioning", "noise_schedule"]


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
    """``(B, 5, H, W)`` in [-1, 1]: push-pull filled colour, valid mask, squashed disparity."""
    v = valid.to(image.dtype)
    filled = fill_holes(image, valid)
    squashed = disparity / (1.0 + disparity)  # scene units (median depth 1) -> [0, 1)
    return torch.cat([filled * 2 - 1, v * 2 - 1, squashed * 2 - 1], dim=1)


def clean_estimate(unet, noisy: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The model's clean image in [-1, 1], ``(B, 3, H, W)``: the conditioning's fill plus the UNet's correction."""
    return cond[:, :3] + unet(torch.cat([noisy, cond], dim=1), t).sample


class PixelDiffusionInpainter:
    """An :class:`~perpetual.models.Inpainter` from a ``UNet2DModel`` folder (``embedded:inpainter``),
    or from a ``unet`` object directly (as training does for its sample images); ``steps`` DDIM
    steps per call (None: :attr:`DEFAULT_STEPS`)."""

    DEFAULT_STEPS = 1  # the embedded model is trained for one step (more score lower on held-out holes)

    def __init__(self, name: str = "embedded:inpainter", steps: int | None = None, device: str | torch.device | None = None,
                 unet=None) -> None:
        from diffusers import UNet2DModel

        self.device = auto_device(device)
        # The shipped weights are stored in float16 (half the package); a 2.5 M-parameter UNet runs in float32.
        if unet is None:  # channels_last: about 10% faster convolutions on 2 CPU cores at 256², same results
            refuse_custom_code(resolve(name))
            unet = UNet2DModel.from_pretrained(resolve(name), torch_dtype=torch.float32, use_safetensors=True).to(memory_format=torch.channels_last)
        self.unet = unet.to(self.device).eval()
        self.scheduler = noise_schedule()
        self.steps = steps or self.DEFAULT_STEPS
        self.multiple = 2 ** (len(self.unet.config.block_out_channels) - 1)

    @torch.no_grad()
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        B, _, H, W = request.image.shape
        pad = lambda x: F.pad(x.to(self.device, torch.float32), (0, (-W) % self.multiple, 0, (-H) % self.multiple), mode="replicate")  # noqa: E731
        cond = pad(conditioning(request.image, request.valid, request.disparity))
        strength = pad(strength_map(request))
        known = cond[:, :3]
        gen = torch.Generator(device=self.device).manual_seed(int(request.seed))
        noise = torch.randn(known.shape, generator=gen, device=self.device)
        x = noise
        self.scheduler.set_timesteps(self.steps)
        T = self.scheduler.config.num_train_timesteps
        for t in self.scheduler.timesteps:
            held = strength * T < t  # still held to the input at this noise level
            x = torch.where(held, self.scheduler.add_noise(known, noise, t.view(1)), x)
            x = self.scheduler.step(clean_estimate(self.unet, x, cond, t), t, x, eta=0.0).prev_sample
        out = ((x[..., :H, :W] + 1) / 2).clamp(0, 1).to(request.image.device, request.image.dtype)
        return composite(request, out)
