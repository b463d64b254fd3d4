"""Finding preset files: ``cameras/`` and ``configs/`` ship inside the package (as
``perpetual.cameras`` and ``perpetual.configs``), so ``importlib.resources`` finds them under any
install scheme: a venv, ``pip install --user``, ``--target``, or a checkout installed editable."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["preset_files"]


def preset_files(kind: str, suffix: str) -> dict[str, Path]:
    """Preset name -> file for ``kind`` (``"cameras"`` or ``"configs"``), in name order."""
    folder = Path(str(files(f"perpetual.{kind}")))
    return {file.stem: file for file in sorted(folder.glob(f"*{suffix}"))}
