"""Progress for long loops: a bar on a terminal, a line every few seconds in a log, CI or a notebook."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["Progress"]

T = TypeVar("T")


class Progress:
    """Counts items of a loop of ``total`` towards ``stream`` (default stderr).

    On a terminal it is a tqdm bar; elsewhere one line every ``every`` seconds and one at the end,
    e.g. ``fly: 120/300 frames (40%), 3.1 frames/s, about 58 s left``.

    Args:
        total: items in all; ``initial``: those already done (a resumed run).
        unit, desc: what is counted, and the line's label.
    """

    def __init__(self, total: int, *, initial: int = 0, unit: str = "frame", desc: str = "", every: float = 10.0,
                 stream: TextIO | None = None) -> None:
        self.total, self.done, self.unit, self.desc, self.every = total, initial, unit, desc, every
        self.stream = stream or sys.stderr
        self.note_text = ""
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc or None, file=self.stream)
        self._start = self._last = time.monotonic()
        self._initial = initial

    def __call__(self, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items``, counting each one after the loop's body has run."""
        try:
            for item in items:
                yield item
                self.advance()
        finally:
            if self._bar is not None:
                self._bar.close()

    def note(self, text: str) -> None:
        """Text shown after the count (a loss, say)."""
        self.note_text = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            rate = (self.done - self._initial) / max(now - self._start, 1e-9)
            left = f", about {(self.total - self.done) / rate:.0f} s left" if self.done < self.total and rate > 0 else ""
            note = f", {self.note_text}" if self.note_text else ""
            share = 100 * self.done / max(self.total, 1)
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}s ({share:.0f}%), {rate:.3g} {self.unit}s/s{left}{note}",
                  file=self.stream, flush=True)
