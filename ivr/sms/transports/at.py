"""AT command framing for GSM modems (3GPP TS 27.007 / 27.005, ITU V.250). Pure: no I/O.

A modem's output is one byte stream mixing three things: responses to the command in
progress (intermediate lines, then one final result code), unsolicited result codes (URCs)
that may arrive at any moment - also in the middle of a command, a known Kannel/gammu trap -
and the ``"> "`` prompt of AT+CMGS, which has no line ending. :class:`AtParser` splits that
stream into :class:`Final`, :class:`Urc` and :class:`Prompt` events.

:func:`transport_error` maps ``+CMS ERROR`` / ``+CME ERROR`` codes onto
:class:`~ivr.errors.TransportError`, deciding retry vs. fail (TS 27.005 §3.2.5, TS 24.011
Annex E cause values, TS 27.007 §9.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.errors import TransportError

__all__ = ["signal_dbm",
    "AtParser", "Final", "Urc", "Prompt", "Event", "transport_error",
    "CMS_TRANSIENT", "CMS_PERMANENT", "URC_PREFIXES", "parse_fields",
]

# Unsolicited result codes we recognise even while a command is running.
URC_PREFIXES = (
    "+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CBM:", "RING", "+CRING:", "+CLIP:", "NO CARRIER",
    "+CUSD:", "+CIEV:", "^RSSI:", "^BOOT:", "^MODE:", "^HCSQ:", "^SRVST:", "^SIMST:",
    "RDY", "+CFUN:", "+CPIN:", "+CREG:", "+CGREG:", "+CEREG:", "SMS READY", "Call Ready",
)
# URCs followed by one payload line (the PDU, or the text in text mode), TS 27.005 §3.4.1.
_TWO_LINE_URCS = ("+CMT:", "+CBM:")
_FINAL_OK = ("OK",)
_FINAL_ERROR = ("ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "COMMAND NOT SUPPORT",
                "TOO MANY PARAMETERS")


@dataclass(frozen=True)
class Final:
    """The final result code of a command, with the intermediate lines before it."""

    ok: bool
    lines: list[str] = field(default_factory=list)
    kind: str = "OK"             # OK | ERROR | CMS | CME
    code: int | None = None      # the number after +CMS ERROR: / +CME ERROR:
    text: str = "OK"             # the raw final line

    def info(self, prefix: str) -> list[str]:
        """The values of intermediate lines starting with ``prefix`` (e.g. ``+CMGS:``)."""
        return [line[len(prefix):].strip() for line in self.lines if line.startswith(prefix)]


@dataclass(frozen=True)
class Urc:
    name: str          # "+CMTI", "RING", ...
    text: str          # everything after "name:"; whole line for bare codes like RING
    payload: str = ""  # second line of +CMT/+CDS (PDU hex or text)


@dataclass(frozen=True)
class Prompt:
    """``> `` from AT+CMGS: the modem waits for the PDU/text and Ctrl-Z."""


Event = Final | Urc | Prompt


def parse_fields(text: str) -> list[str]:
    """Split ``"SM",3`` / ``0,"+1555",145`` into fields, honouring quotes."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    fields.append("".join(current).strip())
    return fields


class AtParser:
    """Incremental splitter. ``begin(cmd)`` before writing a command; ``feed`` every read.

    While a command is pending, a line that starts with the command's own prefix (``+CREG:``
    after ``AT+CREG?``) is a response, not a URC; echoed command lines are dropped (ATE1).
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: str | None = None
        self._prefix = ""
        self._lines: list[str] = []
        self._awaiting_payload: str | None = None   # URC line waiting for its second line

    @property
    def pending(self) -> str | None:
        return self._pending

    def begin(self, command: str) -> None:
        self._pending = command
        self._lines = []
        name = command[2:] if command.upper().startswith("AT") else command
        for sep in "=?":
            name = name.split(sep, 1)[0]
        self._prefix = name.upper() + ":" if name.startswith(("+", "^")) else ""

    def cancel(self) -> None:
        """Forget the pending command (after a timeout) so late lines count as URCs."""
        self._pending = None
        self._lines = []

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            if stripped.startswith(b">") and self._pending is not None \
                    and self._awaiting_payload is None:
                # TS 27.005 §3.5.1: "<CR><LF><greater_than><space>" with no line end.
                self._buffer = stripped[2:] if stripped.startswith(b"> ") else stripped[1:]
                events.append(Prompt())
                continue
            end = self._buffer.find(b"\n")
            cr = self._buffer.find(b"\r")
            if end < 0 and cr < 0:
                break
            cut = min(i for i in (end, cr) if i >= 0)
            line = self._buffer[:cut].decode("latin-1").strip()
            self._buffer = self._buffer[cut + 1:]
            if not line:
                continue
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if self._awaiting_payload is not None:
            head, self._awaiting_payload = self._awaiting_payload, None
            name, _, rest = head.partition(":")
            return Urc(name, rest.strip(), line)
        pending = self._pending
        if pending is not None:
            if line.upper() == pending.upper():
                return None                       # echo (ATE1)
            final = self._final(line)
            if final is not None:
                self._pending = None
                self._lines = []
                return final
            if self._prefix and line.upper().startswith(self._prefix):
                self._lines.append(line)
                return None
        if line.startswith(URC_PREFIXES) or pending is None:
            return self._urc(line)
        self._lines.append(line)
        return None

    def _urc(self, line: str) -> Urc | None:
        name, sep, rest = line.partition(":")
        if line.startswith(_TWO_LINE_URCS) or (line.startswith("+CDS:") and
                                                rest.strip().isdigit()):
            # +CDS: <length> (PDU mode) is followed by the PDU; the text-mode form is one line.
            self._awaiting_payload = line
            return None
        if not sep:
            return Urc(line, line)
        return Urc(name, rest.strip())

    def _final(self, line: str) -> Final | None:
        lines = list(self._lines)
        if line in _FINAL_OK:
            return Final(True, lines, "OK", None, line)
        for kind in ("CMS", "CME"):
            tag = f"+{kind} ERROR:"
            if line.startswith(tag):
                value = line[len(tag):].strip()
                code = int(value) if value.isdigit() else None
                return Final(False, lines, kind, code, line)
        if line in _FINAL_ERROR:
            return Final(False, lines, "ERROR", None, line)
        return None


# TS 24.011 Annex E-2 / TS 27.005 §3.2.5 codes that clear up by themselves.
CMS_TRANSIENT = frozenset({
    38,   # network out of order
    41,   # temporary failure
    42,   # congestion
    47,   # resources unavailable
    314,  # SIM busy
    322,  # memory full (modem storage)
    330,  # SMSC address unknown: typical for a few seconds after power-up
    331,  # no network service
    332,  # network timeout
    500,  # unknown error
    512, 513, 514,  # vendor: "not ready" / retry (SIMCom, Huawei)
    515,  # please wait, init or command processing in progress
})
# Codes that will fail the same way on every retry.
CMS_PERMANENT: dict[int, int] = {
    1: 30005,    # unassigned (unallocated) number
    8: 30004,    # operator determined barring
    10: 30004,   # call barred
    21: 30007,   # short message transfer rejected
    28: 30005,   # unidentified subscriber / invalid number format
    29: 30007,   # facility rejected
    30: 30005,   # unknown subscriber
    50: 30007,   # requested facility not subscribed
    69: 30008,   # requested facility not implemented
    96: 30008,   # invalid mandatory information
    300: 30008,  # ME failure
    302: 30008,  # operation not allowed
    303: 30008,  # operation not supported
    304: 30008,  # invalid PDU mode parameter
    305: 30008,  # invalid text mode parameter
    310: 30008,  # SIM not inserted
    311: 30008,  # SIM PIN required
}
# CME errors are about the device (SIM, PIN, network), never about the recipient:
# the message waits until the modem is fixed, except for these malformed-command codes.
CME_PERMANENT = frozenset({3, 4, 24, 25, 26, 27})


def signal_dbm(csq: str) -> int | None:
    """The signal of a ``+CSQ: <rssi>,<ber>`` answer in dBm (3GPP TS 27.007 §8.5: rssi 0 is
    -113 dBm or less, each step 2 dB, 31 is -51 dBm or more); None when the modem does not
    know (99) or the answer is not one."""
    fields = parse_fields(csq.partition(":")[2]) if ":" in csq else []
    if not fields or not fields[0].strip().isdigit():
        return None
    rssi = int(fields[0])
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


def transport_error(final: Final, command: str = "") -> TransportError:
    """Map a failed :class:`Final` onto a TransportError with ``retryable`` decided.

    Unknown CMS codes count as transient: a modem vendor's private code should delay a
    message, not destroy it; the dispatcher's attempt limit still ends it.
    """
    where = f" ({command})" if command else ""
    if final.kind == "CMS" and final.code is not None:
        code = final.code
        if code in CMS_TRANSIENT:
            return TransportError(f"modem: {final.text}{where}", code=f"CMS {code}",
                                  retryable=True, error_code=30003 if code in (331, 332)
                                  else 30008)
        if code in CMS_PERMANENT:
            return TransportError(f"modem: {final.text}{where}", code=f"CMS {code}",
                                  retryable=False, error_code=CMS_PERMANENT[code])
        # 0-127 are network cause values (TS 24.011 E-2): treat as the recipient's problem.
        if code < 128:
            return TransportError(f"modem: {final.text}{where}", code=f"CMS {code}",
                                  retryable=False, error_code=30008)
        return TransportError(f"modem: {final.text}{where}", code=f"CMS {code}",
                              retryable=True, error_code=30008)
    if final.kind == "CME" and final.code is not None:
        return TransportError(f"modem: {final.text}{where}", code=f"CME {final.code}",
                              retryable=final.code not in CME_PERMANENT, error_code=30008)
    return TransportError(f"modem: {final.text}{where}", code="ERROR", retryable=True,
                          error_code=30008)
