"""An in-memory Call for interpreter tests: scripted digits with timing, an event log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.call import CallEnded, PlayOutcome, Prompt, RecordResult, RecordSpec


@dataclass
class RecordingCall:
    """Digits are pressed at given simulated times; prompts advance the simulated clock.

    ``presses`` is a list of (time_s, digit). A prompt of ``speak`` lasts 1 s per word... no:
    1 s per prompt, so tests can reason about barge-in: a press during a prompt interrupts it
    when barge-in is on, and is queued either way.
    """

    presses: list[tuple[float, str]] = field(default_factory=list)
    caller: str = "+15550001111"
    callee: str = "100"
    call_id: str = "test-call"
    variables: Mapping[str, str] = field(default_factory=dict)
    hangup_at: float | None = None
    transfer_ok: bool = True
    now: float = 0.0
    events: list[tuple[str, str]] = field(default_factory=list)
    answered: bool = False
    ended: bool = False
    queue: list[str] = field(default_factory=list)

    def _arrive(self, until: float) -> None:
        while self.presses and self.presses[0][0] <= until:
            self.queue.append(self.presses.pop(0)[1])

    def _check(self) -> None:
        if self.ended or (self.hangup_at is not None and self.now >= self.hangup_at):
            self.ended = True
            raise CallEnded(self.call_id)

    def answer(self) -> None:
        self._check()
        if not self.answered:
            self.answered = True
            self.events.append(("answer", ""))

    def reject(self) -> None:
        self.events.append(("reject", ""))
        self.ended = True

    def hangup(self) -> None:
        if not self.ended:
            self.events.append(("hangup", ""))
        self.ended = True

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        self._check()
        label = prompt.text or prompt.source or f"{prompt.seconds:g}"
        length = prompt.seconds if prompt.kind in ("silence", "beep") else 1.0
        end = self.now + length
        if self.hangup_at is not None and self.hangup_at < end:
            self.now = self.hangup_at
            self.events.append((prompt.kind + "-cut", label))
            self._check()
        if barge_in and (self.queue or (self.presses and self.presses[0][0] < end)):
            if not self.queue:
                self.now = self.presses[0][0]
            self._arrive(self.now)
            self.events.append((prompt.kind + "-interrupted", label))
            return PlayOutcome.INTERRUPTED
        self.now = end
        self._arrive(self.now)
        self.events.append((prompt.kind, label))
        return PlayOutcome.COMPLETED

    def read_digit(self, timeout: float) -> str | None:
        self._check()
        if not self.queue and self.presses and self.presses[0][0] <= self.now + timeout:
            self.now = max(self.now, self.presses[0][0])
            self._arrive(self.now)
        if self.queue:
            digit = self.queue.pop(0)
            self.events.append(("digit", digit))
            return digit
        self.now += timeout
        self.events.append(("timeout", f"{timeout:g}"))
        self._check()
        return None

    def record(self, spec: RecordSpec) -> RecordResult:
        self._check()
        self.events.append(("record", f"{spec.max_seconds:g}/{spec.silence_timeout:g}/"
                            f"{spec.finish_digits}"))
        return RecordResult(path="/tmp/r.wav", url="http://rec/r.wav", duration=2.5,
                            reason="finish-key", digit="#")

    def send_dtmf(self, keys: str) -> None:
        self.events.append(("send-dtmf", keys))

    def transfer(self, target: str) -> bool:
        self.events.append(("transfer", target))
        return self.transfer_ok

    def spoken(self) -> list[str]:
        return [label for kind, label in self.events if kind.startswith("speak")]
