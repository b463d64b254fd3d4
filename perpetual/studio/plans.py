"""A camera path before it is flown: drawn from above and from the side, and a fast preview.

The preview is the first frame warped along the path, holes filled cheaply, nothing inpainted:
a second or two where the flight takes minutes, enough to see where the camera goes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from perpetual.engine import Flythrough
from perpetual.flight import Plan, start_frame
from perpetual.geometry import invert_pose
from perpetual.io.draw import draw_path
from perpetual.io.video import VideoWriter
from perpetual.render import fill_holes, warp

__all__ = ["preview"]


@torch.no_grad()
def preview(engine: Flythrough, plan: Plan, folder: Path) -> list[str]:
    """Write ``path.png`` (the path from above and the side) and, for a path known in advance,
    ``preview.mp4``; the names written."""
    path = plan.path
    draw_path(path, folder / "path.png")
    if plan.closed_loop:  # the autopilot's path is decided by what it sees: nothing to draw ahead
        return ["path.png"]
    image, disparity = start_frame(plan)
    key = engine.start(image, path, disparity)
    Ks = path.intrinsics().to(engine.device)
    video = VideoWriter(folder / "preview.mp4", path.width, path.height, path.fps)
    try:
        for i in range(len(path)):
            dst_from_key = (path.poses[i] @ invert_pose(key.pose)).to(engine.device, torch.float32)
            warped = warp(key.image, key.disparity, key.K, dst_from_key.unsqueeze(0), Ks[i : i + 1])
            video.write(fill_holes(warped.image, warped.valid))
    except BaseException:
        video.close(keep=False)
        raise
    video.close()
    return ["path.png", "preview.mp4"]
