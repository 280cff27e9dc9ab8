"""Seams between the OzML interpreter and the world.

The interpreter (``ivr.ozml``) drives a :class:`Call` and hands SMS to an
:class:`SmsSubmitter`; it never imports the SIP stack, the SMS pipeline or the HTTP API.
The same script therefore runs on a pyVoIP call (``ivr.voice.sip``), on the console
simulator (``ivr.voice.console``) and on in-memory calls in tests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ivr.errors import IvrError

__all__ = [
    "Call",
    "CallEnded",
    "PlayOutcome",
    "Prompt",
    "RecordResult",
    "RecordSpec",
    "SmsRequest",
    "SmsSubmitter",
]


class CallEnded(IvrError):
    """The far end hung up (or the call was torn down); the script stops at once."""


@dataclass(frozen=True)
class Prompt:
    """Something the caller hears.

    ``kind`` is ``speak`` (``text``), ``play`` (``source``: a file path or http(s) URL),
    ``beep`` or ``silence`` (``seconds``). Voice, rate and language only matter for speech.
    """

    kind: str
    text: str = ""
    source: str = ""
    seconds: float = 0.0
    language: str = ""
    voice: str = ""
    rate: int = 0


class PlayOutcome(enum.Enum):
    COMPLETED = "completed"      # the whole prompt was heard
    INTERRUPTED = "interrupted"  # a digit arrived (barge-in); the digit stays queued


@dataclass(frozen=True)
class RecordSpec:
    max_seconds: float = 3600.0
    silence_timeout: float = 5.0       # seconds of silence after speech that end it; 0 = never
    finish_digits: str = "1234567890*#"  # "" = no digit ends the recording
    format: str = "wav"
    beep: bool = True


@dataclass(frozen=True)
class RecordResult:
    path: str            # where the WAV was written
    url: str             # how web apps can fetch it ("file://..." when no HTTP server)
    duration: float      # seconds of audio kept
    reason: str          # "finish-key" | "silence" | "max-length" | "hangup"
    digit: str = ""      # the finish digit, when reason is finish-key


class Call(Protocol):
    """One phone call as the interpreter sees it.

    Every blocking method raises :class:`CallEnded` as soon as the far end has gone, so a
    script never keeps running on a dead call.
    """

    @property
    def call_id(self) -> str: ...

    @property
    def caller(self) -> str: ...

    @property
    def callee(self) -> str: ...

    @property
    def variables(self) -> Mapping[str, str]:
        """Extra per-call values exposed to scripts as ``$name`` (e.g. SIP headers)."""

    def answer(self) -> None:
        """Answer if not answered yet (idempotent)."""

    def reject(self) -> None:
        """Refuse the unanswered call (SIP 603/486); only valid before ``answer``."""

    def hangup(self) -> None:
        """End the call from our side (idempotent)."""

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        """Play ``prompt`` to the end, or until a digit arrives when ``barge_in`` is true.

        A digit that interrupts stays queued for :meth:`read_digit`; digits pressed while a
        non-interruptible prompt plays are queued too, never lost.
        """

    def read_digit(self, timeout: float) -> str | None:
        """Return the next queued DTMF digit, waiting up to ``timeout`` s; ``None`` on timeout."""

    def record(self, spec: RecordSpec) -> RecordResult:
        """Record the caller into a new file until a stop condition of ``spec``."""

    def send_dtmf(self, keys: str) -> None:
        """Send DTMF digits to the far end (RFC 2833 on SIP)."""

    def transfer(self, target: str) -> bool:
        """Blind-transfer the caller to ``target``; ``False`` if the transfer failed."""


@dataclass(frozen=True)
class SmsRequest:
    """What any front end (an OzML script or an HTTP API dialect) asks the SMS service to send.

    Only ``recipient`` and ``body`` are required; the service normalises and validates the
    rest and raises :class:`ivr.errors.ValidationError` naming the bad parameter.
    """

    recipient: str
    body: str
    sender: str = ""
    callback_url: str = ""          # DeliveryReportURL / StatusCallback / ...
    callback_method: str = "GET"
    callback_format: str = "ozeki"  # which dialect's parameter names the callback uses
    owner: str = ""                 # user name that submitted it ("" for scripts)
    client_ref: str = ""            # request_id / client-side id echoed back
    transport: str = ""             # explicit transport name or URL; "" = routing rules
    request_status_report: bool = True
    silent: bool = False            # Type-0 "stealth ping" (TP-PID 0x40)
    content_type: str = "text/plain"
    disposition_notification: str = ""
    attachments: tuple[tuple[str, bytes], ...] = ()
    source: str = ""                # "ozml:<call id>", "api:ozeki", ... for logs
    meta: Mapping[str, str] = field(default_factory=dict)


class SmsSubmitter(Protocol):
    """Accepts a message durably and returns its id; never waits for delivery."""

    def submit_sms(self, request: SmsRequest) -> str: ...
