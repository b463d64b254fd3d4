"""Evaluation report images: line plots of per-frame curves, contact sheets of frames beside the truth."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from perpetual.io.files import atomic_path
from perpetual.io.images import to_uint8

_W, _H, _PAD = 420, 150, 30


def plot_curves(curves: dict[str, list[float]], out: str | Path, bands: dict[str, tuple[float, float]] | None = None) -> None:
    """Write a PNG with one panel per curve (frame index on x); ``bands`` shade a target range."""
    names = [k for k, v in curves.items() if v]
    cols = 2
    rows = math.ceil(len(names) / cols)
    image = Image.new("RGB", (cols * _W, rows * _H), "white")
    draw = ImageDraw.Draw(image)
    for k, name in enumerate(names):
        values = [v if math.isfinite(v) else float("nan") for v in curves[name]]
        finite = [v for v in values if v == v]
        ox, oy = (k % cols) * _W, (k // cols) * _H
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        band = (bands or {}).get(name)
        if band:
            lo, hi = min(lo, band[0]), max(hi, band[1])
        hi = hi if hi > lo else lo + 1.0

        def xy(i: int, v: float) -> tuple[float, float]:
            x = ox + _PAD + (_W - 2 * _PAD) * i / max(len(values) - 1, 1)
            return x, oy + _H - _PAD - (_H - 2 * _PAD) * (v - lo) / (hi - lo)

        if band:
            draw.rectangle([xy(0, band[1]), xy(len(values) - 1, band[0])], fill=(225, 240, 225))
        draw.rectangle([ox + _PAD, oy + _PAD, ox + _W - _PAD, oy + _H - _PAD], outline=(180, 180, 180))
        points = [xy(i, v) for i, v in enumerate(values) if v == v]
        if len(points) > 1:
            draw.line(points, fill=(40, 90, 200), width=2)
        draw.text((ox + _PAD, oy + 8), f"{name}  [{lo:.3g}, {hi:.3g}]", fill="black")
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")


class ContactSheet:
    """Frames beside the truth: :meth:`add` ``(frame index, frame, truth)`` views, each image
    ``(1, 3, H, W)`` in [0, 1], kept as ``thumb``-pixel-high thumbnails (memory stays small over a
    long flight); :meth:`save` writes a PNG of rows of up to ``columns`` frames, each row of frames
    over the row of their true renders, every frame labelled with its index."""

    _LABEL = 14

    def __init__(self, thumb: int = 128, columns: int = 8) -> None:
        self.thumb, self.columns = thumb, columns
        self.views: list[tuple[int, Image.Image, Image.Image]] = []

    def add(self, index: int, frame: torch.Tensor, truth: torch.Tensor) -> None:
        H, W = frame.shape[-2:]
        size = (self.thumb, max(1, round(self.thumb * W / H)))
        small = [Image.fromarray(to_uint8(torch.nn.functional.interpolate(x.float().cpu(), size=size, mode="area"))) for x in (frame, truth)]
        self.views.append((index, *small))

    def save(self, out: str | Path) -> None:
        if not self.views:
            raise ValueError(f"cannot write {out}: no frames to show")
        tw, th = self.views[0][1].size
        block = self._LABEL + 2 * th
        sheet = Image.new("RGB", (min(len(self.views), self.columns) * tw, math.ceil(len(self.views) / self.columns) * block), "white")
        draw = ImageDraw.Draw(sheet)
        for k, (index, frame, truth) in enumerate(self.views):
            x, y = (k % self.columns) * tw, (k // self.columns) * block
            draw.text((x + 3, y + 1), f"frame {index}", fill="black")
            sheet.paste(frame, (x, y + self._LABEL))
            sheet.paste(truth, (x, y + self._LABEL + th))
        with atomic_path(out) as tmp:
            sheet.save(tmp, format="PNG")
