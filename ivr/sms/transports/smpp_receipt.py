"""Pure SMPP helpers: delivery-receipt parsing, message-id normalisation, error mapping.

No sockets, threads or clocks here, so every rule is unit-tested as a table
(``tests/unit/sms/test_smpp_receipt.py``).

Receipt text format: SMPP 3.4 Appendix B (informative, but what every SMSC sends)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

SMPP 3.4 §5.3.2.35 ``message_state`` and §5.3.2.12 ``receipted_message_id`` TLVs carry the
same facts in binary form and win over the text when both are present.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ivr.errors import TransportError
from ivr.sms.ids import canonical_ids, normalise_id  # one rule, re-exported for smpp.py
from ivr.sms.message import Status

__all__ = [
    "Receipt", "parse_receipt_text", "receipt_from_fields", "is_receipt", "canonical_ids",
    "normalise_id", "convert_receipt_id", "status_for_stat", "MESSAGE_STATES",
    "error_for_status", "COMMAND_STATUS_NAMES", "ESM_CLASS_RECEIPT_MASK",
]

# SMPP 3.4 §5.2.12: esm_class bits 2-5 = message type; 0x04 = SMSC delivery receipt,
# 0x08 = SME delivery acknowledgement, 0x20 = intermediate delivery notification.
ESM_CLASS_RECEIPT_MASK = 0x3C

# SMPP 3.4 §5.2.28 message_state values.
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
                  6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}

# stat: values -> our part status and the Restcomm 300xx code stored on the message.
# ENROUTE/ACCEPTD are not final: the SMSC has it, the handset has not confirmed (Kannel
# dlr-mask 4/8), so they map to SENT, never DELIVERED.
_STAT: dict[str, tuple[Status, int | None]] = {
    "DELIVRD": (Status.DELIVERED, None),
    "DELIVERED": (Status.DELIVERED, None),
    "ENROUTE": (Status.SENT, None),
    "ACCEPTD": (Status.SENT, None),
    "ACCEPTED": (Status.SENT, None),
    "SCHEDULED": (Status.SENT, None),
    "UNDELIV": (Status.UNDELIVERED, 30003),
    "UNDELIVERABLE": (Status.UNDELIVERED, 30003),
    "EXPIRED": (Status.UNDELIVERED, 30003),
    "DELETED": (Status.UNDELIVERED, 30008),
    "UNKNOWN": (Status.UNDELIVERED, 30008),
    "REJECTD": (Status.FAILED, 30007),
    "REJECTED": (Status.FAILED, 30007),
}

_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit date|done date|stat|err|text)\s*:\s*"
    r"(?P<value>.*?)(?=\s+(?:id|sub|dlvrd|submit date|done date|stat|err|text)\s*:|\s*$)",
    re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Receipt:
    """A parsed delivery receipt; ``message_id`` is as the SMSC wrote it (not normalised)."""

    message_id: str
    stat: str
    status: Status
    error_code: int | None        # our 300xx code, None when delivered / not final
    err: str = ""                 # the SMSC's own err: field (network-specific)
    submitted_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    text: str = ""


def _receipt_date(value: str) -> dt.datetime | None:
    """``YYMMDDhhmm`` (Appendix B), some SMSCs add seconds (``YYMMDDhhmmss``); UTC assumed."""
    value = value.strip()
    # strptime accepts one-digit fields, so pick the format by length, not by trying.
    fmt = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(value))
    if fmt is None or not value.isdigit():
        return None
    try:
        return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def status_for_stat(stat: str) -> tuple[Status, int | None]:
    """Map a receipt ``stat:`` value to (part status, 300xx code); unknown → UNDELIVERED."""
    return _STAT.get(stat.strip().upper(), (Status.UNDELIVERED, 30008))


def parse_receipt_text(text: str) -> dict[str, str]:
    """Split Appendix B receipt text into its fields (lower-case keys); {} if not a receipt."""
    fields = {m.group("key").lower(): m.group("value").strip() for m in _FIELD.finditer(text)}
    return fields if "id" in fields and "stat" in fields else {}


def receipt_from_fields(text: str, receipted_message_id: str = "",
                        message_state: int | None = None) -> Receipt | None:
    """Build a Receipt from the short_message text and the TLVs (TLVs win); None if neither."""
    fields = parse_receipt_text(text)
    message_id = receipted_message_id.strip() or fields.get("id", "")
    stat = MESSAGE_STATES.get(message_state or 0, "") or fields.get("stat", "")
    if not message_id or not stat:
        return None
    status, code = status_for_stat(stat)
    return Receipt(message_id=message_id, stat=stat.upper(), status=status, error_code=code,
                   err=fields.get("err", ""),
                   submitted_at=_receipt_date(fields.get("submit date", "")),
                   done_at=_receipt_date(fields.get("done date", "")),
                   text=fields.get("text", ""))


def is_receipt(esm_class: int) -> bool:
    """True for a deliver_sm that is a receipt/notification, not a mobile-originated SMS."""
    return bool(esm_class & ESM_CLASS_RECEIPT_MASK)


def convert_receipt_id(raw: str, msg_id_format: str) -> str:
    """Bring a receipt id into the submit_sm_resp form when the SMSC is known to mix them.

    ``hex``: submit_sm_resp ids are hex, receipts carry decimal (Kannel msg-id-type 1) → the
    decimal receipt id is rewritten in hex. ``dec``: submit_sm_resp ids are decimal, receipts
    carry hex (msg-id-type 2) → rewritten in decimal. ``auto``: unchanged; the store's
    multi-form match (``canonical_ids``) reconciles both. Ids that cannot be read in the
    stated base are kept as given rather than guessed.
    """
    value = normalise_id(raw)
    if msg_id_format == "hex" and value.isdigit():
        return format(int(value), "x")
    if msg_id_format == "dec" and value and all(c in "0123456789abcdef" for c in value):
        return str(int(value, 16))
    return value


COMMAND_STATUS_NAMES = {
    0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN", 0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS", 0x05: "ESME_RALYBND", 0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", 0x14: "ESME_RMSGQFUL",
    0x43: "ESME_RINVESMCLASS", 0x45: "ESME_RSUBMITFAIL", 0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI", 0x50: "ESME_RINVDSTTON", 0x51: "ESME_RINVDSTNPI",
    0x58: "ESME_RTHROTTLED", 0x62: "ESME_RINVEXPIRY", 0xFE: "ESME_RDELIVERYFAILURE",
    0xFF: "ESME_RUNKNOWNERR",
}

# command_status -> (retryable, 300xx). Transient SMSC states retry with backoff (Jasmin's
# submit_error_retrial list); address and content errors fail at once so one bad number
# never blocks the queue (playSMS #572).
_ERRORS: dict[int, tuple[bool, int]] = {
    0x08: (True, 30008),    # ESME_RSYSERR: SMSC-side trouble, usually passes
    0x14: (True, 30001),    # ESME_RMSGQFUL: queue full → Restcomm "Queue overflow"
    0x58: (True, 30001),    # ESME_RTHROTTLED: we exceeded the allowed rate
    0x45: (True, 30008),    # ESME_RSUBMITFAIL: generic, often transient
    0x04: (True, 30008),    # ESME_RINVBNDSTS: we are not bound (yet); rebind and retry
    0x0B: (False, 30005),   # ESME_RINVDSTADR: unknown destination handset
    0x50: (False, 30005),   # ESME_RINVDSTTON
    0x51: (False, 30005),   # ESME_RINVDSTNPI
    0xFE: (False, 30003),   # ESME_RDELIVERYFAILURE: unreachable destination handset
    0x0A: (False, 30007),   # ESME_RINVSRCADR: sender refused by the carrier
    0x48: (False, 30007),   # ESME_RINVSRCTON
    0x49: (False, 30007),   # ESME_RINVSRCNPI
    0x01: (False, 30008),   # ESME_RINVMSGLEN
    0x43: (False, 30008),   # ESME_RINVESMCLASS
}


def error_for_status(command_status: int, context: str = "") -> TransportError:
    """The TransportError for a non-zero submit_sm_resp command_status.

    Unlisted codes are permanent (30008): retrying an error we do not understand risks an
    endless loop; the table above lists the ones known to pass.
    """
    name = COMMAND_STATUS_NAMES.get(command_status, f"0x{command_status:08X}")
    retryable, error_code = _ERRORS.get(command_status, (False, 30008))
    where = f" ({context})" if context else ""
    return TransportError(f"SMSC answered {name}{where}", code=name, retryable=retryable,
                          error_code=error_code)
