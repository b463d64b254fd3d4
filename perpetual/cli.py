"""The ``perpetual`` command line. It only parses arguments and calls the Python API."""

from __future__ import annotations

import argparse
import sys

from perpetual import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpetual", description="One image to an endless camera flythrough.")
    parser.add_argument("--version", action="version", version=f"perpetual {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
