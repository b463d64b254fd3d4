"""Finding preset files: ``cameras/`` and ``configs/`` beside the package in a checkout, else
the copies installed under ``<prefix>/share/perpetual/``."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["preset_files"]


def preset_files(kind: str, suffix: str) -> dict[str, Path]:
    """Preset name -> file for ``kind`` (``"cameras"`` or ``"configs"``), first folder wins."""
    here = Path(__file__).resolve().parents[2] / kind
    folders = [d for d in (here, Path(sys.prefix) / "share" / "perpetual" / kind) if d.is_dir()]
    found: dict[str, Path] = {}
    for folder in folders:
        for file in sorted(folder.glob(f"*{suffix}")):
            found.setdefault(file.stem, file)
    return found
