"""Monocular depth through transformers' ``AutoModelForDepthEstimation`` (Depth Anything, DPT, ZoeDepth, ...)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perpetual.models.loading import auto_device, resolve

__all__ = ["TransformersDepth", "normalise"]

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalise(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] -> the ImageNet-normalised input depth processors produce."""
    return (image - _MEAN.to(image)) / _STD.to(image)


class TransformersDepth:
    """A :class:`~perpetual.models.DepthEstimator` from a transformers depth model.

    The image is normalised as the model's processor does (ImageNet statistics), resized to a
    multiple of the backbone's patch size (14 for DINOv2) near ``resolution`` on its short side,
    and the prediction is resized back. Relative models (Depth Anything, DPT) already predict
    disparity-like values; metric ones (ZoeDepth) predict depth, which is inverted.

    Args:
        name: ``embedded:depth``, a local folder (``save_pretrained`` layout) or a hub id in the cache.
        resolution: short-side working size (rounded to the patch size); ``None`` or 0: the image's.
        device, dtype: default: the best device, fp16 on CUDA.
    """

    def __init__(self, name: str, resolution: int | None = None, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None) -> None:
        from transformers import AutoModelForDepthEstimation

        self.device = auto_device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.model = AutoModelForDepthEstimation.from_pretrained(resolve(name), dtype=self.dtype)
        self.model.to(self.device).eval()
        config = self.model.config
        backbone = getattr(config, "backbone_config", None)
        self.patch = int(getattr(backbone, "patch_size", None) or getattr(config, "patch_size", None) or 1)
        self.metric = getattr(config, "depth_estimation_type", "relative") == "metric" or config.model_type == "zoedepth"
        self.resolution = resolution or None

    def _working_size(self, H: int, W: int) -> tuple[int, int]:
        scale = 1.0 if self.resolution is None else self.resolution / min(H, W)
        return (max(self.patch, round(H * scale / self.patch) * self.patch),
                max(self.patch, round(W * scale / self.patch) * self.patch))

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Relative disparity ``(B, 1, H, W)`` (>= 0, larger is nearer) of ``image`` ``(B, 3, H, W)``."""
        B, _, H, W = image.shape
        x = F.interpolate(image.to(self.device, torch.float32), size=self._working_size(H, W), mode="bilinear",
                          align_corners=False, antialias=True)
        x = normalise(x).to(self.dtype)
        pred = self.model(pixel_values=x).predicted_depth.float().unsqueeze(1)
        pred = F.interpolate(pred, size=(H, W), mode="bilinear", align_corners=False)
        if self.metric:
            pred = 1.0 / pred.clamp_min(1e-3)
        return pred.clamp_min(0.0)
