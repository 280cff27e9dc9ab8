"""OzML call-control verbs a PBX user expects (issue 15): Hold and Unhold, and Forward of a
ringing call.

Kept in one module so the language package gains them in one place: the verbs as values,
how they are built from a validated element, and how they run against a call that can be
held. The :class:`HoldableCall` seam is what a call must offer; a call without it (the
console simulator) logs that the verb does nothing there instead of failing the script.

``<Hold Timeout="N"/>`` puts the caller on hold (music on hold plays) and **pauses the
script** until the call is taken off hold: by the HTTP ``Unhold`` command, or after
``Timeout`` seconds (0, the default: no limit). ``<Unhold/>`` takes a held call off hold
and is a no-op otherwise. ``<Forward Destination="…"/>`` as a document's first command
forwards the still-ringing call with ``302 Moved Temporarily``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from lxml import etree

from ivr.ozml import verbs as v

__all__ = ["Hold", "Unhold", "TAGS", "HoldableCall", "ForwardingCall", "build", "execute",
           "forward_ringing"]

TAGS = ("Hold", "Unhold")


@dataclass(frozen=True)
class Hold(v.Command):
    timeout: float = 0.0


@dataclass(frozen=True)
class Unhold(v.Command):
    pass


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
    return Unhold(line)


def execute(call: object, command: v.Command,
            log: logging.LoggerAdapter[logging.Logger]) -> None:
    if not isinstance(call, HoldableCall):
        log.warning("line %d: this call cannot be held; <%s> does nothing here",
                    command.line, type(command).__name__)
        return
    if isinstance(command, Hold):
        if not call.hold():
            log.warning("line %d: the far end refused the hold; continuing", command.line)
            return
        call.wait_while_held(command.timeout)
    elif isinstance(command, Unhold) and not call.unhold():
        log.warning("line %d: the far end refused the unhold", command.line)
