"""How much a perfect inpainter would help a long flight: holes filled with the world's truth.

The default flight (autopilot, world start, 256²) is flown twice in one run: as shipped, and with
every keyframe's holes given the world's true colour and depth at that pose (an oracle inpainter
and depth model). Printed every 50 frames: the mean absolute colour error against the true render
at the flight's pose, and the share of pixels that were holes at keyframes. If the two rows
agree, the flight's drift away from the world comes from what the warp carries (content frame 0
saw small, magnified), not from what the inpainter invents.
Run: ``python benchmarks/oracle_fill.py [--seed 1] [--frames 400]``.
"""

from __future__ import annotations

import argparse

import torch

from perpetual.align import median_depth_scale
from perpetual.config import load_config
from perpetual.engine import Flythrough
from perpetual.models import InpaintRequest
from perpetual.paths import forward
from perpetual.paths.autopilot import Autopilot
from perpetual.world import World, WorldSettings


class OracleFlythrough(Flythrough):
    """Holes take the world's true render at the autopilot's current pose (colour and depth)."""

    def __init__(self, world: World, pilot: Autopilot, start: torch.Tensor, scale: float, K: torch.Tensor) -> None:
        super().__init__(load_config("default"), device="cpu")
        self.world, self.pilot, self.origin, self.scale, self.K = world, pilot, start, scale, K
        self.inpainter = self._fill
        self.holes: list[float] = []

    def _fill(self, request: InpaintRequest) -> torch.Tensor:
        cam = self.pilot.pose().float().clone()  # the pose being refined
        cam[:3, 3] *= self.scale
        self.truth = self.world.render((cam @ self.origin)[None], self.K, *request.image.shape[-2:])
        self.holes.append(float((~request.valid).float().mean()))
        return torch.where(request.valid, request.image, self.truth.image)

    def _merge_depth(self, image, rendered, valid, completed):
        return torch.where(valid, rendered, self.truth.disparity * self.scale)


def fly(seed: int, frames: int, oracle: bool) -> tuple[list[tuple[int, float]], float]:
    world = World(WorldSettings(seed=seed))
    path = forward(frames).with_size(256, 256)
    start, K = world.start_camera(), path.intrinsics()[:1]
    first = world.render(start[None], K, 256, 256)
    scale = median_depth_scale(first.disparity)
    pilot = Autopilot()
    engine = OracleFlythrough(world, pilot, start, scale, K) if oracle else Flythrough(load_config("default"), device="cpu")
    errors = []
    for frame in engine.run(first.image, path, first.disparity, seed=seed, autopilot=pilot):
        if frame.index % 50 == 0 or frame.index == frames - 1:
            cam = frame.pose.float().clone()
            cam[:3, 3] *= scale
            truth = world.render((cam @ start)[None], K, 256, 256)
            errors.append((frame.index, float((frame.image - truth.image).abs().mean())))
    holes = sum(engine.holes) / max(len(engine.holes), 1) if oracle else float("nan")
    return errors, holes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"world seed {args.seed}, {args.frames} frames, autopilot, 256²; mean |colour - truth| at frame:")
    for oracle in (False, True):
        errors, holes = fly(args.seed, args.frames, oracle)
        name = "oracle holes" if oracle else "as shipped"
        extra = f"  (holes: {100 * holes:.2f}% of a keyframe on average)" if oracle else ""
        print(f"{name:<13}" + " ".join(f"{i}:{e:.3f}" for i, e in errors) + extra, flush=True)


if __name__ == "__main__":
    main()
