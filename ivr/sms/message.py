"""The SMS message model shared by the store, the dispatcher, transports and every API dialect.

Pure data: no I/O. Status names follow Restcomm/Twilio (``003`` seed), which every other
dialect maps onto in its own renderer.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

__all__ = [
    "Direction",
    "Status",
    "FINAL_STATUSES",
    "ERROR_MESSAGES",
    "Part",
    "Message",
    "new_message_id",
]


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Status(enum.StrEnum):
    QUEUED = "queued"            # stored, waiting for a dispatcher
    SENDING = "sending"          # claimed by a worker, handed to a transport
    SENT = "sent"                # accepted by the SMSC / modem / provider (Kannel dlr-mask 8)
    DELIVERED = "delivered"      # handset confirmed (dlr-mask 1)
    UNDELIVERED = "undelivered"  # network says it will not arrive (dlr-mask 2)
    FAILED = "failed"            # we or the first hop gave up (dlr-mask 16, or permanent error)
    RECEIVED = "received"        # inbound message stored


FINAL_STATUSES = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.RECEIVED})

# Restcomm SMS error codes (003 seed, "SMS-specific error codes").
ERROR_MESSAGES: dict[int, str] = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Carrier violation",
    30008: "Unknown error",
    30009: "Missing segment",
    30010: "Message price exceeds max price",
    30090: "No Response received for SMPP Request",
}


def new_message_id() -> str:
    """A message id: a random UUID, as Ozeki's SmsId."""
    return str(uuid.uuid4())


@dataclass
class Part:
    """One segment as handed to a transport; DLRs are matched per part."""

    index: int                   # 0-based
    provider_id: str = ""        # SMSC/provider message id, normalised (see transports)
    reference: int | None = None  # modem TP-MR (0-255), matched with recipient + time window
    status: Status = Status.QUEUED
    error_code: int | None = None
    submitted_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Message:
    id: str
    direction: Direction
    sender: str
    recipient: str
    body: str
    status: Status = Status.QUEUED
    encoding: str = "gsm7"       # "gsm7" | "ucs2"
    segments: int = 1
    error_code: int | None = None
    error_message: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    owner: str = ""
    callback_url: str = ""
    callback_method: str = "GET"
    callback_format: str = "ozeki"
    client_ref: str = ""
    transport: str = ""          # the transport that sent it (or was requested)
    attempts: int = 0
    request_status_report: bool = True
    silent: bool = False
    content_type: str = "text/plain"
    disposition_notification: str = ""
    source: str = ""
    parts: list[Part] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
