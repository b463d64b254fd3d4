"""Model names in configs -> loaded models. Heavy libraries are imported only when needed."""

from __future__ import annotations

import warnings

import torch

from perpetual.config import ModelSettings
from perpetual.models.base import ClassicalInpainter, DepthEstimator, GroundPlaneDepth, Inpainter
from perpetual.models.names import parse

__all__ = ["load_depth", "load_inpainter", "quiet_libraries"]


def quiet_libraries() -> None:
    """Keep transformers/diffusers from printing progress bars, advice, deprecation notes and their
    own account of a failed load (ours says it in one line) on every load."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers)\.")
    try:
        import transformers

        transformers.utils.logging.set_verbosity(transformers.utils.logging.CRITICAL)  # loaders' failures become one line
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        import diffusers

        diffusers.utils.logging.set_verbosity(diffusers.utils.logging.CRITICAL)
        diffusers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def _one_line(name: str, error: Exception) -> ValueError:
    """A loader's failure as one line naming the model, and the damaged file where a folder has one."""
    from pathlib import Path

    from perpetual.models.hub import check_folder

    folder = Path(parse(name).source)
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    pickles = [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
    if pickles and not any(p.suffix == ".safetensors" for p in files):
        return ValueError(f"cannot load {name}: it holds only pickle weights ({pickles[0].name}), which perpetual never loads "
                          "(unpickling can run code); use a copy saved as safetensors")
    broken = [c for c in check_folder(folder) if c.problem] if folder.is_dir() else []
    if broken:
        return ValueError(f"cannot load {name}: {broken[0].name}: {broken[0].problem}; replace it "
                          "(perpetual download CONFIG fetches a hub model again)")
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"cannot load {name}: {first[:300]}")


def load_depth(models: ModelSettings, device: str | torch.device | None = None) -> DepthEstimator:
    """``ground-plane``, ``embedded:depth``, or any transformers depth model (folder or cached hub id)."""
    if parse(models.depth).kind == "builtin":
        if models.depth != "ground-plane":
            raise ValueError(f"models.depth = {models.depth!r} is an inpainter; the built-in depth prior is 'ground-plane'")
        return GroundPlaneDepth()
    from safetensors import SafetensorError

    from perpetual.models.depth import TransformersDepth

    quiet_libraries()
    try:
        return TransformersDepth(models.depth, resolution=models.depth_resolution or None, device=device,
                                 sharpen=models.depth_sharpen, despeckle=models.depth_despeckle)
    except (OSError, SafetensorError) as err:
        raise _one_line(models.depth, err) from None


def load_inpainter(models: ModelSettings, device: str | torch.device | None = None) -> Inpainter:
    """``classical``, ``embedded:inpainter`` (pixel diffusion), a pixel-diffusion UNet folder, or ``sd:NAME``."""
    if parse(models.inpainter).kind == "builtin":
        if models.inpainter != "classical":
            raise ValueError(f"models.inpainter = {models.inpainter!r} is a depth prior; the built-in inpainter is 'classical'")
        return ClassicalInpainter()
    from safetensors import SafetensorError

    quiet_libraries()
    try:
        return _load_inpainter(models, device)
    except (OSError, SafetensorError) as err:
        raise _one_line(models.inpainter, err) from None


def _load_inpainter(models: ModelSettings, device: str | torch.device | None) -> Inpainter:
    name = parse(models.inpainter)
    if name.backend == "sd":
        from perpetual.models.sd import DiffusersInpainter

        return DiffusersInpainter(
            name.source, controlnet=models.controlnet, adapter=models.adapter, lora=models.lora,
            scheduler=models.scheduler, steps=models.steps or None, guidance=models.guidance, control_scale=models.control_scale,
            negative_prompt=models.negative_prompt, device=device,
        )
    from perpetual.models.pixel_diffusion import PixelDiffusionInpainter

    return PixelDiffusionInpainter(models.inpainter, steps=models.steps or None, device=device)
