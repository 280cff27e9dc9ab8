"""OzML call-control verbs a PBX user expects (issue 15): Hold and Unhold, Forward of a
ringing call, and chat in the call: SendMsg and WaitForMsg.

Kept in one module so the language package gains them in one place: the verbs as values,
how they are built from a validated element, and how they run against a call that can be
held. The :class:`HoldableCall` seam is what a call must offer; a call without it (the
console simulator) logs that the verb does nothing there instead of failing the script.

``<Hold Timeout="N"/>`` puts the caller on hold (music on hold plays) and **pauses the
script** until the call is taken off hold: by the HTTP ``Unhold`` command, or after
``Timeout`` seconds (0, the default: no limit). ``<Unhold/>`` takes a held call off hold
and is a no-op otherwise. ``<Forward Destination="…"/>`` as a document's first command
forwards the still-ringing call with ``302 Moved Temporarily``.

``<SendMsg>text</SendMsg>`` (or ``Text=``) sends the text to the caller's phone as a SIP
MESSAGE (RFC 3428) in the call's dialog. ``<WaitForMsg Timeout="30" Id="message"/>`` waits
up to ``Timeout`` seconds for a MESSAGE from the caller and puts its text in ``$message``
(or the variable ``Id`` names); on timeout the variable is empty.

``<AttendedTransfer Target="…"/>`` holds the caller, consults the target on a second call
and, once it answers, REFERs the caller to it with Replaces (RFC 5589 §7). ``$transferresult``
says ``transferred to …`` (the call is then over for this script) or ``failed: …``, and on
failure the caller is back, off hold, and the script goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lxml import etree

from ivr.ozml import verbs as v

__all__ = ["CallVerb", "AttendedTransfer", "TransferringCall", "Hold", "Unhold", "SendMsg", "WaitForMsg", "TAGS", "HoldableCall", "ChattingCall",
           "ForwardingCall", "build", "execute", "forward_ringing"]

TAGS = ("Hold", "Unhold", "SendMsg", "WaitForMsg", "AttendedTransfer")


@dataclass(frozen=True)
class CallVerb(v.Command):
    """What the interpreter hands to :func:`execute`."""


@dataclass(frozen=True)
class Hold(CallVerb):
    timeout: float = 0.0


@dataclass(frozen=True)
class Unhold(CallVerb):
    pass


@dataclass(frozen=True)
class SendMsg(CallVerb):
    text: str


@dataclass(frozen=True)
class WaitForMsg(CallVerb):
    timeout: float = 30.0
    variable: str = "message"


@dataclass(frozen=True)
class AttendedTransfer(CallVerb):
    target: str


@runtime_checkable
class TransferringCall(Protocol):
    def attended_transfer(self, target: str) -> str: ...


@runtime_checkable
class ChattingCall(Protocol):
    def send_message(self, text: str) -> bool: ...

    def wait_message(self, timeout: float) -> str | None: ...


@runtime_checkable
class HoldableCall(Protocol):
    def hold(self) -> bool: ...

    def unhold(self) -> bool: ...

    def wait_while_held(self, timeout: float = 0.0) -> None: ...


@runtime_checkable
class ForwardingCall(Protocol):
    def forward(self, target: str) -> bool: ...


def forward_ringing(call: object, target: str,
                    log: logging.LoggerAdapter[logging.Logger]) -> bool:
    """``<Forward>`` as the first command: the call is still ringing, so it is forwarded
    (SIP 302, Ozeki p_4584) instead of answered; False where that is not possible, and the
    script goes on as before (answer, then transfer)."""
    if isinstance(call, ForwardingCall) and call.forward(target):
        log.info("forwarded the ringing call to %s", target)
        return True
    return False


def build(builder: Any, element: etree._Element, line: int) -> v.Command:
    """The command for a Hold/Unhold element (``builder`` is verbs' attribute checker)."""
    if element.tag == "Hold":
        return Hold(line, builder.number(element, "Timeout", 0.0))
    if element.tag == "AttendedTransfer":
        return AttendedTransfer(line, builder.body(element, "Target", required="Target"))
    if element.tag == "SendMsg":
        return SendMsg(line, builder.body(element, "Text", required="the message text"))
    if element.tag == "WaitForMsg":
        name = element.get("Id", "message").strip()
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(
                c.isalnum() or c == "_" for c in name):
            raise builder.error(element, f"{name!r} is not a variable name", "Id")
        return WaitForMsg(line, builder.number(element, "Timeout", 30.0), name.lower())
    return Unhold(line)


def execute(call: object, command: v.Command, log: logging.LoggerAdapter[logging.Logger],
            expand: Callable[[str], str]) -> dict[str, str]:
    """Run one verb; the variables it sets (WaitForMsg's text)."""
    if isinstance(command, SendMsg | WaitForMsg):
        return _chat(call, command, log, expand)
    if isinstance(command, AttendedTransfer):
        if not isinstance(call, TransferringCall):
            log.warning("line %d: this call cannot be transferred", command.line)
            return {"transferresult": "failed: not a SIP call"}
        result = call.attended_transfer(expand(command.target))
        log.info("line %d: attended transfer: %s", command.line, result)
        return {"transferresult": result}
    if not isinstance(call, HoldableCall):
        log.warning("line %d: this call cannot be held; <%s> does nothing here",
                    command.line, type(command).__name__)
        return {}
    if isinstance(command, Hold):
        if not call.hold():
            log.warning("line %d: the far end refused the hold; continuing", command.line)
            return {}
        call.wait_while_held(command.timeout)
    elif isinstance(command, Unhold) and not call.unhold():
        log.warning("line %d: the far end refused the unhold", command.line)
    return {}


def _chat(call: object, command: SendMsg | WaitForMsg,
          log: logging.LoggerAdapter[logging.Logger],
          expand: Callable[[str], str]) -> dict[str, str]:
    if not isinstance(call, ChattingCall):
        log.warning("line %d: this call has no SIP dialog; <%s> does nothing here",
                    command.line, type(command).__name__)
        return {command.variable: ""} if isinstance(command, WaitForMsg) else {}
    if isinstance(command, SendMsg):
        if not call.send_message(expand(command.text)):
            log.warning("line %d: the caller's phone did not accept the MESSAGE",
                        command.line)
        return {}
    text = call.wait_message(command.timeout)
    log.info("line %d: %s", command.line, "message received" if text is not None
             else f"no message within {command.timeout:g} s")
    return {command.variable: text or ""}
