"""A :class:`~ivr.call.Call` on the terminal, for ``ivr simulate``.

It prints what a caller would experience as a transcript and takes DTMF from a string
(``--digits``) or from stdin. Time is simulated so that runs are instant: prompts take no wall
time, and once the given digits are used up every wait times out at once (the transcript says
how long a real caller would have waited). With an interactive terminal and no ``--digits``,
waits are real and keys are typed, one line at a time.
"""

from __future__ import annotations

import select
import sys
import tempfile
import uuid
import wave
from collections.abc import Mapping
from typing import TextIO

from ivr.call import CallEnded, PlayOutcome, Prompt, RecordResult, RecordSpec, SmsRequest
from ivr.ozml.memory import InMemorySmsSubmitter

__all__ = ["ConsoleCall", "ConsoleSmsSubmitter"]


class ConsoleCall:
    def __init__(self, *, caller: str = "+15550001111", callee: str = "ivr",
                 digits: str | None = None, interactive: bool = False,
                 out: TextIO | None = None, stdin: TextIO | None = None,
                 variables: Mapping[str, str] | None = None) -> None:
        self._caller = caller
        self._callee = callee
        self._call_id = f"console-{uuid.uuid4().hex[:8]}"
        self._pending = list(digits or "")
        self._interactive = interactive
        self._out = out or sys.stdout
        self._stdin = stdin or sys.stdin
        self._variables = dict(variables or {})
        self.answered = False
        self.ended = False
        self.clock = 0.0  # simulated seconds since the call started
        self.transcript: list[str] = []

    # -- Call protocol -------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def callee(self) -> str:
        return self._callee

    @property
    def variables(self) -> Mapping[str, str]:
        return self._variables

    def say(self, line: str) -> None:
        self.transcript.append(line)
        print(f"{self.clock:7.1f}s  {line}", file=self._out, flush=True)

    def _alive(self) -> None:
        if self.ended:
            raise CallEnded(self._call_id)

    def answer(self) -> None:
        self._alive()
        if not self.answered:
            self.answered = True
            self.say(f"[answer] call from {self._caller} to {self._callee}")

    def reject(self) -> None:
        self.say("[reject] call refused without answering")
        self.ended = True

    def hangup(self) -> None:
        if not self.ended:
            self.say("[hangup]")
            self.ended = True

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        self._alive()
        if prompt.kind == "speak":
            extra = ", ".join(f"{k}={val}" for k, val in (("language", prompt.language),
                              ("voice", prompt.voice), ("rate", prompt.rate)) if val)
            self.say(f"[speak] {prompt.text}" + (f"  ({extra})" if extra else ""))
            self.clock += max(0.5, len(prompt.text) / 15)  # ~15 characters per second
        elif prompt.kind == "play":
            limit = f" (at most {prompt.seconds:g} s)" if prompt.seconds else ""
            self.say(f"[play] {prompt.source}{limit}")
        elif prompt.kind == "beep":
            self.say(f"[beep] {prompt.seconds:g} s")
            self.clock += prompt.seconds
        else:
            self.say(f"[silence] {prompt.seconds:g} s")
            self.clock += prompt.seconds
        return PlayOutcome.COMPLETED

    def read_digit(self, timeout: float) -> str | None:
        self._alive()
        if self._pending:
            digit = self._pending.pop(0)
            self.say(f"[dtmf] caller pressed {digit}")
            return digit
        if self._interactive:
            return self._read_interactive(timeout)
        self.say(f"[wait] no key pressed within {timeout:g} s")
        self.clock += timeout
        return None

    def _read_interactive(self, timeout: float) -> str | None:
        print(f"  keys (then Enter), {timeout:g} s> ", end="", file=self._out, flush=True)
        ready, _, _ = select.select([self._stdin], [], [], timeout)
        if not ready:
            print("", file=self._out)
            self.say(f"[wait] no key pressed within {timeout:g} s")
            return None
        line = self._stdin.readline()
        if line == "":
            self.say("[caller hung up] (end of input)")
            self.ended = True
            raise CallEnded(self._call_id)
        self._pending.extend(ch for ch in line.strip() if ch in "0123456789*#ABCD")
        return self.read_digit(0) if self._pending else None

    def record(self, spec: RecordSpec) -> RecordResult:
        self._alive()
        self.say(f"[record] up to {spec.max_seconds:g} s, ends after {spec.silence_timeout:g} s "
                 f"of silence or on {spec.finish_digits or 'no key'}")
        if spec.beep:
            self.say("[beep] 0.5 s")
        path = tempfile.NamedTemporaryFile(prefix="ivr-rec-", suffix=".wav", delete=False).name
        with wave.open(path, "wb") as wav:  # one second of silence stands for the caller
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(b"\x00\x00" * 8000)
        digit = ""
        if self._pending and self._pending[0] in spec.finish_digits:
            digit = self._pending.pop(0)
        reason = "finish-key" if digit else "silence"
        self.say(f"[recorded] 1.0 s to {path} ({reason})")
        return RecordResult(path=path, url=f"file://{path}", duration=1.0, reason=reason,
                            digit=digit)

    def send_dtmf(self, keys: str) -> None:
        self._alive()
        self.say(f"[send-dtmf] {keys}")

    def transfer(self, target: str) -> bool:
        self._alive()
        self.say(f"[transfer] to {target}")
        return True


class ConsoleSmsSubmitter(InMemorySmsSubmitter):
    """Prints each SMS into the transcript as it is submitted."""

    def __init__(self, call: ConsoleCall) -> None:
        super().__init__()
        self._call = call

    def submit_sms(self, request: SmsRequest) -> str:
        sms_id = super().submit_sms(request)
        sender = f" from {request.sender}" if request.sender else ""
        report = f" (delivery report to {request.callback_url})" if request.callback_url else ""
        self._call.say(f"[sms] to {request.recipient}{sender}: {request.body}{report}")
        return sms_id
