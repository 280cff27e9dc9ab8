"""``ivr lint``: everything that can be known about a script before a phone rings. Pure.

Errors are what would stop the script or make part of it unreachable by design (parse and
schema errors, <Reject> after the first command, a menu key longer than Digits, a GoTo that
loops to itself with no caller input on the way, an SQL GoTo with two statements); warnings
are what probably is a mistake, what ivr skips (Ozeki commands it does not carry out), and
where only ``[ozml] max_call_seconds`` ends a wait Ozeki leaves open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

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
_LIMIT = "[ozml] max_call_seconds (3600 s unless configured)"
_ALARM_VARIABLES = frozenset({"account", "eventqualifier", "eventcode", "eventname",
                              "partition", "zone"})


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
            if isinstance(command, v.UserInput | v.Record | v.ReceiveAlarm):
                self.input_seen = True
            if isinstance(command, v.UserInput):
                self.menu(command, depth)
            if isinstance(command, v.Play):
                self.play(command)
            if isinstance(command, v.ForEach):
                self.sequence(command.commands, top=False, depth=depth)
            if isinstance(command, v.ReceiveAlarm):
                self.sequence(command.received, top=False, depth=depth)
            if isinstance(command, v.DeleteFile | v.MoveFile):
                names = [command.path] if isinstance(command, v.DeleteFile) else \
                    [command.source, command.destination]
                for name in names:
                    self.path(command, name, "[audio] recordings_dir or sounds_dir")
            if isinstance(command, v.Record) and command.record_path:
                self.path(command, command.record_path, "[audio] recordings_dir")
            if isinstance(command, _ENDS):
                ended = command

    def path(self, command: v.Command, name: str, where: str) -> None:
        if "$" in name or name.startswith("file://"):
            return
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts:
            self.add("warning", command.line, f"<{_name(command)}> {name!r}: scripts may only "
                     f"use files inside {where}; this one is refused unless it resolves there")

    def play(self, command: v.Play) -> None:
        if not is_url(command.source):
            self.path(command, command.source, "[audio] sounds_dir")
        if command.repeat == v.UNLIMITED and not command.timeout:
            self.add("warning", command.line, "<Play Repeat=\"true\"> without Timeout plays "
                     f"until the caller hangs up; only {_LIMIT} ends it")

    def goto(self, command: v.GoTo) -> None:
        if command.sql:
            body = command.url.strip().rstrip(";")
            if ";" in re.sub(r"'[^']*'", "", body):
                self.add("error", command.line, f"<{command.notification}>: one SQL "
                         "statement only (SQL OzML runs a single read-only query)")
            return
        if "$" in command.url or is_url(command.url):
            return
        target = Path(resolve(command.url, self.source))
        if target.resolve() == Path(self.source).resolve() and not self.input_seen:
            self.add("error", command.line, f"<{command.notification}> to this same file with no "
                     "caller input before it loops until the hop limit")

    def menu(self, menu: v.UserInput, depth: int) -> None:
        self.sequence(menu.prompt, top=False, depth=depth)
        if not menu.timeout:
            self.add("warning", menu.line, "<UserInput> without Timeout waits for a key as "
                     f"long as the caller stays (Ozeki's Timeout 0); only {_LIMIT} ends it")
        if menu.repeat and menu.max_repeats == v.UNLIMITED:
            self.add("warning", menu.line, "Repeat=\"true\" re-prompts without a limit, as "
                     f"Ozeki does; only {_LIMIT} ends it (MaxRepeats sets a count)")
        for item in menu.inputs:
            if len(item.key) > menu.digits:
                self.add("error", item.line, f"key {item.key!r} has {len(item.key)} digits but "
                         f"the menu collects at most {menu.digits} (Digits/MaxDigits; Ozeki's "
                         "default is 1)")
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
        arrays = set()
        for command in _walk(commands):
            if isinstance(command, v.Var):
                defined.add(command.name.lower())
            elif isinstance(command, v.Array):
                arrays.add(command.name.lower())
            elif isinstance(command, v.ForEach):
                defined.add("item")
            elif isinstance(command, v.ReceiveAlarm):
                defined |= _ALARM_VARIABLES
        for command in _walk(commands):
            if isinstance(command, v.ForEach) and command.source.lower() not in arrays:
                self.add("warning", command.line, f"<ForEach Source={command.source!r}>: no "
                         "<Array> with that Id in this script (skipped unless an earlier "
                         "document defined it)")
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
    return {"SendDtmf": "SendDTMF", "CallOut": "Call",
            "ReceiveAlarm": "ReceiveAlarmNotification"}.get(type(command).__name__,
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
        elif isinstance(command, v.ForEach):
            result.extend(_walk(command.commands))
        elif isinstance(command, v.ReceiveAlarm):
            result.extend(_walk(command.received))
    return result


def _texts(command: v.Command) -> list[str]:
    return [value for value in vars(command).values() if isinstance(value, str)]
