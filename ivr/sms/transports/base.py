"""The one interface every SMS transport implements.

A transport turns a stored :class:`~ivr.sms.message.Message` into wire traffic and reports
what comes back (delivery reports, inbound messages) through :class:`TransportEvents`.
It holds no queue of its own: the dispatcher owns retries, so a crash loses nothing.
``loopback.py`` is the reference implementation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ivr.errors import TransportError
from ivr.sms.message import Message, Status
from ivr.sms.pdu import Concat

__all__ = ["BatchSender", "DeliveryReport", "InboundSms", "SubmitResult", "Transport",
           "TransportEvents", "report_all", "send_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitResult:
    """What the peer accepted: one provider id (or modem reference) per part, in order."""

    provider_ids: list[str] = field(default_factory=list)
    references: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryReport:
    """A status report for one part, as the transport received it.

    ``provider_id`` is normalised by the transport (SMPP ids lower-case hex-or-decimal
    reconciled, see smpp.py); modems report ``reference`` + ``recipient`` instead.
    ``status`` is the part's new status (SENT for intermediate/enroute, or a final one).
    ``text`` is the start of the part's text when the peer quotes it (an SMPP receipt's
    ``text:`` field): it tells whose report an unknown id is after a crash (reconcile.py).
    """

    transport: str
    status: Status
    provider_id: str = ""
    reference: int | None = None
    recipient: str = ""
    error_code: int | None = None
    error_text: str = ""
    done_at: dt.datetime | None = None
    raw: str = ""
    text: str = ""


@dataclass(frozen=True)
class InboundSms:
    """A received message, or one part of a concatenated one (``concat`` set): the SMS
    service keeps parts durably and stores the message when the last part arrives."""

    transport: str
    sender: str
    recipient: str
    body: str
    received_at: dt.datetime | None = None
    provider_id: str = ""
    concat: Concat | None = None


class TransportEvents(Protocol):
    """Callbacks a transport uses; implemented by the SMS service (thread-safe)."""

    def on_delivery_report(self, report: DeliveryReport) -> None: ...

    def on_delivery_reports(self, reports: Sequence[DeliveryReport]) -> list[bool]:
        """Store many reports in one transaction; per report, whether it is stored (a
        peer acknowledges only those: the others it sends again)."""

    def on_inbound(self, sms: InboundSms) -> None: ...


class Transport(Protocol):
    """One route to the mobile network."""

    name: str
    max_in_flight: int          # how many sends the dispatcher may run at once
    rate_limit: float           # messages per second; 0 = unlimited

    def start(self, events: TransportEvents) -> None:
        """Connect and begin receiving reports; must not block for long."""

    def send(self, message: Message) -> SubmitResult:
        """Hand every part to the peer; return when the peer accepted them.

        Raises :class:`ivr.errors.TransportError` (``retryable`` decides retry vs fail).
        Must be safe to call from several dispatcher threads up to ``max_in_flight``.
        """

    def stop(self) -> None:
        """Disconnect; pending sends raise TransportError(retryable=True)."""

    def healthy(self) -> bool:
        """True when the transport can accept a send now (bound, modem registered...)."""


@runtime_checkable
class BatchSender(Protocol):
    """A transport that can have many messages outstanding at once (SMPP's window): one
    thread hands it a batch and gets one outcome per message, instead of one blocked
    thread per message."""

    def send_many(self, messages: Sequence[Message]) -> list[SubmitResult | TransportError]:
        """Send every message; per message what the peer accepted or why it did not.
        Never raises for one message's failure."""


def send_all(transport: Transport,
             messages: Sequence[Message]) -> list[SubmitResult | TransportError]:
    """Every message through ``transport``: its ``send_many`` when it has one, else one
    ``send`` after another."""
    if isinstance(transport, BatchSender):
        return transport.send_many(messages)
    out: list[SubmitResult | TransportError] = []
    for message in messages:
        try:
            out.append(transport.send(message))
        except TransportError as exc:
            out.append(exc)
    return out


def report_all(events: TransportEvents, reports: Sequence[DeliveryReport]) -> list[bool]:
    """Hand ``reports`` to ``events`` in one batch when it takes batches, else one by one;
    per report, whether it is stored."""
    batch = getattr(events, "on_delivery_reports", None)
    if batch is not None:
        try:
            return list(batch(reports))
        except Exception:       # the commit failed: nothing of the batch is stored
            log.exception("%d report(s) not stored", len(reports))
            return [False] * len(reports)
    stored: list[bool] = []
    for report in reports:
        try:
            events.on_delivery_report(report)
            stored.append(True)
        except Exception:
            log.exception("report for %s/%s not stored", report.transport,
                          report.provider_id or report.reference)
            stored.append(False)
    return stored
