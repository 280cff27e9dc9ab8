"""``ivr calls list|show``: the call history (issue 15 item 4) from the message database."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ivr.call_history import CallHistory

class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)

__all__ = ["register", "run_on_config"]


def register(sub: Any) -> None:
    parser = sub.add_parser("calls", help="show the call history")
    parser.add_argument("--config", action="append", default=[], metavar="FILE")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="calls, newest first")
    listing.add_argument("--direction", choices=("inbound", "outbound"), default="")
    listing.add_argument("--caller", default="")
    listing.add_argument("--callee", default="")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--page", type=int, default=1)
    show = actions.add_parser("show", help="one call, every field")
    show.add_argument("call_id")
    parser.set_defaults(func=_run)


def run_on_config(config: list[str | os.PathLike[str]], opener: Callable[[str], C],
                  action: Callable[[C], int]) -> int:
    """``action`` on what ``opener`` opens on the configured message database (SQLite or
    PostgreSQL), closed afterwards (a PostgreSQL pool)."""
    from ivr.config import database_url, load_settings

    opened = opener(database_url(load_settings(config)))
    try:
        return action(opened)
    finally:
        opened.close()


def _run(args: argparse.Namespace) -> int:
    from ivr.voice.history import open_call_history

    return run_on_config(args.config, open_call_history, lambda h: _show(args, h))


def _show(args: argparse.Namespace, history: CallHistory) -> int:
    from ivr.api.ozeki_calls import history_fields
    from ivr.call_history import CallQuery
    from ivr.errors import IvrError

    if args.action == "show":
        record = history.get(args.call_id)
        if record is None:
            raise IvrError(f"no call {args.call_id!r} in the history")
        for name, value in history_fields(record).items():
            print(f"{name}: {value}")
        return 0
    limit = max(1, args.limit)
    records, total = history.query(CallQuery(
        direction=args.direction, caller=args.caller, callee=args.callee,
        offset=(max(1, args.page) - 1) * limit, limit=limit))
    for record in records:
        fields = history_fields(record)
        print("\t".join(fields[k] for k in ("StartTime", "Direction", "Caller", "Callee",
                                            "Duration", "HangupCause", "CallId")))
    print(f"{len(records)} of {total} call(s)")
    return 0
