"""What a flight's frames say about the flight: clearance events and how much of each view is
still the start image's, gathered frame by frame for the run summary, run.json and ``eval photo``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from perpetual.frame import MAGNIFIED, Frame

__all__ = ["LEFT_THE_PHOTO", "Health"]

# A frame whose land is more than this share of the view, magnified beyond MAGNIFIED or invented,
# no longer shows the start image: the flight has left what its models can render.
LEFT_THE_PHOTO = 0.5


# What each rule of the fit (perpetual.paths.fit.Fit.bound) foresaw a little further along the path.
_FITTED_BY = {
    "clearance": "further on, the camera would come within 1.5x guard.clearance of a surface",
    "magnified": f"further on, more of the view than half of guard.max_magnified would be land magnified over {MAGNIFIED:g}x",
    "hidden sky": "further on, near land would hide more of the sky than guard.max_hidden_sky",
    "detail": "further on, the view would keep less of the photo's detail than guard.min_detail",
    "sky": "further on, the view's share of sky would change by more than guard.max_sky_change",
}


def _spans(frames: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive frame numbers, as (first, last)."""
    spans: list[tuple[int, int]] = []
    for i in frames:
        if spans and i == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def _frames(span: tuple[int, int]) -> str:
    return f"frame {span[0]}" if span[0] == span[1] else f"frames {span[0]}-{span[1]}"


@dataclass
class Health:
    """Per-frame measures of one flight (:meth:`add` each frame in order); ``clearance``, ``mode``
    and ``fit`` (the path's speed fitted to the start image) are the engine's settings, for the messages."""

    clearance: float = 0.0
    mode: str = "slow"
    fit: bool = False
    free_space: list[float | None] = field(default_factory=list)  # None: nothing checked
    magnified: list[float] = field(default_factory=list)
    invented: list[float] = field(default_factory=list)
    slowed: list[int] = field(default_factory=list)  # by the clearance
    paced: list[int] = field(default_factory=list)  # by the magnified share
    too_close: list[int] = field(default_factory=list)
    progress: float = 0.0
    fitted_by: str = ""  # the rule that bounded the fitted path (frame 0's Frame.fitted_by)
    turn_bound: tuple[float, float] | None = None  # frame 0's Frame.turn_bound
    flown_level: bool = False  # frame 0's Frame.flown_level

    def add(self, frame: Frame) -> None:
        self.free_space.append(round(frame.free_space, 5) if math.isfinite(frame.free_space) else None)
        self.magnified.append(round(frame.magnified_share, 5))
        self.invented.append(round(frame.invented_share, 5))
        progress = float(frame.index) if frame.progress is None else frame.progress
        if frame.slowed == "clearance":
            self.slowed.append(frame.index)
        elif frame.slowed == "magnified":
            self.paced.append(frame.index)
        if frame.too_close:
            self.too_close.append(frame.index)
        self.fitted_by = frame.fitted_by or self.fitted_by
        self.turn_bound = frame.turn_bound or self.turn_bound
        self.flown_level = frame.flown_level or self.flown_level
        self.progress = progress

    def left_at(self) -> int | None:
        """The first frame that no longer shows the start image (see :data:`LEFT_THE_PHOTO`)."""
        for i, (m, v) in enumerate(zip(self.magnified, self.invented)):
            if m + v > LEFT_THE_PHOTO:
                return i
        return None

    def summary(self) -> dict[str, Any]:
        free = [f for f in self.free_space if f is not None]
        shares = [m + v for m, v in zip(self.magnified, self.invented)]
        return {
            "clearance": self.clearance, "on_clearance": self.mode, "least_free_space": min(free) if free else None,
            "frames_slowed": len(self.slowed), "frames_paced": len(self.paced), "frames_too_close": len(self.too_close),
            "path_progress": self.progress, "path_fitted_by": self.fitted_by, "path_flown_level": self.flown_level,
            "magnified_share_max": max(self.magnified, default=0.0), "invented_share_max": max(self.invented, default=0.0),
            "magnified_or_invented_last": shares[-1] if shares else 0.0, "left_the_photo_at": self.left_at(),
            "autopilot_turn_bound": list(self.turn_bound) if self.turn_bound else None,
        }

    def messages(self, frames: int) -> list[str]:
        """One line per event worth a person's attention."""
        lines = []
        c = self.clearance
        if self.slowed:
            spans = ", ".join(_frames(s) for s in _spans(self.slowed))
            lines.append(f"{spans}: slowed to keep {c:g} from the nearest surface (guard.on_clearance=warn flies the path as given)")
        if self.paced:
            spans = ", ".join(_frames(s) for s in _spans(self.paced))
            lines.append(f"{spans}: slowed as the view filled with land magnified over {MAGNIFIED:g}x (guard.max_magnified=1 flies on)")
        autopilot = self.mode == "autopilot"  # its progress: the distance it flew, in its open-loop plan's frames
        flown = (f"the autopilot flew as far as its plan's first {self.progress:.1f} of {frames - 1} frames" if autopilot
                 else f"the camera flew {self.progress:.1f} of the path's {frames - 1} frames")
        if self.fit and self.progress < frames - 1 - 1e-6:
            even = "" if autopilot else ", at an even pace"
            why = f": {_FITTED_BY[self.fitted_by]}" if self.fitted_by in _FITTED_BY else ""
            lines.append(f"{flown}, its speed fitted to what the start image holds{even}{why} "
                         "(guard.fit=false flies it at its own speed)")
        elif self.slowed or self.paced:
            lines.append(flown)
        if self.flown_level:
            lines.append("its moves were made level with the photo's horizon, not along its camera's axis "
                         "(engine.level_paths=turns keeps them)")
        if self.turn_bound is not None:
            to_left, to_right = self.turn_bound
            cut = ", less on a side where turning there early and flying on would leave its detail or sky behind" if self.fit else ""
            lines.append(f"the autopilot kept its heading within {to_left:.1f} degrees left and {to_right:.1f} right of frame 0's "
                         f"(at most half the photo's half field{cut})")
        if self.too_close and self.mode == "stop":
            lines.append(f"frame {self.too_close[0]}: stopped {c:g} short of a surface; the camera holds there to the end")
        elif self.too_close:
            spans = ", ".join(_frames(s) for s in _spans(self.too_close))
            lines.append(f"{spans}: the path passes closer than {c:g} to a surface (least {min(f for f in self.free_space if f is not None):.3f})")
        left = self.left_at()
        if left is not None:
            share = self.magnified[left] + self.invented[left]
            lines.append(f"from frame {left}, {share:.0%} of the view is magnified over {MAGNIFIED:g}x or invented: the flight has "
                         "left what its start image shows (a shorter or slower path stays in it)")
        return lines

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, state: dict[str, Any]) -> Health:
        return cls(**state)
