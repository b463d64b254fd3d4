"""Reading start images and writing frames, at the uint8 edge of the float pipeline."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = ["MAX_PIXELS", "load_image", "to_uint8"]

# Refuse images larger than this many pixels (decompression bombs, accidental panoramas).
MAX_PIXELS = 80_000_000


def load_image(path: str | Path, width: int, height: int) -> torch.Tensor:
    """Read PNG/JPEG/WebP/... as ``(1, 3, height, width)`` float32 in [0, 1].

    RGBA is composited over white, grayscale and palette images become RGB, 16-bit images keep
    their range, and EXIF orientation is applied. The image is scaled to cover ``width x height`` keeping its aspect ratio, then
    centre-cropped: nothing is stretched. Errors raise ValueError naming the file and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"image {path} does not exist")
    if path.is_dir():
        raise ValueError(f"image {path} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"image {path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ValueError(f"image {path} is {img.width}x{img.height}, over {MAX_PIXELS // 1_000_000} MP; downscale it first")
                array = _to_rgb(ImageOps.exif_transpose(img))  # a photo taken sideways, upright as viewers show it
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"image {path} is too large to decode safely; downscale it first") from None
    except (OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: not a readable PNG/JPEG/WebP image ({err.__class__.__name__})") from None
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return _cover_crop(tensor, width, height)


def _to_rgb(img: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1] from any PIL mode."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float32)
        a = a / (65535.0 if a.max() > 255 else 255.0)
        return np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _cover_crop(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    _, _, h, w = image.shape
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    if new_w * new_h > 16 * width * height:  # a strip far from the frame's aspect: crop before scaling, not after
        keep_w, keep_h = max(1, min(w, round(width / scale))), max(1, min(h, round(height / scale)))
        top, left = (h - keep_h) // 2, (w - keep_w) // 2
        image, (h, w), (new_w, new_h) = image[..., top:top + keep_h, left:left + keep_w], (keep_h, keep_w), (width, height)
    if (new_w, new_h) != (w, h):
        image = torch.nn.functional.interpolate(image, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return image[..., top : top + height, left : left + width].clamp(0.0, 1.0).contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8."""
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
