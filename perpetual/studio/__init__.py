"""``perpetual studio``: plan, render and fly live in the browser (see docs/studio.md).

A Starlette app (:mod:`perpetual.studio.app`) served by uvicorn: a plain page, a JSON API for
uploads, plans and renders, and a WebSocket for the live view, whose round trip is one frame.
Needs the ``studio`` extra: ``pip install 'perpetual[studio]'``.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

__all__ = ["INSTALL_HINT", "serve"]

INSTALL_HINT = "perpetual studio needs its extra: pip install 'perpetual[studio]' (starlette, uvicorn)"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ValueError(f"cannot serve on {host}:{port} ({err.strerror}); pass another --port or --host") from None


def serve(host: str = "127.0.0.1", port: int = 7860, *, workdir: str | Path = "perpetual-studio", config: str = "default",
          device: str = "auto") -> None:
    """Serve the studio until interrupted; renders and recordings are kept in ``workdir``."""
    try:
        import uvicorn

        from perpetual.studio.app import create_app
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    from perpetual.config import config_presets

    if config not in config_presets():
        raise ValueError(f"unknown config {config!r}; one of {', '.join(sorted(config_presets()))}")
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise ValueError(f"--workdir {workdir} is a file; the studio keeps its uploads and renders in a folder")
    _check_port(host, port)
    if not _loopback(host):
        print(f"warning: serving on {host}, reachable from other machines; the studio has no login", file=sys.stderr)
    app = create_app(workdir, config=config, device=device)
    print(f"perpetual studio on http://{'localhost' if _loopback(host) else host}:{port}  (Ctrl-C stops; work in {workdir}/)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
