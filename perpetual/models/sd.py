"""Latent-diffusion inpainters on diffusers components, in one short denoising loop of our own.

Stable Diffusion 1.x/2.x and SDXL, inpainting (9-channel) or plain (4-channel) UNets, with an
optional depth ControlNet or depth T2I-Adapter (run once per keyframe) conditioned on the loop's
completed disparity, an optional LoRA (e.g. LCM-LoRA for 4-step sampling) and any scheduler of
:data:`SCHEDULERS`.

The loop computes what diffusers' own pipelines compute (``StableDiffusionInpaintPipeline``,
``StableDiffusionXLInpaintPipeline``, their ControlNet variants, and the T2I-Adapter pipelines'
residuals) when they are called with ``strength=1.0``, ``generator=torch.Generator().manual_seed
(seed)``, the same steps, guidance, prompts and scale, on the image this class hands them (the
render with its holes pre-filled by :func:`~perpetual.render.fill_holes`, padded): the same random
draws in the same order, the same mask and masked-image channels, the same timesteps, added
conditions and residuals; ``tests/test_sd_parity.py`` checks it. Where it deliberately differs:

- **padding**: sides are padded (replicated edges) to a multiple of the UNet's total stride and the
  result cropped back, where the pipelines resize to a multiple of 8;
- **per-pixel strength** (differential diffusion; only with ``engine.refresh`` above 0, off by
  default): a latent cell of strength ``0 < s < 1`` is
  held to the encoded input, noised to the current level, until the timestep falls below ``s`` of
  the schedule; then it is denoised freely;
- **no watermark** (SDXL's pipeline adds one when ``invisible-watermark`` is installed), and the
  visible pixels are composited back exactly (:func:`~perpetual.models.base.composite`).
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from perpetual.models.base import InpaintRequest, composite, strength_map
from perpetual.models.hub import UNUSED, refuse_custom_code, weights_variant
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
    """``(B, channels, H, W)`` in [0, 1] from ``(B, 1, H, W)`` disparity: near bright, min-max normalised per image.

    This is how the depth ControlNets' and T2I-Adapters' training images were made: MiDaS
    relative inverse depth, shifted to 0 and scaled to 1 per image (the ControlNet annotator
    ``annotator/midas``, and the depth-map recipe of diffusers' SDXL depth ControlNet cards).
    """
    low = disparity.flatten(1).amin(1).view(-1, 1, 1, 1)
    span = (disparity.flatten(1).amax(1).view(-1, 1, 1, 1) - low).clamp_min(1e-6)
    return ((disparity - low) / span).expand(-1, channels, -1, -1)


class DiffusersInpainter:
    """An :class:`~perpetual.models.Inpainter` from an SD or SDXL pipeline folder or cached hub id.

    Args:
        name: the pipeline (``model_index.json`` layout), e.g.
            ``stable-diffusion-v1-5/stable-diffusion-inpainting`` or a local folder.
        controlnet: optional depth ControlNet (folder or cached hub id).
        adapter: optional depth T2I-Adapter (folder or cached hub id).
        lora: optional LoRA weights fused into the UNet (e.g. ``latent-consistency/lcm-lora-sdv1-5``).
        scheduler: one of :data:`SCHEDULERS`, configured from the pipeline's own scheduler config.
        steps, guidance: sampling steps (None: :attr:`DEFAULT_STEPS`) and classifier-free guidance
            scale (<= 1: none; for LCM-distilled UNets, which have ``time_cond_proj_dim``, it is
            embedded instead).
        control_scale: weight of the ControlNet / adapter residuals.
        negative_prompt: what to steer away from.
    """

    DEFAULT_STEPS = 25

    def __init__(self, name: str, *, controlnet: str = "", adapter: str = "", lora: str = "", scheduler: str = "ddim",
                 steps: int | None = None, guidance: float = 7.5, control_scale: float = 1.0, negative_prompt: str = "",
                 device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        import diffusers

        if scheduler.lower() not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
        self.device = auto_device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        folder = resolve(name, "model_index.json")
        refuse_custom_code(folder)
        unused = {k: None for k in UNUSED if k in json.loads(Path(folder, "model_index.json").read_text())}
        pipe = diffusers.AutoPipelineForInpainting.from_pretrained(folder, torch_dtype=self.dtype, variant=weights_variant(folder),
                                                              use_safetensors=True, **unused)
        if lora:
            pipe.load_lora_weights(resolve(lora, "pytorch_lora_weights.safetensors"))
            pipe.fuse_lora()
            pipe.unload_lora_weights()
        pipe.scheduler = getattr(diffusers, SCHEDULERS[scheduler.lower()]).from_config(pipe.scheduler.config)
        self.pipe, self.sdxl = pipe, hasattr(pipe, "text_encoder_2")
        self.controlnet = self._part(diffusers.ControlNetModel, controlnet)
        self.adapter = self._part(diffusers.T2IAdapter, adapter)
        for module in (pipe.unet, self.controlnet, self.adapter):
            if module is not None and self.device.type == "cuda":
                module.to(memory_format=torch.channels_last)
        pipe.to(self.device)
        if pipe.vae.config.get("force_upcast", False) and self.dtype == torch.float16:
            pipe.vae.to(torch.float32)  # the SDXL VAE overflows in fp16
        for module in (self.controlnet, self.adapter):
            if module is not None:
                module.to(self.device).eval()
        self.steps = steps or self.DEFAULT_STEPS
        self.guidance, self.control_scale, self.negative_prompt = guidance, control_scale, negative_prompt
        self.vae_scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        self.multiple = self.vae_scale * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        self.four_channel = pipe.unet.config.in_channels == 4
        self._embeddings: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def _part(self, cls, name: str):
        """A ControlNet or adapter (None for none), in the precision its folder holds."""
        if not name:
            return None
        folder = resolve(name)
        refuse_custom_code(folder)
        return cls.from_pretrained(folder, torch_dtype=self.dtype, variant=weights_variant(folder), use_safetensors=True)

    @property
    def cfg(self) -> bool:
        """Classifier-free guidance: a scale above 1 on a UNet without an embedded guidance (as the pipelines)."""
        return self.guidance > 1.0 and self.pipe.unet.config.time_cond_proj_dim is None

    def _warn_if_truncated(self, prompt: str) -> None:
        for tokenizer in filter(None, (self.pipe.tokenizer, getattr(self.pipe, "tokenizer_2", None))):
            tokens = len(tokenizer(prompt).input_ids)
            if tokens > tokenizer.model_max_length:
                warnings.warn(f"prompt is {tokens} tokens; the text encoder reads the first {tokenizer.model_max_length}: "
                              f"{prompt[:60]!r}...", stacklevel=3)
                return

    def _embed(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Text embeddings (negative first when guided) and, for SDXL, the pooled ones; cached per prompt."""
        if prompt not in self._embeddings:
            self._warn_if_truncated(prompt)
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

    def _added_conditions(self, pooled: torch.Tensor | None, batch: int, height: int, width: int) -> dict | None:
        """SDXL's pooled text embedding and size conditioning (``time_ids``, negative rows first); None for SD 1.x/2.x.

        Original and target size are the working size, crops at (0, 0); refiner-style UNets
        (``requires_aesthetics_score``) take the pipelines' aesthetic scores instead of the target size.
        """
        if pooled is None:
            return None
        if self.pipe.config.get("requires_aesthetics_score"):
            rows = [(height, width, 0, 0, 2.5), (height, width, 0, 0, 6.0)]
        else:
            rows = [(height, width, 0, 0, height, width)] * 2
        time_ids = torch.tensor(rows if self.cfg else rows[1:], device=self.device, dtype=pooled.dtype)
        return {"text_embeds": pooled.repeat_interleave(batch, 0), "time_ids": time_ids.repeat_interleave(batch, 0)}

    def _encode(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Latents of ``image`` ``(B, 3, H, W)`` in [-1, 1]: a posterior sample, as the pipelines draw it."""
        vae = self.pipe.vae
        sample = vae.encode(image.to(vae.dtype)).latent_dist.sample(generator)
        return sample.to(self.dtype) * vae.config.scaling_factor

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] from latents (with the VAE's latent statistics where its config has them)."""
        vae, config = self.pipe.vae, self.pipe.vae.config
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is not None and std is not None:
            view = lambda v: torch.tensor(v, device=latents.device, dtype=latents.dtype).view(1, -1, 1, 1)  # noqa: E731
            latents = latents * view(std) / config.scaling_factor + view(mean)
        else:
            latents = latents / config.scaling_factor
        return (vae.decode(latents.to(vae.dtype)).sample.float() * 0.5 + 0.5).clamp(0, 1)

    def _latent_mask(self, holes: torch.Tensor, strength: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pipelines' latent mask (nearest-resized holes) and each cell's strength: 1 under the mask,
        elsewhere the strongest refresh of its visible pixels."""
        mask = F.interpolate(holes, size=(holes.shape[-2] // self.vae_scale, holes.shape[-1] // self.vae_scale)).to(self.dtype)
        return mask, torch.maximum(mask, F.max_pool2d(strength * (1 - holes), self.vae_scale).to(self.dtype))

    def _conditions(self, request: InpaintRequest, pad, h: int, w: int) -> dict:
        """What the UNet is given besides the latents, constant over the keyframe: text, SDXL sizes, LCM's guidance, adapter residuals."""
        B = request.image.shape[0]
        embeds, pooled = self._embed(request.prompt)
        kwargs: dict = {"encoder_hidden_states": embeds.repeat_interleave(B, 0),
                        "added_cond_kwargs": self._added_conditions(pooled, B, h, w)}
        if (dim := self.pipe.unet.config.time_cond_proj_dim) is not None:
            w_embed = self.pipe.get_guidance_scale_embedding(torch.tensor(self.guidance - 1).repeat(B), embedding_dim=dim)
            kwargs["timestep_cond"] = w_embed.to(self.device, self.dtype)
        if self.adapter is not None:
            state = self.adapter(control_image(pad(request.disparity.float()), self.adapter.config.in_channels).to(self.dtype))
            kwargs["down_intrablock_additional_residuals"] = [self._repeat(s * self.control_scale) for s in state]
        return kwargs

    def _repeat(self, x: torch.Tensor) -> torch.Tensor:
        """Twice along the batch under classifier-free guidance (unconditional half first)."""
        return torch.cat([x] * 2) if self.cfg else x

    def _denoise(self, x: torch.Tensor, t: torch.Tensor, extra: torch.Tensor | None, control: torch.Tensor | None,
                 kwargs: dict) -> torch.Tensor:
        """The guided noise prediction at ``t`` (ControlNet run on the 4-channel input, as the pipelines do)."""
        inp = self.pipe.scheduler.scale_model_input(self._repeat(x), t)
        unet_kwargs = dict(kwargs)
        if "down_intrablock_additional_residuals" in kwargs:  # the UNet consumes the list it is given
            unet_kwargs["down_intrablock_additional_residuals"] = [s.clone() for s in kwargs["down_intrablock_additional_residuals"]]
        if control is not None:
            down, mid = self.controlnet(inp, t, encoder_hidden_states=kwargs["encoder_hidden_states"], controlnet_cond=control,
                                        conditioning_scale=self.control_scale, added_cond_kwargs=kwargs["added_cond_kwargs"],
                                        return_dict=False)
            unet_kwargs.update(down_block_additional_residuals=down, mid_block_additional_residual=mid)
        if extra is not None:
            inp = torch.cat([inp, extra], dim=1)
        eps = self.pipe.unet(inp, t, return_dict=False, **unet_kwargs)[0]
        if self.cfg:
            uncond, cond = eps.chunk(2)
            eps = uncond + self.guidance * (cond - uncond)
        return eps

    @torch.no_grad()
    def __call__(self, request: InpaintRequest) -> torch.Tensor:
        B, _, H, W = request.image.shape
        pad = lambda x: F.pad(x.to(self.device, torch.float32), (0, (-W) % self.multiple, 0, (-H) % self.multiple), mode="replicate")  # noqa: E731
        image = pad(fill_holes(request.image, request.valid)) * 2 - 1
        holes = pad((~request.valid).float())
        mask, cells = self._latent_mask(holes, pad(strength_map(request)))
        refresh = bool(((cells > 0) & (cells < 1)).any())
        h, w = image.shape[-2:]
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(self.steps, device=self.device)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(0)

        # 1. Random draws in the pipelines' order: image latents (where held), noise, masked-image latents.
        gen = torch.Generator(self.device).manual_seed(int(request.seed))
        known = self._encode(image, gen) if self.four_channel or refresh else None
        noise = torch.randn((B, 4, h // self.vae_scale, w // self.vae_scale), generator=gen, device=self.device, dtype=self.dtype)
        masked = self._encode(image * (holes < 0.5), gen)
        extra = None if self.four_channel else self._repeat(torch.cat([mask, masked], dim=1))

        # 2. Conditions, constant over the keyframe.
        kwargs = self._conditions(request, pad, h, w)
        control = None if self.controlnet is None else self._repeat(control_image(pad(request.disparity.float()), 3).to(self.dtype))

        # 3. Denoise. After each step, held cells take the input noised to the next level (exact after the
        # last): for a 4-channel UNet every cell outside the mask, as the pipelines do; for either UNet
        # the refreshed cells, until the schedule falls below their strength.
        step_kwargs = {"generator": gen} if "generator" in inspect.signature(scheduler.step).parameters else {}
        T = scheduler.config.num_train_timesteps
        x = noise * scheduler.init_noise_sigma
        timesteps = scheduler.timesteps
        for i, t in enumerate(timesteps):
            x = scheduler.step(self._denoise(x, t, extra, control, kwargs), t, x, return_dict=False, **step_kwargs)[0]
            if known is None:
                continue
            if i + 1 < len(timesteps):
                held = (cells > 0) & (cells * T < timesteps[i + 1])
                held = held | (cells == 0) if self.four_channel else held
                x = torch.where(held, scheduler.add_noise(known, noise, timesteps[i + 1].reshape(1)), x)
            elif self.four_channel:
                x = torch.where(cells == 0, known, x)

        out = self._decode(x)[..., :H, :W].to(request.image.device, request.image.dtype)
        return composite(request, out)
