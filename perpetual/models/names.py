"""The one parser of model names as configs write them (``models.depth``, ``models.inpainter``,
``models.controlnet``, ...), used by the loaders, ``perpetual download`` and the command line.

    >>> parse("sd:runwayml/stable-diffusion-inpainting")
    ModelName(text='sd:runwayml/stable-diffusion-inpainting', source='runwayml/stable-diffusion-inpainting', kind='hub', backend='sd')
    >>> parse("embedded:depth").kind, parse("classical").kind
    ('embedded', 'builtin')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["BUILTIN", "ModelName", "parse"]

# Names that are code, not weights.
BUILTIN = ("classical", "ground-plane")

Kind = Literal["builtin", "embedded", "folder", "hub", "none"]


@dataclass(frozen=True)
class ModelName:
    """A parsed model name.

    Attributes:
        text: as the config wrote it.
        source: where the weights are: a folder, a hub id, ``embedded:KIND`` or a built-in name
            (``text`` without the ``sd:`` prefix).
        kind: ``builtin`` (no weights), ``embedded`` (shipped in the package), ``folder`` (a
            local folder that exists), ``hub`` (a Hugging Face id, looked up in the local cache),
            ``none`` (empty: the optional model is not used).
        backend: ``sd`` for a diffusers pipeline (``sd:NAME``), else empty.
    """

    text: str
    source: str
    kind: Kind
    backend: str = ""

    @property
    def needs_download(self) -> bool:
        """Whether ``perpetual download`` fetches it (a hub id)."""
        return self.kind == "hub"


def parse(text: str) -> ModelName:
    backend, source = ("sd", text[3:]) if text.startswith("sd:") else ("", text)
    if not source:
        kind: Kind = "none"
    elif source in BUILTIN:
        kind = "builtin"
    elif source.startswith("embedded:"):
        kind = "embedded"
    elif Path(source).is_dir():
        kind = "folder"
    else:
        kind = "hub"
    return ModelName(text, source, kind, backend)
