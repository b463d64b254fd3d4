"""Latent-diffusion inpainters on diffusers components, in one short denoising loop of our own.

Stable Diffusion 1.x/2.x and SDXL, inpainting (9-channel) or plain (4-channel) UNets, with an
optional depth ControlNet or depth T2I-Adapter (run once per keyframe) conditioned on the loop's
completed disparity, an optional LoRA (e.g. LCM-LoRA for 4-step sampling), any scheduler of
:data:`SCHEDULERS`, and a per-pixel strength (differential diffusion, which diffusers' pipelines
lack): a latent cell of strength ``s`` is held to the encoded input, noised to the current level,
until the timestep falls below ``s`` of the schedule. Holes have strength 1; pixels of strength
0 are composited back exactly. Prompt embeddings are computed once per distinct prompt.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from perpetual.models.base import InpaintRequest, composite, strength_map
from perpetual.models.loading import auto_device, resolve
from perpetual.render import fill_holes

__all__ = ["SCHEDULERS", "DiffusersInpainter", "control_image"]

# Scheduler names a config may use -> diffusers classes (LCM is for LCM-LoRA / few-step models).
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "lcm": "LCMScheduler",
}


def control_image(disparity: torch.Tensor, channels: int) -> torch.Tensor:
    """``(B, channels, H, W)`` in [0, 1] from ``(B, 1, H, W)`` disparity, near bright (MiDaS-style)."""
    d = disparity / disparity.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return d.expand(-1, channels, -1, -1)


class DiffusersInpainter:
    """An :class:`~perpetual.models.Inpainter` from an SD or SDXL pipeline folder or cached hub id.

    Args:
        name: the pipeline (``model_index.json`` layout), e.g.
            ``stable-diffusion-v1-5/stable-diffusion-inpainting`` or a local folder.
        controlnet: optional depth ControlNet (folder or cached hub id).
        adapter: optional depth T2I-Adapter (folder or cached hub id).
        lora: optional LoRA weights fused into the UNet (e.g. ``latent-consistency/lcm-lora-sdv1-5``).
        scheduler: one of :data:`SCHEDULERS`.
        steps, guidance: sampling steps and classifier-free guidance scale (<= 1: none).
        control_scale: weight of the ControlNet / adapter residuals.
        negative_prompt: what to steer away from.
    """

    def __init__(self, name: str, *, controlnet: str = "", adapter: str = "", lora: str = "", scheduler: str = "ddim",
                 steps: int = 25, guidance: float = 7.5, control_scale: float = 1.0, negative_prompt: str = "",
                 device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        import diffusers

        if scheduler.lower() not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
        self.device = auto_device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        pipe = diffusers.AutoPipelineForInpainting.from_pretrained(resolve(name, "model_index.json"), torch_dtype=self.dtype)
        if lora:
            pipe.load_lora_weights(resolve(lora, "pytorch_lora_weights.safetensors"))
            pipe.fuse_lora()
            pipe.unload_lora_weights()
        pipe.scheduler = getattr(diffusers, SCHEDULERS[scheduler.lower()]).from_config(pipe.scheduler.config)
        self.pipe, self.sdxl = pipe, hasattr(pipe, "text_encoder_2")
        self.controlnet = diffusers.ControlNetModel.from_pretrained(resolve(controlnet), torch_dtype=self.dtype) if controlnet else None
        self.adapter = diffusers.T2IAdapter.from_pretrained(resolve(adapter), torch_dtype=self.dtype) if adapter else None
        for module in (pipe.unet, self.controlnet, self.adapter):
            if module is not None and self.device.type == "cuda":
                module.to(memory_format=torch.channels_last)
        pipe.to(self.device)
        if pipe.vae.config.get("force_upcast", False) and self.dtype == torch.float16:
            pipe.vae.to(torch.float32)  # the SDXL VAE overflows in fp16
        for module in (self.controlnet, self.adapter):
            if module is not None:
                module.to(self.device).eval()
        self.steps, self.guidance, self.control_scale, self.negative_prompt = steps, guidance, control_scale, negative_prompt
        self.vae_scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        self.multiple = self.vae_scale * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        self._embeddings: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @property
    def cfg(self) -> bool:
        return self.guidance > 1.0

    def _embed(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Text embeddings (negative first when guided) and, for SDXL, the pooled ones; cached per prompt."""
        if prompt not in self._embeddings:
            negative = self.negative_prompt or None
            if not self.sdxl:
                pos, neg = self.pipe.encode_prompt(prompt, self.device, 1, self.cfg, negative_prompt=negative)
                pooled = neg_pooled = None
            else:
                pos, neg, pooled, neg_pooled = self.pipe.encode_prompt(prompt, device=self.device, do_classifier_free_guidance=self.cfg,
                                                                       negative_prompt=negative)
            both = lambda a, b: a if b is None or not self.cfg else torch.cat([b, a])  # noqa: E731
            self._embeddings[prompt] = (both(pos, neg), None if pooled is None else both(pooled, neg_pooled))
        return self._embeddings[prompt]

    def _added_conditions(self, pooled: torch.Tensor | None, height: int, width: int) -> dict | None:
        """SDXL's pooled text embedding and size conditioning (``time_ids``); None for SD 1.x/2.x."""
        if pooled is None:
            return None
        size = (height, width, 0, 0) + ((6.0,) if self.pipe.config.get("requires_aesthetics_score") else (height, width))
        time_ids = torch.tensor([size], device=self.device, dtype=pooled.dtype).repeat(len(pooled), 1)
        return {"text_embeds": pooled, "time_ids": time_ids}

    def _encode(self, image: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        return vae.encode((image * 2 - 1).to(vae.dtype)).latent_dist.mean.to(self.dtype) * vae.config.scaling_factor

    @torch.no_grad()
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        B, _, H, W = request.image.shape
        pad = lambda x: F.pad(x.to(self.device, torch.float32), (0, (-W) % self.multiple, 0, (-H) % self.multiple), mode="replicate")  # noqa: E731
        image, strength = pad(fill_holes(request.image, request.valid)), pad(strength_map(request))
        holes = pad((~request.valid).float())
        h, w = image.shape[-2:]
        known = self._encode(image)
        cells = F.max_pool2d(strength, self.vae_scale).to(self.dtype)
        embeds, pooled = self._embed(request.prompt)
        added = self._added_conditions(None if pooled is None else pooled.repeat_interleave(B, 0), h, w)
        embeds = embeds.repeat_interleave(B, 0)
        repeat = lambda x: torch.cat([x] * (2 if self.cfg else 1))  # noqa: E731
        extra_channels = None
        if self.pipe.unet.config.in_channels == 9:  # inpainting UNet: mask and masked image as channels
            mask = F.interpolate(holes, size=known.shape[-2:]).to(self.dtype)
            extra_channels = repeat(torch.cat([mask, self._encode(image * (1 - holes))], dim=1))
        control = pad(request.disparity.float())
        adapter_state = None
        if self.adapter is not None:
            state = self.adapter(control_image(control, self.adapter.config.in_channels).to(self.dtype))
            adapter_state = [repeat(s * self.control_scale) for s in state]
        if self.controlnet is not None:
            control = repeat(control_image(control, 3).to(self.dtype))
        gen = torch.Generator(self.device).manual_seed(int(request.seed))
        noise = torch.randn(known.shape, generator=gen, device=self.device, dtype=self.dtype)
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(self.steps, device=self.device)
        T = scheduler.config.num_train_timesteps
        x = noise * scheduler.init_noise_sigma
        # Stochastic samplers (ddpm, euler-a, lcm) draw their noise from this keyframe's generator.
        step_kwargs = {"generator": gen} if "generator" in inspect.signature(scheduler.step).parameters else {}
        for t in scheduler.timesteps:
            held = cells * T < t
            x = torch.where(held, scheduler.add_noise(known, noise, t.reshape(1)), x)
            inp = scheduler.scale_model_input(repeat(x), t)
            kwargs: dict = {"encoder_hidden_states": embeds, "added_cond_kwargs": added}
            if self.controlnet is not None:
                down, mid = self.controlnet(inp, t, controlnet_cond=control, conditioning_scale=self.control_scale,
                                            return_dict=False, **kwargs)
                kwargs.update(down_block_additional_residuals=down, mid_block_additional_residual=mid)
            if adapter_state is not None:  # the UNet consumes the list it is given
                kwargs["down_intrablock_additional_residuals"] = [s.clone() for s in adapter_state]
            if extra_channels is not None:
                inp = torch.cat([inp, extra_channels], dim=1)
            eps = self.pipe.unet(inp, t, return_dict=False, **kwargs)[0]
            if self.cfg:
                uncond, cond = eps.chunk(2)
                eps = uncond + self.guidance * (cond - uncond)
            x = scheduler.step(eps, t, x, return_dict=False, **step_kwargs)[0]
        vae = self.pipe.vae
        out = vae.decode((x / vae.config.scaling_factor).to(vae.dtype)).sample
        out = ((out[..., :H, :W].float() + 1) / 2).clamp(0, 1).to(request.image.device, request.image.dtype)
        return composite(request, out)
