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


def contact_sheet(views: list[tuple[int, torch.Tensor, torch.Tensor]], out: str | Path, thumb: int = 128, columns: int = 8) -> None:
    """Write a PNG of ``(frame index, frame, truth)`` views, each image ``(1, 3, H, W)`` in [0, 1]:
    rows of up to ``columns`` frames ``thumb`` pixels high, each row of frames over the row of
    their true renders, every frame labelled with its index."""
    if not views:
        raise ValueError(f"cannot write {out}: no frames to show")
    H, W = views[0][1].shape[-2:]
    tw = max(1, round(thumb * W / H))
    label = 14
    blocks = math.ceil(len(views) / columns)
    sheet = Image.new("RGB", (min(len(views), columns) * tw, blocks * (label + 2 * thumb)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (index, frame, truth) in enumerate(views):
        x, y = (k % columns) * tw, (k // columns) * (label + 2 * thumb)
        draw.text((x + 3, y + 1), f"frame {index}", fill="black")
        for row, image in enumerate((frame, truth)):
            small = torch.nn.functional.interpolate(image.float().cpu(), size=(thumb, tw), mode="area")
            sheet.paste(Image.fromarray(to_uint8(small)), (x, y + label + row * thumb))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
