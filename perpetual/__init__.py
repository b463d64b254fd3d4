"""perpetual: one image to an endless camera flythrough (render, refine, repeat).

The entry points a user needs are here, imported on first use (``import perpetual`` stays light):

    >>> import perpetual
    >>> path = perpetual.forward(4).with_size(32, 32)
    >>> [f.index for f in perpetual.Flythrough(perpetual.load_config("classical")).run(perpetual.World().start_view(32, 32)[1].image, path)]
    [0, 1, 2, 3]
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "Flythrough": "perpetual.engine", "Frame": "perpetual.frame",
    "Config": "perpetual.config", "load_config": "perpetual.config", "apply_overrides": "perpetual.config",
    "CameraPath": "perpetual.paths", "forward": "perpetual.paths", "orbit": "perpetual.paths", "pan": "perpetual.paths",
    "rise": "perpetual.paths", "spiral": "perpetual.paths", "meander": "perpetual.paths", "from_waypoints": "perpetual.paths",
    "Autopilot": "perpetual.paths.autopilot",
    "warp": "perpetual.render", "World": "perpetual.world", "WorldSettings": "perpetual.world",
    "load_image": "perpetual.io.images", "RunOutputs": "perpetual.io.outputs",
    "fly": "perpetual.flight", "plan": "perpetual.flight", "FlightResult": "perpetual.flight",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'perpetual' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
