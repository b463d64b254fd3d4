"""The ``perpetual`` command line. It only parses arguments and calls the Python API.

Every user error (bad file, bad setting) prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from perpetual import __version__

Command = Callable[[argparse.Namespace], int]


def _paths(args: argparse.Namespace) -> int:
    from perpetual.io.camera_files import list_presets, load_trajectory
    from perpetual.io.draw import draw_path

    if args.action == "show":
        if not args.name:
            raise ValueError("perpetual paths show needs a preset name or file, e.g. 'perpetual paths show orbit'")
        traj = load_trajectory(args.name, frames=args.frames)
        draw_path(traj.path, args.out)
        print(f"{args.name}: {len(traj.path)} frames, {traj.path.seconds:.1f} s at {traj.path.fps:g} fps -> {args.out}")
        return 0
    from perpetual.io.files import read_json

    for name, file in list_presets().items():
        print(f"{name:<12} {read_json(file).get('description', '')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpetual", description="One image to an endless camera flythrough.")
    parser.add_argument("--version", action="version", version=f"perpetual {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    paths = sub.add_parser("paths", help="list camera path presets, or draw one ('paths show NAME')")
    paths.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    paths.add_argument("name", nargs="?", help="preset name or camera path file (for 'show')")
    paths.add_argument("--out", default="path.png", help="PNG to draw into (for 'show')")
    paths.add_argument("--frames", type=int, default=None, help="number of frames (default: the preset's)")
    paths.set_defaults(run=_paths)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (ValueError, OSError) as err:
        print(f"perpetual {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"perpetual {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
