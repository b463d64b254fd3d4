"""Where model weights come from: a local folder, the Hugging Face cache, or the package itself.

Nothing here downloads at run time: a hub id is looked up in the local cache only, and a miss
is one line that names the model and ``perpetual download``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from perpetual.models.names import parse

__all__ = ["WEIGHTS", "ModelMissing", "auto_device", "resolve"]

# The embedded models ship inside the package.
WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


class ModelMissing(ValueError):
    """A model is neither a local folder nor in the local Hugging Face cache."""


def resolve(name: str, config: str = "config.json") -> str:
    """A loadable folder for ``name``: ``embedded:KIND``, a local folder, or a cached hub id."""
    kind = parse(name).kind
    if kind == "embedded":
        folder = WEIGHTS / name.split(":", 1)[1]
        if not (folder / config).is_file():
            raise ModelMissing(f"embedded model {name} is missing from the package ({folder}); reinstall perpetual")
        return str(folder)
    if kind == "folder":
        if not (Path(name) / config).is_file():
            raise ModelMissing(f"folder {name} has no {config}: not a saved model (save_pretrained layout)")
        return name
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001  (any miss: not cached, bad id, offline)
        raise ModelMissing(
            f"model {name!r} is not a local folder and not in the Hugging Face cache; on a networked machine run "
            f"'perpetual download CONFIG' (or pass a local folder)"
        ) from None


def auto_device(device: str | torch.device | None = None) -> torch.device:
    """``cuda`` if available, else ``mps``, else ``cpu``; an explicit device wins if it is there.

    Raises ``ValueError`` (one line) for a device that is not a device name or not on this machine.
    """
    if device not in (None, "auto"):
        try:
            chosen = torch.device(device)
        except RuntimeError:
            raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
        if chosen.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device {device!r} is not supported: perpetual runs on cpu, cuda or mps (or auto)")
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available: no CUDA GPU found here (use auto or cpu)")
        if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
        if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ValueError(f"device {device!r} is not available: no Apple GPU (MPS) found here (use auto or cpu)")
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
