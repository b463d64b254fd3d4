"""Latent-diffusion inpainters on diffusers: SD inpainting, optionally with a depth ControlNet.

The loop's completed disparity conditions the ControlNet (near is bright, as MiDaS-style depth
ControlNets expect). Prompt embeddings are computed once per distinct prompt. Visible pixels
are composited back, so they stay exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perpetual.models.base import InpaintRequest
from perpetual.models.loading import auto_device, resolve

__all__ = ["SCHEDULERS", "DiffusersInpainter"]

# Scheduler names a config may use -> diffusers classes (LCM is for LCM-LoRA / few-step models).
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "lcm": "LCMScheduler",
}


class DiffusersInpainter:
    """An :class:`~perpetual.models.Inpainter` from an SD inpainting pipeline folder or cached hub id.

    Args:
        name: the inpainting pipeline (``model_index.json`` layout), e.g.
            ``stable-diffusion-v1-5/stable-diffusion-inpainting`` or a local folder.
        controlnet: optional depth ControlNet (folder or cached hub id).
        scheduler: one of :data:`SCHEDULERS`.
        steps, guidance: sampling steps and classifier-free guidance scale.
        negative_prompt: what to steer away from.
    """

    def __init__(self, name: str, *, controlnet: str = "", scheduler: str = "ddim", steps: int = 25,
                 guidance: float = 7.5, negative_prompt: str = "", device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None) -> None:
        import diffusers

        self.device = auto_device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        kwargs = {"torch_dtype": self.dtype, "safety_checker": None, "requires_safety_checker": False}
        if controlnet:
            net = diffusers.ControlNetModel.from_pretrained(resolve(controlnet), torch_dtype=self.dtype)
            pipe = diffusers.StableDiffusionControlNetInpaintPipeline.from_pretrained(resolve(name, "model_index.json"), controlnet=net, **kwargs)
        else:
            pipe = diffusers.StableDiffusionInpaintPipeline.from_pretrained(resolve(name, "model_index.json"), **kwargs)
        if scheduler.lower() not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
        pipe.scheduler = getattr(diffusers, SCHEDULERS[scheduler.lower()]).from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        if self.device.type == "cuda":
            pipe.unet.to(memory_format=torch.channels_last)
        self.pipe = pipe.to(self.device)
        self.controlnet = bool(controlnet)
        self.steps, self.guidance, self.negative_prompt = steps, guidance, negative_prompt
        self._embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _embed(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        if prompt not in self._embeddings:
            positive, negative = self.pipe.encode_prompt(
                prompt, self.device, 1, self.guidance > 1.0, negative_prompt=self.negative_prompt or None
            )
            self._embeddings[prompt] = (positive, negative)
        return self._embeddings[prompt]

    @torch.no_grad()
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        B, _, H, W = request.image.shape
        pad_h, pad_w = (-H) % 8, (-W) % 8  # latent diffusion needs multiples of 8
        pad = lambda x: F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")  # noqa: E731
        image = pad(request.image.float()).to(self.device)
        holes = pad((~request.valid).float()).to(self.device)
        if request.strength is not None:  # the pipelines take a binary mask: repaint where strength >= 0.5
            holes = torch.maximum(holes, pad((request.strength >= 0.5).float()).to(self.device))
        positive, negative = self._embed(request.prompt)
        extra = {}
        if self.controlnet:
            d = pad(request.disparity.float()).to(self.device)
            d = d / d.flatten(1).amax(1).clamp_min(1e-6).view(B, 1, 1, 1)
            extra["control_image"] = d.expand(B, 3, *d.shape[-2:])
        out = self.pipe(
            prompt_embeds=positive.expand(B, -1, -1), negative_prompt_embeds=None if negative is None else negative.expand(B, -1, -1),
            image=image, mask_image=holes, height=H + pad_h, width=W + pad_w, num_inference_steps=self.steps,
            guidance_scale=self.guidance, generator=torch.Generator(self.device).manual_seed(int(request.seed)),
            output_type="pt", **extra,
        ).images
        out = out[..., :H, :W].to(request.image.device, request.image.dtype)
        return torch.where(request.valid, request.image, out)
