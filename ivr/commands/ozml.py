"""``ivr lint`` and ``ivr simulate``: write and debug scripts before any phone rings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.addressbook import AddressBook
    from ivr.config import Settings

__all__ = ["register"]


def register(sub: Any) -> None:
    lint = sub.add_parser("lint", help="check OzML scripts; exit 1 on any error")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.add_argument("--quiet", "-q", action="store_true", help="errors only, no warnings")
    lint.set_defaults(func=_lint)

    sim = sub.add_parser("simulate", help="run a script on a console call (transcript)")
    sim.add_argument("script", metavar="FILE|URL")
    sim.add_argument("--caller", default="+15550001111", help="caller number [$caller]")
    sim.add_argument("--callee", default="ivr", help="called number [$callee]")
    sim.add_argument("--digits", help="keys the caller presses, in order (e.g. 12#); "
                     "default: read from stdin")
    sim.add_argument("--config", action="append", default=[], metavar="FILE",
                     help="INI configuration ([ozml] timeouts, fallback URL)")
    sim.set_defaults(func=_simulate)


def _lint(args: argparse.Namespace) -> int:
    from ivr.ozml.lint import lint_file

    errors = warnings = 0
    for path in args.files:
        for diagnostic in lint_file(path):
            if diagnostic.severity == "error":
                errors += 1
            else:
                warnings += 1
                if args.quiet:
                    continue
            print(diagnostic)
    files = len(args.files)
    summary = f"{files} file{'s' * (files != 1)}: {errors} error(s), {warnings} warning(s)"
    print(summary, file=sys.stderr)
    return 1 if errors else 0


def _simulate(args: argparse.Namespace) -> int:
    from ivr.config import load_settings
    from ivr.ozml.interpreter import Interpreter
    from ivr.ozml.memory import InMemoryEmailSubmitter
    from ivr.ozml.ports import EmailRequest
    from ivr.sms.callbacks import UrlPolicy
    from ivr.voice.console import ConsoleCall, ConsoleSmsSubmitter

    settings = load_settings(args.config)
    digits = args.digits
    interactive = False
    if digits is None:
        if sys.stdin.isatty():
            interactive = True
        else:
            digits = "".join(ch for ch in sys.stdin.read() if ch in "0123456789*#ABCD")
    call = ConsoleCall(caller=args.caller, callee=args.callee, digits=digits,
                       interactive=interactive)
    sms = ConsoleSmsSubmitter(call)

    def show_email(request: EmailRequest) -> None:
        call.say(f"[email] to {request.recipient}"
                 + (f" from {request.sender}" if request.sender else "")
                 + f": {request.subject or '(no subject)'}: {request.body}")

    # Waits are measured on the simulated clock, so max_call_seconds ends a silent menu
    # at once in the transcript instead of after an hour of wall time.
    # The same outbound URL policy as `ivr serve`, so a script denied there is denied here,
    # except that loopback is allowed: simulate runs on the author's machine, against the
    # web application under development (as `ivr serve --demo` does).
    allow = [*settings.sms.callback_allow, "127.0.0.0/8", "::1"]
    book = _address_book(settings)
    try:
        Interpreter(settings.ozml, sms, email=InMemoryEmailSubmitter(show_email),
                    url_policy=UrlPolicy(allow, settings.sms.callback_deny),
                    file_roots=(settings.audio.recordings_dir, settings.audio.sounds_dir),
                    clock=lambda: call.clock, address_book=book).run(call, args.script)
    finally:
        if book is not None:
            book.close()
    return 0


def _address_book(settings: Settings) -> AddressBook | None:
    """The configured address book, so names resolve in the transcript as on a call; None
    when there is no database yet (simulate never creates one) or it cannot be reached."""
    from ivr.addressbook import open_address_book
    from ivr.config import database_url
    from ivr.errors import IvrError

    url = database_url(settings)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    try:
        return open_address_book(url)
    except IvrError as exc:
        print(f"address book not available ({exc}): names are used as written",
              file=sys.stderr)
        return None
