"""One copy of the models per config, shared by every render and live flight of a studio."""

from __future__ import annotations

import io
import json
import threading

import torch
from PIL import Image

from perpetual.config import Config
from perpetual.engine import Flythrough
from perpetual.io.images import to_uint8

__all__ = ["Engines", "jpeg"]


class Engines:
    """:class:`Flythrough` engines by config, each built on first use on ``device``."""

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._engines: dict[str, Flythrough] = {}
        self._lock = threading.Lock()

    def get(self, config: Config) -> Flythrough:
        key = json.dumps(config.to_dict(), sort_keys=True)
        with self._lock:  # two tabs asking at once load the models once
            if key not in self._engines:
                self._engines[key] = Flythrough(config, device=self.device)
            return self._engines[key]


def jpeg(image: torch.Tensor, quality: int = 85) -> bytes:
    """A ``(1, 3, H, W)`` image in [0, 1] as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
