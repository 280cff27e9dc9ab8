"""``ivr`` command line: one sub-command module per area under ``ivr/commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ivr.errors import IvrError

__all__ = ["main", "build_parser"]

# Each module defines ``register(subparsers)``; the sub-parser's ``func(args) -> int`` runs it.
_COMMAND_MODULES = ("ozml", "serve", "sms", "user", "calls", "contacts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug with wire dumps)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ivr.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ivr.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except IvrError as exc:
        print(f"ivr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
