"""Model names in configs -> loaded models. Heavy libraries are imported only when needed."""

from __future__ import annotations

import warnings

import torch

from perpetual.config import ModelSettings
from perpetual.models.base import ClassicalInpainter, DepthEstimator, GroundPlaneDepth, Inpainter

__all__ = ["load_depth", "load_inpainter", "quiet_libraries"]


def quiet_libraries() -> None:
    """Keep transformers/diffusers from printing progress bars, advice and deprecation notes on every load."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers)\.")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        import diffusers

        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def load_depth(models: ModelSettings, device: str | torch.device | None = None) -> DepthEstimator:
    """``ground-plane``, ``embedded:depth``, or any transformers depth model (folder or cached hub id)."""
    if models.depth == "ground-plane":
        return GroundPlaneDepth()
    from perpetual.models.depth import TransformersDepth

    quiet_libraries()
    return TransformersDepth(models.depth, resolution=models.depth_resolution or None, device=device,
                             sharpen=models.depth_sharpen)


def load_inpainter(models: ModelSettings, device: str | torch.device | None = None) -> Inpainter:
    """``classical``, ``embedded:inpainter`` (pixel diffusion), a pixel-diffusion UNet folder, or ``sd:NAME``."""
    if models.inpainter == "classical":
        return ClassicalInpainter()
    quiet_libraries()
    if models.inpainter.startswith("sd:"):
        from perpetual.models.sd import DiffusersInpainter

        return DiffusersInpainter(
            models.inpainter[3:], controlnet=models.controlnet, adapter=models.adapter, lora=models.lora,
            scheduler=models.scheduler, steps=models.steps, guidance=models.guidance, control_scale=models.control_scale,
            negative_prompt=models.negative_prompt, device=device,
        )
    from perpetual.models.pixel_diffusion import PixelDiffusionInpainter

    return PixelDiffusionInpainter(models.inpainter, steps=models.steps, device=device)
