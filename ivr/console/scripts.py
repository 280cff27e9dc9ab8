"""The console's script side: files of the scripts directory, lint, and simulated calls.

A simulated call runs the same :class:`~ivr.ozml.interpreter.Interpreter` as ``ivr simulate``
on a :class:`~ivr.voice.console.ConsoleCall`. The browser holds the state: each request
carries the script text and every key pressed so far, and the call is replayed from the start
until it ends or waits for a key nobody has pressed yet. Replaying is instant (the console
call's time is simulated) and leaves nothing running on the server between clicks.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ivr.call import CallEnded, PlayOutcome, Prompt
from ivr.errors import OzmlFetchError, ValidationError
from ivr.ozml.diagnostics import Diagnostic
from ivr.ozml.fetch import Fetched, HttpFetcher, is_url
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.lint import lint_bytes
from ivr.ozml.ports import UrlChecker
from ivr.ozml.settings import OzmlSettings
from ivr.voice.console import ConsoleCall, ConsoleSmsSubmitter

__all__ = ["ScriptFiles", "Simulation", "simulate", "lint_text", "TIMEOUT", "MAX_INPUTS"]

TIMEOUT = "T"          # in a simulation's inputs: the caller lets the wait run out
MAX_INPUTS = 200
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.xml$")
_KEYS = frozenset("0123456789*#ABCD")


class ScriptFiles:
    """The ``.xml`` files directly in the scripts directory; nothing outside it.

    A name is one path component matching ``_NAME`` (no ``/``, no leading dot, so no ``..``),
    and the resolved path must still be inside the directory (a symlink pointing out is
    refused too).
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = 1_000_000) -> None:
        self.directory = Path(directory).resolve()
        self.max_bytes = max_bytes

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir()
                      if p.is_file() and _NAME.match(p.name) and self._inside(p))

    def path(self, name: str) -> Path:
        """The file for ``name``; ValidationError for any name that could leave the dir."""
        if not _NAME.match(name):
            raise ValidationError("name", "a file name ending in .xml (letters, digits, "
                                  "_ . -), without directories")
        path = self.directory / name
        if not self._inside(path):
            raise ValidationError("name", f"{name} is outside the scripts directory")
        return path

    def _inside(self, path: Path) -> bool:
        return path.resolve().parent == self.directory

    def read(self, name: str) -> str | None:
        path = self.path(name)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str) -> Path:
        """Replace the file atomically (a running call never reads half a script)."""
        data = text.encode("utf-8")
        if len(data) > self.max_bytes:
            raise ValidationError("text", f"{len(data)} bytes, over the {self.max_bytes}-byte "
                                  "limit")
        path = self.path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".console-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def lint_text(text: str, name: str) -> list[Diagnostic]:
    return lint_bytes(text.encode("utf-8"), name)


class _EditorFetcher:
    """Serves the editor's unsaved text for the script being simulated; sibling files of the
    scripts directory and URLs as the interpreter normally would, and no other local file."""

    def __init__(self, files: ScriptFiles, location: str, text: str,
                 inner: HttpFetcher) -> None:
        self._files = files
        self._location = location
        self._text = text
        self._inner = inner

    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched:
        if location == self._location:
            return Fetched(self._text.encode("utf-8"), location)
        if not is_url(location):
            path = Path(location)
            if path.resolve().parent != self._files.directory:
                raise OzmlFetchError(f"{location}: the console simulates only files of the "
                                     "scripts directory", source=location)
        return self._inner.fetch(location, form, method)


class _AwaitingKey(CallEnded):
    """The replay reached a wait for a key the operator has not pressed yet."""


@dataclass
class Line:
    at: float
    text: str
    speak: dict[str, str] | None = None    # text/voice/rate of a [speak] line, for audio


@dataclass
class Simulation:
    lines: list[Line] = field(default_factory=list)
    state: str = "ended"         # "waiting" (for a key) or "ended"
    wait_seconds: float = 0.0    # how long the script waits for the next key


class _WebCall(ConsoleCall):
    """A console call fed from the browser's list of inputs, keeping speak prompts."""

    def __init__(self, inputs: list[str], caller: str, callee: str) -> None:
        super().__init__(caller=caller, callee=callee, out=io.StringIO())
        self._inputs = list(inputs)
        self.lines: list[Line] = []
        self.awaiting = False
        self.waiting_for = 0.0

    def say(self, line: str) -> None:
        super().say(line)
        self.lines.append(Line(round(self.clock, 1), line))

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        at = self.clock
        outcome = super().play(prompt, barge_in=barge_in)
        if prompt.kind == "speak" and self.lines:
            self.lines[-1] = Line(round(at, 1), self.lines[-1].text, {
                "text": prompt.text, "voice": prompt.voice or prompt.language,
                "rate": str(prompt.rate or "")})
        return outcome

    def read_digit(self, timeout: float) -> str | None:
        self._alive()
        if not self._inputs:
            self.awaiting, self.waiting_for = True, timeout
            self.ended = True           # so the interpreter's hangup adds no line
            raise _AwaitingKey(self.call_id)
        key = self._inputs.pop(0)
        if key == TIMEOUT:
            self.say(f"[wait] no key pressed within {timeout:g} s")
            self.clock += timeout
            return None
        self.say(f"[dtmf] caller pressed {key}")
        return key


def simulate(settings: OzmlSettings, files: ScriptFiles, name: str, text: str,
             inputs: list[str], caller: str = "+15550001111",
             callee: str = "ivr", policy: UrlChecker | None = None) -> Simulation:
    """Replay the script in ``text`` (the editor's copy of ``name``) with ``inputs``: keys
    and ``TIMEOUT`` marks, in order. ``policy``: the deployment's outbound URL policy, so a
    GoTo typed in the editor reaches no more than a call's would."""
    if len(inputs) > MAX_INPUTS or any(i not in _KEYS and i != TIMEOUT for i in inputs):
        raise ValidationError("inputs", f"at most {MAX_INPUTS} of 0-9 * # A-D or {TIMEOUT}")
    location = str(files.path(name))
    call = _WebCall(inputs, caller, callee)
    fetcher = _EditorFetcher(files, location, text, HttpFetcher(
        settings.fetch_connect_timeout, settings.fetch_total_timeout,
        settings.max_document_bytes, policy=policy))
    interpreter = Interpreter(settings, ConsoleSmsSubmitter(call), fetcher=fetcher,
                              base_dir=str(files.directory))
    interpreter.run(call, location)
    return Simulation(call.lines, "waiting" if call.awaiting else "ended", call.waiting_for)
