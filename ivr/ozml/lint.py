"""``ivr lint``: everything that can be known about a script before a phone rings. Pure.

Errors are what would stop the script or make part of it unreachable by design (parse and
schema errors, <Reject> after the first command, a menu key longer than Digits, a GoTo that
loops to itself with no caller input on the way); warnings are what probably is a mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ivr.errors import OzmlError
from ivr.ozml import verbs as v
from ivr.ozml.diagnostics import Diagnostic
from ivr.ozml.expand import variables_in
from ivr.ozml.fetch import is_url, resolve
from ivr.ozml.parser import parse_document

__all__ = ["lint_bytes", "lint_file", "BUILTIN_VARIABLES"]

BUILTIN_VARIABLES = frozenset({"caller", "callee", "callid", "digits", "smsid", "recordurl",
                               "recordduration"})
_ENDS = (v.Hangup, v.Exit, v.GoTo, v.Reject)


def lint_file(path: str, max_bytes: int = 1_000_000) -> list[Diagnostic]:
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            return [Diagnostic("error", f"document is {size} bytes, over the {max_bytes}-byte "
                               "limit", 0, 0, path)]
        data = Path(path).read_bytes()
    except OSError as exc:
        return [Diagnostic("error", f"cannot read: {exc.strerror}", 0, 0, path)]
    return lint_bytes(data, path, max_bytes)


def lint_bytes(data: bytes, source: str, max_bytes: int = 1_000_000) -> list[Diagnostic]:
    try:
        document = parse_document(data, source, max_bytes)
        script = v.build_script(document)
    except OzmlError as exc:
        return [Diagnostic("error", exc.message, exc.line, exc.col, exc.source)]
    checker = _Checker(source)
    checker.sequence(script.commands, top=True, depth=0)
    checker.variables(script.commands)
    return sorted(list(document.warnings) + checker.found,
                  key=lambda d: (d.line, d.col, d.severity))


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[Diagnostic] = []
        self.input_seen = False

    def add(self, severity: str, line: int, message: str) -> None:
        self.found.append(Diagnostic(severity, message, line, 0, self.source))

    def sequence(self, commands: Sequence[v.Command], *, top: bool, depth: int) -> None:
        ended: v.Command | None = None
        for index, command in enumerate(commands):
            if ended is not None:
                self.add("warning", command.line, f"unreachable: <{_name(ended)}> on line "
                         f"{ended.line} ends the script before this command")
                ended = None  # one warning per dead stretch
            if isinstance(command, v.Reject) and not (top and index == 0):
                self.add("error", command.line, "<Reject> is only valid as the first command "
                         "(the call must not be answered yet)")
            if isinstance(command, v.GoTo):
                self.goto(command)
            if isinstance(command, v.UserInput | v.Record):
                self.input_seen = True
            if isinstance(command, v.UserInput):
                self.menu(command, depth)
            if isinstance(command, v.Record) and command.format != "wav":
                self.add("warning", command.line, f"Format {command.format} is recorded as WAV "
                         "(no MP3 encoder is shipped)")
            if isinstance(command, _ENDS):
                ended = command

    def goto(self, command: v.GoTo) -> None:
        if "$" in command.url or is_url(command.url):
            return
        target = Path(resolve(command.url, self.source))
        if target.resolve() == Path(self.source).resolve() and not self.input_seen:
            self.add("error", command.line, f"<{command.notification}> to this same file with no "
                     "caller input before it loops until the hop limit")

    def menu(self, menu: v.UserInput, depth: int) -> None:
        self.sequence(menu.prompt, top=False, depth=depth)
        if menu.back_key and depth == 0:
            self.add("warning", menu.line, "BackKey on a top-level menu only repeats it")
        for item in menu.inputs:
            if len(item.key) > menu.digits:
                self.add("error", item.line, f"key {item.key!r} has {len(item.key)} digits but "
                         f"the menu collects at most Digits={menu.digits}")
            if menu.finish_on_key and menu.finish_on_key in item.key:
                self.add("error", item.line, f"key {item.key!r} contains the finish key "
                         f"{menu.finish_on_key!r} and can never be entered")
            if menu.back_key and item.key == menu.back_key:
                self.add("warning", item.line, f"key {item.key!r} is also the BackKey")
            self.sequence(item.commands, top=False, depth=depth + 1)
        for branch in (menu.no_input, menu.invalid):
            if branch:
                self.sequence(branch, top=False, depth=depth)
        if not menu.inputs and not menu.forward_to_url:
            self.add("warning", menu.line, "<UserInput> has no <Input> and no ForwardToUrl: "
                     "the digits are only kept in $digits")

    def variables(self, commands: Sequence[v.Command]) -> None:
        defined = set(BUILTIN_VARIABLES)
        for command in _walk(commands):
            if isinstance(command, v.Var):
                defined.add(command.name.lower())
        for command in _walk(commands):
            for text in _texts(command):
                for name in variables_in(text):
                    if name not in defined:
                        self.add("warning", command.line, f"${name} is never set by <Var> and "
                                 "is not a call variable (SIP header variables exist only on "
                                 "calls that carry them)")


def _name(command: v.Command) -> str:
    if isinstance(command, v.GoTo):
        return command.notification
    return {"SendDtmf": "SendDTMF", "CallOut": "Call"}.get(type(command).__name__,
                                                            type(command).__name__)


def _walk(commands: Sequence[v.Command]) -> list[v.Command]:
    result: list[v.Command] = []
    for command in commands:
        result.append(command)
        if isinstance(command, v.UserInput):
            result.extend(_walk(command.prompt))
            for item in command.inputs:
                result.extend(_walk(item.commands))
            result.extend(_walk(command.no_input or ()))
            result.extend(_walk(command.invalid or ()))
    return result


def _texts(command: v.Command) -> list[str]:
    return [value for value in vars(command).values() if isinstance(value, str)]
