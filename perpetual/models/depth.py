"""Monocular depth through transformers' ``AutoModelForDepthEstimation`` (Depth Anything, DPT, ZoeDepth, ...)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from perpetual.align import snap_to_edges
from perpetual.models.hub import refuse_custom_code, weights_variant
from perpetual.models.loading import auto_device, resolve

__all__ = ["TransformersDepth", "native_resolution", "normalise", "size_multiple"]

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalise(image: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] -> the ImageNet-normalised input depth processors produce."""
    return (image - _MEAN.to(image)) / _STD.to(image)


def size_multiple(config) -> int:
    """What input sides must be a multiple of: a ViT's patch size, or a hierarchical encoder's total stride."""
    if strides := getattr(config, "strides", None):
        return math.prod(strides)
    backbone = getattr(config, "backbone_config", None)
    return int(getattr(backbone, "patch_size", None) or getattr(config, "patch_size", None) or 1)


def native_resolution(config) -> int | None:
    """The input size a ViT-based depth model was trained at, from its config; ``None`` if it has none."""
    for c in (getattr(config, "backbone_config", None), config):
        size = getattr(c, "image_size", None)
        if isinstance(size, int) and size > 0:
            return size
    return None


def _default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA GPUs that have it, fp16 on other CUDA GPUs, fp32 elsewhere."""
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class TransformersDepth:
    """A :class:`~perpetual.models.DepthEstimator` from a transformers depth model.

    A folder with a ``preprocessor_config.json`` (every hub checkpoint) is run as transformers
    runs it: the frame goes to the model's own image processor as an 8-bit image, as a photo
    would (its resize rule, interpolation, mean/std and multiple-of constraint), and the
    prediction through that processor's ``post_process_depth_estimation`` back to the frame's size
    (ZoeDepth's padding removed, Depth Pro's field of view applied). A folder without one (the
    embedded model, ``perpetual train depth`` output) is normalised with ImageNet statistics and
    resized bilinearly to a multiple of what the architecture needs near ``resolution`` on its
    short side (the patch size, 14 for DINOv2 backbones; the product of the strides, 32 for
    GLPN's Mix Transformer), as it was trained. Relative models (Depth Anything, DPT) predict
    disparity-like values; metric ones (ZoeDepth, GLPN, Depth Pro) predict depth, which is
    inverted. A config may say which it is with ``depth_estimation_type`` (the embedded model's does).

    Args:
        name: ``embedded:depth``, a local folder (``save_pretrained`` layout) or a hub id in the cache.
        resolution: with an image processor: the square ``size`` it resizes towards (its own rule
            decides the aspect; GLPN's, which has no size, gets the frame resized to this short
            side first); ``None`` or 0: the processor's own size. Without one: the short side;
            ``None`` or 0: the size the model was trained at when its config records one (a ViT
            backbone's ``image_size``: 112 for the embedded model), else the image's.
        sharpen: snap the prediction's depth edges to the image's colour edges
            (:func:`~perpetual.align.snap_to_edges`), for models whose coarse tokens smear them.
        despeckle: with ``sharpen``, the width of the median that clears the speckle the
            snapping copies from a textured surface's colours (odd; 0 or 1: none;
            :func:`~perpetual.align.despeckle_median`).
        device, dtype: default: the best device; on CUDA bf16 where the GPU has it (fp32's range:
            the embedded model's activations overflow fp16), else fp16. A half-precision
            prediction that is not finite reloads the model in fp32 for good, and is redone.
    """

    def __init__(self, name: str, resolution: int | None = None, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, sharpen: bool = False, despeckle: int = 0) -> None:
        self.device = auto_device(device)
        self.dtype = dtype or _default_dtype(self.device)
        self.folder = resolve(name)
        self.model = self._load(self.dtype)
        config = self.model.config
        if config.model_type == "prompt_depth_anything":
            raise ValueError(f"{name}: Prompt Depth Anything needs a metric depth prompt (a LiDAR frame); use a monocular depth model")
        self.multiple = size_multiple(config)
        kind = getattr(config, "depth_estimation_type", None)
        self.metric = kind == "metric" if kind else config.model_type in ("zoedepth", "glpn", "depth_pro")
        self.processor = self._processor()
        self.resolution = resolution or (None if self.processor else native_resolution(config))
        self.sharpen, self.despeckle = sharpen, despeckle

    def _load(self, dtype: torch.dtype):
        from transformers import AutoModelForDepthEstimation

        refuse_custom_code(self.folder)
        return AutoModelForDepthEstimation.from_pretrained(self.folder, dtype=dtype, variant=weights_variant(self.folder), use_safetensors=True,
                                                           trust_remote_code=False).to(self.device).eval()

    def _processor(self):
        """The folder's own image processor, or None where it has no ``preprocessor_config.json``."""
        if not (Path(self.folder) / "preprocessor_config.json").is_file():
            return None
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(self.folder, trust_remote_code=False)

    def _working_size(self, H: int, W: int) -> tuple[int, int]:
        scale = 1.0 if self.resolution is None else self.resolution / min(H, W)
        m = self.multiple
        return max(m, round(H * scale / m) * m), max(m, round(W * scale / m) * m)

    def _predict(self, x: torch.Tensor):
        """The model's output on ``pixel_values`` ``x``; redone in fp32 for good if half precision overflowed."""
        out = self.model(pixel_values=x.to(self.dtype))
        if self.dtype != torch.float32 and not bool(torch.isfinite(out.predicted_depth).all()):
            self.dtype = torch.float32
            self.model = self._load(self.dtype)
            out = self.model(pixel_values=x.float())
        for key in ("predicted_depth", "field_of_view"):
            if getattr(out, key, None) is not None:
                out[key] = out[key].float()
        return out

    def _processed(self, image: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Prediction ``(B, 1, H, W)`` through the folder's image processor, and the working size."""
        B, _, H, W = image.shape
        kwargs = {}
        if self.resolution and getattr(getattr(self.processor, "size", None), "height", None):
            kwargs["size"] = {"height": self.resolution, "width": self.resolution}
        elif self.resolution:
            scale = self.resolution / min(H, W)
            image = F.interpolate(image, size=(round(H * scale), round(W * scale)), mode="bilinear", align_corners=False, antialias=True)
        frames = list((image * 255).round().clamp(0, 255).to(torch.uint8).cpu())  # 8-bit, on the host, as a photo reaches it
        x = self.processor(images=frames, return_tensors="pt", **kwargs).pixel_values.to(self.device)
        sizes = [(H, W)] * B
        post = self.processor.post_process_depth_estimation
        extra = {"source_sizes": sizes} if "source_sizes" in inspect.signature(post).parameters else {}
        pred = torch.stack([r["predicted_depth"] for r in post(self._predict(x), target_sizes=sizes, **extra)]).unsqueeze(1)
        return pred.float(), x.shape[-2], x.shape[-1]

    def _own_rule(self, image: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Prediction ``(B, 1, H, W)`` with ImageNet statistics at a multiple of the architecture's stride, and that size."""
        H, W = image.shape[-2:]
        h, w = self._working_size(H, W)
        x = normalise(F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False, antialias=True))
        pred = self._predict(x).predicted_depth.unsqueeze(1)
        return F.interpolate(pred, size=(H, W), mode="bilinear", align_corners=False), h, w

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Relative disparity ``(B, 1, H, W)`` (>= 0, larger is nearer) of ``image`` ``(B, 3, H, W)``."""
        H, W = image.shape[-2:]
        image = image.to(self.device, torch.float32)
        pred, h, w = self._processed(image) if self.processor is not None else self._own_rule(image)
        if self.metric:
            pred = 1.0 / pred.clamp_min(1e-3)
        if self.sharpen:  # taps two working pixels apart
            pred = snap_to_edges(pred, image, spacing=max(1, round(2 * min(H / h, W / w))), despeckle=self.despeckle)
        return pred.clamp_min(0.0)
