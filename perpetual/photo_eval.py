"""Scoring a flight from a photograph (``perpetual eval photo``): there is no truth to compare with,
so each frame is scored against frame 0 and against what the flight itself reports.

Per frame: sharpness relative to frame 0's, the sky fraction
relative to frame 0's, and the flight's :class:`~perpetual.health.Health` (clearance events, the
share of the view magnified beyond :data:`~perpetual.engine.MAGNIFIED` or invented). The targets
a flight from a photo must meet (:data:`TARGETS`): no clearance broken, no frame's sharpness
below half of frame 0's, the sky fraction within a factor of 1.5 of frame 0's on every frame
(:func:`~perpetual.sky.sky_change`: both fractions counted with :data:`~perpetual.sky.SKY_FLOOR`
of the frame added).

Sharpness is the frame's oriented gradient energy (:func:`~perpetual.structure.edge_energy`):
edges and lines count, isotropic grain does not, so a frame turned to noise or to an inpainter's
grain slab is not sharp, and a view merely magnified by the camera's approach keeps most of it.
The variance of the Laplacian, which counted grain as detail and halved at a 1.25x magnification,
is still recorded per frame as ``laplacian``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from perpetual.engine import Flythrough, Frame
from perpetual.structure import edge_energy, sharpness
from perpetual.health import Health
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot
from perpetual.sky import SKY_FLOOR, sky_change

__all__ = ["SKY_FLOOR", "TARGETS", "PhotoReport", "evaluate_photo"]

TARGETS = {"least_sharpness": 0.5, "sky_ratio": 1.5}


@dataclass
class PhotoReport:
    """Per-frame curves and the summary of one flight from a photo."""

    health: Health
    frames: int = 0
    keyframes: int = 0
    sharpness: list[float] = field(default_factory=list)  # edge energy, relative to frame 0's
    laplacian: list[float] = field(default_factory=list)  # variance of the Laplacian, relative to frame 0's
    sky_fraction: list[float] = field(default_factory=list)

    def sky_ratio(self) -> float:
        """The worst frame's sky fraction against frame 0's (:func:`~perpetual.sky.sky_change`)."""
        return max(sky_change(s, self.sky_fraction[0]) for s in self.sky_fraction)

    def summary(self) -> dict[str, Any]:
        health = self.health.summary()
        ratio = self.sky_ratio()
        met = (health["frames_too_close"] == 0 and min(self.sharpness) >= TARGETS["least_sharpness"]
               and ratio <= TARGETS["sky_ratio"])
        return {
            "frames": self.frames, "keyframes": self.keyframes,
            "sharpness_min": min(self.sharpness), "sharpness_last": self.sharpness[-1], "laplacian_min": min(self.laplacian),
            "sky_fraction_first": self.sky_fraction[0], "sky_ratio_worst": ratio,
            "frames_too_close": health["frames_too_close"], "frames_slowed": health["frames_slowed"], "frames_paced": health["frames_paced"],
            "path_progress": health["path_progress"], "path_fitted_by": health["path_fitted_by"],
            "path_flown_level": health["path_flown_level"],
            "magnified_share_max": health["magnified_share_max"], "invented_share_max": health["invented_share_max"],
            "left_the_photo_at": health["left_the_photo_at"], "targets_met": met,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "sharpness": self.sharpness, "laplacian": self.laplacian, "sky_fraction": self.sky_fraction,
                "health": self.health.state()}


def evaluate_photo(image: torch.Tensor, fly: Flythrough, path: CameraPath, *, autopilot: Autopilot | None = None,
                   seed: int = 0, prompt: str = "", on_frame: Callable[[Frame], None] | None = None) -> PhotoReport:
    """Fly ``path`` (or the autopilot) from ``image`` ``(1, 3, H, W)`` and score every frame;
    ``on_frame`` sees each frame as it is made (e.g. for a contact sheet)."""
    mode = fly.config.guard.on_clearance if autopilot is None else "autopilot"
    report = PhotoReport(Health(fly.config.guard.clearance, mode, fit=fly.config.guard.fitted))
    first: tuple[float, float] | None = None
    for frame in fly.run(image, path, prompt=prompt, seed=seed, autopilot=autopilot):
        frame = replace(frame, image=frame.image.cpu(), disparity=frame.disparity.cpu(), detail=None, provenance=None)
        values = edge_energy(frame.image), sharpness(frame.image)
        first = values if first is None else first
        report.frames += 1
        report.keyframes += int(frame.is_keyframe)
        report.sharpness.append(values[0] / max(first[0], 1e-12))
        report.laplacian.append(values[1] / max(first[1], 1e-12))
        report.sky_fraction.append(float((frame.disparity == 0).float().mean()))
        report.health.add(frame)
        if on_frame is not None:
            on_frame(frame)
    return report
