"""Pure conversions between messages and table rows, and the rules both backends share.

No SQL and no connections here: what a row means is the same on every backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ivr.sms.message import Direction, Message, Part, Status

__all__ = ["MESSAGE_COLUMNS", "MESSAGE_PARAMS", "REPORT_MATCH_WINDOW", "EARLY_REPORT_GRACE",
           "message_row", "message_from_row", "aggregate", "spellings", "ts", "epoch"]

# The messages columns a Message carries (the queue columns next_attempt_at, claimed_by,
# lease_until, in_doubt_since are the outbox's own).
MESSAGE_COLUMNS = (
    "id, direction, sender, recipient, body, status, encoding, segments, error_code, "
    "error_message, created_at, updated_at, sent_at, delivered_at, owner, callback_url, "
    "callback_method, callback_format, client_ref, transport, attempts, request_status_report, "
    "silent, content_type, disposition_notification, source")
MESSAGE_PARAMS = MESSAGE_COLUMNS.count(",") + 1      # + next_attempt_at when inserted

# How far back a modem status report (TP-MR + recipient) may match a part: TP-MR wraps at
# 255, so only recent parts are candidates; the newest one wins. Unmatched reports older
# than this are dropped.
REPORT_MATCH_WINDOW = 3 * 86400.0
# An unmatched report younger than this may be the early receipt of a send whose result is
# being committed right now; only older ones may be adopted for an interrupted send.
EARLY_REPORT_GRACE = 1.0


def ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def epoch(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def message_row(m: Message) -> tuple[object, ...]:
    """The values of :data:`MESSAGE_COLUMNS` for ``m``."""
    created = epoch(m.created_at) or 0.0
    return (m.id, m.direction.value, m.sender, m.recipient, m.body, m.status.value,
            m.encoding, m.segments, m.error_code, m.error_message, created,
            epoch(m.updated_at) or created, epoch(m.sent_at), epoch(m.delivered_at),
            m.owner, m.callback_url, m.callback_method, m.callback_format, m.client_ref,
            m.transport, m.attempts, int(m.request_status_report), int(m.silent),
            m.content_type, m.disposition_notification, m.source)


def message_from_row(row: Any, parts: Iterable[Any]) -> Message:
    """A Message from a :data:`MESSAGE_COLUMNS` row and its parts' rows (idx, provider_id,
    reference, status, error_code, submitted_at, updated_at)."""
    (mid, direction, sender, recipient, body, status, encoding, segments, error_code,
     error_message, created, updated, sent, delivered, owner, cb_url, cb_method, cb_format,
     client_ref, transport, attempts, srr, silent, content_type, disposition, source) = row
    return Message(
        id=str(mid), direction=Direction(direction), sender=str(sender),
        recipient=str(recipient), body=str(body), status=Status(status),
        encoding=str(encoding), segments=int(segments), error_code=error_code,
        error_message=str(error_message), created_at=ts(created), updated_at=ts(updated),
        sent_at=ts(sent), delivered_at=ts(delivered), owner=str(owner),
        callback_url=str(cb_url), callback_method=str(cb_method),
        callback_format=str(cb_format), client_ref=str(client_ref), transport=str(transport),
        attempts=int(attempts), request_status_report=bool(srr), silent=bool(silent),
        content_type=str(content_type), disposition_notification=str(disposition),
        source=str(source),
        parts=[Part(index=int(idx), provider_id=str(pid), reference=ref, status=Status(pstatus),
                    error_code=perr, submitted_at=ts(sub), updated_at=ts(upd))
               for idx, pid, ref, pstatus, perr, sub, upd in parts])


def spellings(number: str) -> tuple[str, str]:
    """A number with and without its "+": reports give either (an SMPP source_addr with
    TON international or not). Compared with IN, not LTRIM(), so an index can serve."""
    digits = number.lstrip("+")
    return digits, "+" + digits


def aggregate(parts: list[Status]) -> Status:
    """Message status from its parts (reference sms-gateway-peers.md §8.1).

    Delivered only when every part is delivered; one failed part makes the message failed
    and one undelivered part makes it undelivered, at once, since it can no longer arrive
    whole (never "delivered" when a part failed). A part with no final report keeps the
    message ``sent``: no fake delivery.
    """
    if any(p == Status.FAILED for p in parts):
        return Status.FAILED
    if any(p == Status.UNDELIVERED for p in parts):
        return Status.UNDELIVERED
    if parts and all(p == Status.DELIVERED for p in parts):
        return Status.DELIVERED
    return Status.SENT
