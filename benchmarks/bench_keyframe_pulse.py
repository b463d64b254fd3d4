"""How much a flight from a photo changes at its keyframes, against the steps between them: its
pulse at the keyframe rate, on the embedded ``default`` config (the baseline) and with settings
changed (``--set``), measured in the same run.

For each step t -> t+1 of the flight: the ratio of the edge energies of frames t+1 and t
(:func:`perpetual.structure.edge_energy`, what ``perpetual eval photo`` scores as sharpness: a
view magnified as the camera nears softens a little at every step), and the RMS of frame t+1
less frame t warped to its pose by frame t's disparity, on the land both show, eight pixels in
from the borders (what a step changes beyond the camera's motion: grain drawn anew, a keyframe
softer or sharper than the frame before it). Printed per config: the median of each over the
steps into a keyframe and over the other steps, and the least edge energy of the flight against
frame 0's. A flight that does not pulse changes as much at a keyframe as between two.

Run: ``python benchmarks/bench_keyframe_pulse.py [--photo rocket.jpg] [--trajectory forward]
[--frames 60] [--set render.resharpen=false ...]``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import skimage
import torch

from perpetual import Flythrough, load_config
from perpetual.config import apply_overrides
from perpetual.geometry import invert_pose
from perpetual.io.camera_files import load_camera_path
from perpetual.io.images import load_image
from perpetual.render import warp
from perpetual.structure import edge_energy

_BORDER = 8


def steps(engine: Flythrough, image: torch.Tensor, trajectory: str, frames: int) -> tuple[list[tuple[bool, float, float]], float]:
    """Each step of one flight as (into a keyframe, edge energy ratio, residual RMS), and its least
    edge energy against frame 0's."""
    path = load_camera_path(trajectory, frames=frames, width=image.shape[-1], height=image.shape[-2]).path
    Ks = path.intrinsics()
    out, last, last_energy, first, least = [], None, 0.0, None, 1.0
    for frame in engine.run(image, path):
        energy = edge_energy(frame.image)
        first = energy if first is None else first
        least = min(least, energy / first)
        if last is not None:
            K = Ks[frame.index : frame.index + 1]
            moved = (frame.pose @ invert_pose(last.pose)).float().unsqueeze(0)
            seen = warp(last.image, last.disparity, K, moved, K)
            both = seen.valid & (seen.disparity > 0) & (frame.disparity > 0)
            both[..., :_BORDER, :] = both[..., -_BORDER:, :] = False
            both[..., :_BORDER] = both[..., -_BORDER:] = False
            residual = ((frame.image - seen.image) ** 2).mean(1, keepdim=True)[both]
            rms = float(residual.mean().sqrt()) if residual.numel() else float("nan")
            out.append((frame.is_keyframe, energy / last_energy, rms))
        last, last_energy = frame, energy
    return out, least


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default=str(Path(skimage.__file__).parent / "data" / "rocket.jpg"))
    parser.add_argument("--trajectory", default="forward")
    parser.add_argument("--size", default="384x256")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="a config to fly beside the default (repeatable)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    image = load_image(args.photo, width, height)
    print(f"{Path(args.photo).name} {args.size}, {args.trajectory}, {args.frames} frames, torch threads {torch.get_num_threads()}")
    print(f"{'config':<28}{'keyframes':>10}{'energy ratio: key':>19}{'between':>9}{'residual: key':>15}{'between':>9}{'least energy':>14}")
    for setting in ["default", *args.set]:
        overrides = [] if setting == "default" else [setting]
        engine = Flythrough(apply_overrides(load_config("default"), overrides), device="cpu")
        flown, least = steps(engine, image, args.trajectory, args.frames)
        key = [s for s in flown if s[0]]
        between = [s for s in flown if not s[0]]

        def median(rows: list, i: int) -> float:
            return statistics.median(r[i] for r in rows) if rows else float("nan")

        print(f"{setting:<28}{len(key):>10}{median(key, 1):>19.3f}{median(between, 1):>9.3f}"
              f"{median(key, 2):>15.4f}{median(between, 2):>9.4f}{least:>14.3f}")


if __name__ == "__main__":
    main()
