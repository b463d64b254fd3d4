"""Long-flight evaluation over the procedural world (``perpetual eval flight``).

A flight starts from the world's start view and its true disparity; every frame is compared with
the world's true render at the same pose. Short range (the first ``short`` frames): PSNR, SSIM
and MAE against the truth, and depth AbsRel and δ<1.25 (AbsRel is dominated by the few pixels
the flight calls far ground where the truth is near, or the reverse). Every frame: sharpness
(variance of the Laplacian) relative to frame 0, streakiness (gradient coherence: near 1 where
all edges run one way; natural views score well below), radial streaks (how much of the land's
oriented structure runs along rays from the focus of expansion: the smears of content magnified
again and again as the camera flies forward, which coherence alone misses where frame 0 was
already coherent; the true render's figure is reported beside it), colour drift (distance of the
frame's mean Lab colour from frame 0's), sky fraction, invalid fraction before refinement, scale
drift (median depth), and events: the camera below the ground, NaN. Every ``truth_every``
frames, against the true render at the same pose: sharpness (frame 0's says little once the view
has changed; streaks can be "sharp"), and the layout: depth δ<1.25 on the pixels both call
ground (in frame 0's scale, no re-alignment) and the intersection-over-union of the two sky
masks; and the colour of the land: the distance between the mean Lab colours of the two images'
ground pixels. A flight can stay sharp, colour-stable and clear of the ground while its scene
turns into something else (a magnified ridge where the truth has valleys); the layout measures
say when. A flight may also start from the depth model's estimate of the first view
(``true_start=False``), as a flight from a photo does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
from kornia.color import rgb_to_lab
from kornia.metrics import ssim

from perpetual.align import median_depth_scale
from perpetual.engine import Flythrough, Frame
from perpetual.io.progress import Progress
from perpetual.paths import CameraPath
from perpetual.paths.autopilot import Autopilot
from perpetual.structure import coherence_of, radial_streaks, radial_streaks_of, sharpness, structure_tensor
from perpetual.world import World

__all__ = ["FlightReport", "evaluate_flight"]



@dataclass
class FlightReport:
    """Per-frame curves and the summary of one evaluated flight."""

    frames: int = 0
    keyframes: int = 0
    short_psnr: float = 0.0
    short_ssim: float = 0.0
    short_mae: float = 0.0
    short_depth_abs_rel: float = 0.0
    short_depth_delta1: float = 0.0
    clearance_violations: int = 0
    nan_frames: int = 0
    curves: dict[str, list[float]] = field(default_factory=lambda: {
        k: [] for k in ("sharpness", "coherence", "radial_streaks", "colour_drift", "sky_fraction", "invalid_fraction", "median_depth", "clearance")
    })
    # (frame index, value) every few frames: sharpness / the true render's, depth δ<1.25, sky
    # IoU and the Lab distance of the mean ground colours against the true render.
    sharpness_vs_truth: list[tuple[int, float]] = field(default_factory=list)
    depth_delta1_vs_truth: list[tuple[int, float]] = field(default_factory=list)
    sky_iou_vs_truth: list[tuple[int, float]] = field(default_factory=list)
    ground_colour_vs_truth: list[tuple[int, float]] = field(default_factory=list)
    radial_streaks_truth: list[tuple[int, float]] = field(default_factory=list)  # the true render's, for scale

    def summary(self) -> dict[str, float]:
        c = self.curves
        last = -1
        return {
            "frames": self.frames, "keyframes": self.keyframes,
            "short_psnr": self.short_psnr, "short_ssim": self.short_ssim, "short_mae": self.short_mae,
            "short_depth_abs_rel": self.short_depth_abs_rel, "short_depth_delta1": self.short_depth_delta1,
            "sharpness_last_vs_first": c["sharpness"][last] / max(c["sharpness"][0], 1e-12),
            "sharpness_late_median_vs_first": _late_median(c["sharpness"]) / max(c["sharpness"][0], 1e-12),
            "sharpness_vs_truth_last": _last(self.sharpness_vs_truth),
            "depth_delta1_vs_truth_last": _last(self.depth_delta1_vs_truth),
            "depth_delta1_vs_truth_min": _least(self.depth_delta1_vs_truth),
            "sky_iou_vs_truth_last": _last(self.sky_iou_vs_truth),
            "sky_iou_vs_truth_min": _least(self.sky_iou_vs_truth),
            "ground_colour_vs_truth_mean": _mean(self.ground_colour_vs_truth),
            "ground_colour_vs_truth_last": _last(self.ground_colour_vs_truth),
            "coherence_first": c["coherence"][0], "coherence_max": max(c["coherence"]),
            "radial_streaks_first": c["radial_streaks"][0],
            "radial_streaks_late_median": _late_median(c["radial_streaks"]),
            "radial_streaks_truth_mean": _mean(self.radial_streaks_truth),
            "colour_drift_max": max(c["colour_drift"]), "colour_drift_last": c["colour_drift"][last],
            "sky_fraction_min": min(c["sky_fraction"]), "sky_fraction_max": max(c["sky_fraction"]),
            "invalid_fraction_mean": sum(c["invalid_fraction"]) / len(c["invalid_fraction"]),
            "median_depth_last": c["median_depth"][last],
            "clearance_violations": self.clearance_violations, "nan_frames": self.nan_frames,
        }

    def to_dict(self) -> dict:
        return {"summary": self.summary(), **asdict(self)}

    def series(self) -> dict[str, list[float]]:
        """Every curve, one value per frame, for plotting: the every-few-frames measures against the
        truth are NaN between their samples."""
        out = dict(self.curves)
        for name in ("sharpness_vs_truth", "depth_delta1_vs_truth", "sky_iou_vs_truth", "ground_colour_vs_truth", "radial_streaks_truth"):
            values = [math.nan] * self.frames
            for index, value in getattr(self, name):
                values[index] = value
            out[name] = values
        return out


def _last(series: list[tuple[int, float]]) -> float:
    return series[-1][1] if series else math.nan


def _finite(series: list[tuple[int, float]]) -> list[float]:
    return [v for _, v in series if math.isfinite(v)]


def _least(series: list[tuple[int, float]]) -> float:
    finite = _finite(series)
    return min(finite) if finite else math.nan


def _late_median(values: list[float]) -> float:
    """Median of the last fifth of a curve: one frame's figure is at the mercy of what that frame shows."""
    late = torch.tensor(values[-max(1, len(values) // 5):])
    return float(late.nanmedian())


def _mean(series: list[tuple[int, float]]) -> float:
    finite = _finite(series)
    return sum(finite) / len(finite) if finite else math.nan


def _mean_lab(image: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Lab colour ``(3,)`` of ``(1, 3, H, W)``, over the ``(1, 1, H, W)`` mask ``where`` if given."""
    lab = rgb_to_lab(image.clamp(0, 1))
    if where is None:
        return lab.mean(dim=(2, 3))[0]
    return lab[where.expand_as(lab)].view(3, -1).mean(dim=1)


def evaluate_flight(world: World, fly: Flythrough, path: CameraPath, *, autopilot: Autopilot | None = None,
                    short: int = 30, seed: int = 0, truth_every: int = 50, true_start: bool = True,
                    on_truth: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> FlightReport:
    """Fly ``path`` (or the autopilot) from the world's start view and score every frame.

    ``true_start``: the flight starts from the view's true disparity; else from ``fly``'s depth
    estimate of it, as a flight from a photo does (scene units are then the estimate's, mapped to
    the world's through the true median depth). ``on_truth(index, frame, truth)``: called with
    each frame ``(1, 3, H, W)`` that is scored against the world's true render at its pose (every
    ``truth_every`` frames and the last), and that render, e.g. to show the two side by side.
    """
    start = world.start_camera()
    Ks = path.intrinsics()
    first = world.render(start[None], Ks[:1], path.height, path.width)  # world units
    scale = median_depth_scale(first.disparity)  # world units per scene unit
    report = FlightReport()
    lab0 = _mean_lab(first.image)
    sums = {"se": 0.0, "ae": 0.0, "ssim": 0.0, "n": 0.0, "rel": 0.0, "good": 0.0, "m": 0.0}
    frames = fly.run(first.image, path, first.disparity if true_start else None, seed=seed, autopilot=autopilot)
    for frame in Progress(len(path), desc="eval flight")(frames):
        frame = replace(frame, image=frame.image.cpu(), disparity=frame.disparity.cpu())  # scored beside the world's renders
        report.frames += 1
        report.keyframes += int(frame.is_keyframe)
        cam = frame.pose.float().clone()
        cam[:3, 3] *= scale
        cam = cam @ start
        clearance = float(world.clearance(cam))
        report.clearance_violations += int(clearance <= 0)
        bad = not (torch.isfinite(frame.image).all() and torch.isfinite(frame.disparity).all())
        report.nan_frames += int(bad)
        c = report.curves
        c["sharpness"].append(sharpness(frame.image))
        structure = structure_tensor(frame.image)  # both orientation measures read it
        c["coherence"].append(coherence_of(structure))
        K = Ks[frame.index]
        centre = (float(K[0, 2]), float(K[1, 2]))  # the focus of expansion of forward flight
        c["radial_streaks"].append(radial_streaks_of(structure, frame.disparity > 0, centre))
        if frame.index % truth_every == 0 or frame.index == len(path) - 1:
            truth = world.render(cam[None], Ks[frame.index : frame.index + 1], path.height, path.width)
            report.sharpness_vs_truth.append((frame.index, c["sharpness"][-1] / max(sharpness(truth.image), 1e-12)))
            _, good, m = _depth_agreement(frame.disparity, truth.disparity, scale)
            report.depth_delta1_vs_truth.append((frame.index, good / m if m else math.nan))
            sky, true_sky = frame.disparity == 0, truth.disparity == 0
            union = float((sky | true_sky).sum())
            report.sky_iou_vs_truth.append((frame.index, float((sky & true_sky).sum()) / union if union else 1.0))
            both_land = bool((~sky).any()) and bool((~true_sky).any())
            land = float((_mean_lab(frame.image, ~sky) - _mean_lab(truth.image, ~true_sky)).norm()) if both_land else math.nan
            report.ground_colour_vs_truth.append((frame.index, land))
            report.radial_streaks_truth.append((frame.index, radial_streaks(truth.image, truth.disparity > 0, centre)))
            if on_truth is not None:
                on_truth(frame.index, frame.image, truth.image)
        c["colour_drift"].append(float((_mean_lab(frame.image) - lab0).norm()))
        c["sky_fraction"].append(float((frame.disparity == 0).float().mean()))
        c["invalid_fraction"].append(frame.invalid_fraction)
        ground = frame.disparity[frame.disparity > 0]
        c["median_depth"].append(float((1.0 / ground).median()) if ground.numel() else math.inf)
        c["clearance"].append(clearance / scale)
        if frame.index < short:
            _score_short(world, cam, Ks[frame.index : frame.index + 1], frame, scale, sums)
    n = max(sums["n"], 1.0)
    report.short_psnr = 10 * math.log10(n / max(sums["se"], 1e-12))
    report.short_mae, report.short_ssim = sums["ae"] / n, sums["ssim"] / n
    report.short_depth_abs_rel = sums["rel"] / max(sums["m"], 1.0)
    report.short_depth_delta1 = sums["good"] / max(sums["m"], 1.0)
    return report


def _score_short(world: World, cam: torch.Tensor, K: torch.Tensor, frame: Frame, scale: float, sums: dict) -> None:
    truth = world.render(cam[None], K, frame.image.shape[-2], frame.image.shape[-1])
    sums["se"] += float(((frame.image - truth.image) ** 2).sum())
    sums["ae"] += float((frame.image - truth.image).abs().sum())
    sums["ssim"] += float(ssim(frame.image, truth.image, 7).sum())
    sums["n"] += frame.image.numel()
    rel, good, m = _depth_agreement(frame.disparity, truth.disparity, scale)
    sums["rel"] += rel
    sums["good"] += good
    sums["m"] += m


def _depth_agreement(disparity: torch.Tensor, true_disparity: torch.Tensor, scale: float) -> tuple[float, float, float]:
    """Sums over the pixels both call ground: relative depth error, count with δ < 1.25, count.

    ``disparity`` in scene units, ``true_disparity`` in world units (``scale`` world units per
    scene unit); both ``(1, 1, H, W)``.
    """
    ground = (true_disparity > 0) & (disparity > 0)
    z_true, z = 1.0 / (true_disparity[ground] * scale), 1.0 / disparity[ground]
    good = torch.maximum(z / z_true, z_true / z) < 1.25
    return float(((z - z_true).abs() / z_true).sum()), float(good.sum()), float(ground.sum())
