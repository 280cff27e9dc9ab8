"""GSM modem transport: AT commands over a serial port (pyserial).

``modem:///dev/ttyUSB0?baudrate=115200&pin=1234&mode=pdu&smsc=+447700900000``

One reader thread owns the port's input and splits it with :class:`~.at.AtParser`;
commands are serialised (one at a time, as TS 27.005 requires for +CMGS) and each has a
timeout. A supervisor thread opens the port, runs the init sequence, probes the modem with
``AT`` when idle and, when the modem stops answering or the device disappears, closes,
reopens and re-initialises it. Sends during that time raise a *retryable*
:class:`~ivr.errors.TransportError`: the dispatcher keeps the message queued, nothing here
holds messages in memory.

Status reports (``+CDS``) become :class:`DeliveryReport` with ``reference`` = TP-MR and
``recipient``; the store matches them to parts (TP-MR wraps at 255, so it uses the
recipient and a time window as well). Inbound messages (``+CMTI`` then ``AT+CMGR`` and
``AT+CMGD``, or direct ``+CMT``) become :class:`InboundSms`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

import serial

from ivr.errors import ConfigError, TransportError
from ivr.sms import pdu
from ivr.sms.encoding import split_message
from ivr.sms.message import Message
from ivr.sms.transports.at import (
    AtParser,
    Event,
    Final,
    Prompt,
    Urc,
    parse_fields,
    signal_dbm,
    transport_error,
)
from ivr.sms.transports.base import DeliveryReport, InboundSms, SubmitResult, TransportEvents

__all__ = ["ModemTransport", "ModemSettings", "SerialPort", "from_url"]

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"


class SerialPort(Protocol):
    """The part of ``serial.Serial`` we use (the seam for ``serial_for_url``)."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


@dataclass
class ModemSettings:
    device: str
    baudrate: int = 115200
    pin: str = ""
    mode: str = "pdu"                 # pdu | text
    smsc: str = ""                    # "" = keep the SIM's SMSC
    command_timeout: float = 10.0
    send_timeout: float = 60.0        # +CMGS can take several seconds on a real network
    prompt_timeout: float = 10.0
    register_timeout: float = 60.0    # wait this long for CREG 1/5 at init
    keepalive: float = 30.0           # probe with AT when idle this long
    reopen_delay: float = 2.0         # first back-off after a failed open/init
    reopen_max: float = 60.0
    validity_minutes: int = 1440
    rate_limit: float = 0.2           # messages per second (real modems: 6-10 per minute)
    status_report: bool = True
    concat_timeout: float = 600.0     # inbound parts older than this are delivered as they are


class _Hung(Exception):
    """The modem did not answer a command in time."""


class ModemTransport:
    """:class:`~ivr.sms.transports.base.Transport` for one GSM modem."""

    max_in_flight = 1

    def __init__(self, name: str, settings: ModemSettings, *,
                 opener: Callable[[ModemSettings], SerialPort] | None = None) -> None:
        self.name = name
        self.signal_dbm: int | None = None   # AT+CSQ at start and at each keep-alive
        self.settings = settings
        self.rate_limit = settings.rate_limit
        self._opener = opener or _open_serial
        self._events: TransportEvents | None = None
        self._port: SerialPort | None = None
        self._parser = AtParser()
        self._command_lock = threading.Lock()     # one command at a time
        self._io_lock = threading.Lock()          # parser/port state shared with the reader
        self._finals: queue.Queue[Final | Prompt | None] = queue.Queue()
        self._urcs: queue.Queue[Urc | None] = queue.Queue()
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._broken = threading.Event()          # set by the reader or a timeout: re-init
        self._threads: list[threading.Thread] = []
        self._last_io = time.monotonic()
        self._concat_ref = random.randrange(256)
        # (sender, concat ref, total) -> (first seen, {seq: (text, pdu, SIM index)})
        self._partial: dict[tuple[str, int, int],
                            tuple[float, dict[int, tuple[str, str, int | None]]]] = {}
        self.inits = 0
        self._init_thread = 0                     # the supervisor, while it initialises
        self._pin_rejected = False                # never send a wrong PIN twice

    # ------------------------------------------------------------ lifecycle
    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stopped.clear()
        for target, label in ((self._supervise, "supervisor"), (self._handle_urcs, "urc")):
            thread = threading.Thread(target=target, name=f"modem-{self.name}-{label}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopped.set()
        self._ready.clear()
        self._urcs.put(None)
        self._finals.put(None)
        self._close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def healthy(self) -> bool:
        return self._ready.is_set() and not self._broken.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the modem is initialised (tests, ``ivr send-sms --wait``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.02)
        return False

    def _supervise(self) -> None:
        delay = self.settings.reopen_delay
        while not self._stopped.is_set():
            if self._port is None or self._broken.is_set():
                self._ready.clear()
                self._close()
                try:
                    self._open()
                    self._initialise()
                except (_Hung, TransportError, OSError, serial.SerialException) as exc:
                    log.warning("[modem %s] init failed: %s; retrying in %.1fs",
                                self.name, exc, delay)
                    self._close()
                    if self._stopped.wait(delay):
                        return
                    delay = min(delay * 2, self.settings.reopen_max)
                    continue
                delay = self.settings.reopen_delay
                self._broken.clear()
                self._read_signal()
                self._ready.set()
                self._urcs.put(Urc("SCAN", ""))     # read what arrived while we were away
                log.info("[modem %s] ready on %s", self.name, self.settings.device)
            if self._stopped.wait(min(1.0, self.settings.keepalive / 2)):
                return
            if time.monotonic() - self._last_io >= self.settings.keepalive:
                try:
                    self._read_signal()     # also the keep-alive probe
                except _Hung:
                    log.warning("[modem %s] no answer to AT: re-initialising", self.name)
                except TransportError as exc:
                    log.warning("[modem %s] keep-alive failed: %s", self.name, exc)

    def _read_signal(self) -> None:
        """AT+CSQ: the signal the operator console shows; a modem without it (ERROR) just
        has no reading."""
        final = self._command("AT+CSQ", timeout=self.settings.command_timeout, check=False)
        values = final.info("+CSQ:")
        self.signal_dbm = signal_dbm(f"+CSQ: {values[0]}") if values else None

    def _open(self) -> None:
        log.info("[modem %s] opening %s at %d baud", self.name, self.settings.device,
                 self.settings.baudrate)
        port = self._opener(self.settings)
        with self._io_lock:
            self._parser = AtParser()
            self._port = port
        self._finals = queue.Queue()
        reader = threading.Thread(target=self._read_loop, args=(port,),
                                  name=f"modem-{self.name}-reader", daemon=True)
        reader.start()

    def _close(self) -> None:
        with self._io_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (OSError, serial.SerialException):
                pass
            self._finals.put(None)

    def _read_loop(self, port: SerialPort) -> None:
        while not self._stopped.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (OSError, serial.SerialException, TypeError, AttributeError) as exc:
                if self._port is port:
                    log.warning("[modem %s] port lost: %s", self.name, exc)
                    self._broken.set()
                    self._finals.put(None)
                return
            if not data:
                continue
            log.debug("[modem %s] < %s", self.name, data.hex())
            self._last_io = time.monotonic()
            with self._io_lock:
                if self._port is not port:
                    return
                events: list[Event] = self._parser.feed(data)
            for event in events:
                if isinstance(event, Urc):
                    self._urcs.put(event)
                else:
                    self._finals.put(event)

    # ------------------------------------------------------------ commands
    def _write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise TransportError(f"modem {self.name}: port closed", code="CLOSED")
        log.debug("[modem %s] > %s", self.name, data.hex())
        try:
            port.write(data)
        except (OSError, serial.SerialException) as exc:
            self._broken.set()
            raise TransportError(f"modem {self.name}: write failed: {exc}",
                                 code="IO") from None

    def _wait(self, timeout: float, command: str) -> Final | Prompt:
        try:
            event = self._finals.get(timeout=timeout)
        except queue.Empty:
            with self._io_lock:
                self._parser.cancel()
            self._broken.set()
            raise _Hung(f"no answer to {command} within {timeout:.0f}s") from None
        if event is None:
            raise TransportError(f"modem {self.name}: port closed during {command}",
                                 code="CLOSED")
        return event

    def _command(self, command: str, *, timeout: float | None = None,
                 data: bytes | None = None, check: bool = True) -> Final:
        """Run one command; ``data`` is written after the ``> `` prompt, ended by Ctrl-Z."""
        timeout = timeout or self.settings.command_timeout
        with self._command_lock:
            if self._broken.is_set() and threading.get_ident() != self._init_thread:
                # A command before us timed out: the modem's state is unknown until the
                # supervisor has re-initialised it; do not queue behind it.
                raise TransportError(f"modem {self.name} not ready (re-initialising)",
                                     code="NOT_READY")
            while not self._finals.empty():      # drop results of a command that timed out
                self._finals.get_nowait()
            with self._io_lock:
                self._parser.begin(command)
            self._write(command.encode("latin-1") + b"\r")
            self._last_io = time.monotonic()
            event = self._wait(self.settings.prompt_timeout if data is not None else timeout,
                               command)
            if data is not None:
                if not isinstance(event, Prompt):
                    final = event
                else:
                    self._write(data + CTRL_Z)
                    event = self._wait(timeout, command)
                    while isinstance(event, Prompt):
                        event = self._wait(timeout, command)
                    final = event
            else:
                while isinstance(event, Prompt):     # a stray "> ": cancel it
                    self._write(ESC)
                    event = self._wait(timeout, command)
                final = event
        if check and not final.ok:
            raise transport_error(final, command)
        return final

    def _initialise(self) -> None:
        s = self.settings
        self.inits += 1
        self._init_thread = threading.get_ident()
        # Some modems swallow the first command after open (autobaud): probe a few times.
        for attempt in range(3):
            try:
                self._command("AT", timeout=min(3.0, s.command_timeout))
                break
            except _Hung:
                if attempt == 2:
                    raise
                self._broken.clear()
        self._command("ATZ")
        self._command("ATE0")
        self._command("AT+CMEE=1")
        state = self._command("AT+CPIN?").info("+CPIN:")
        if state and state[0] != "READY":
            if state[0] != "SIM PIN":
                raise TransportError(f"modem {self.name}: SIM state {state[0]} (needs PUK or "
                                     "another code; not retrying automatically)",
                                     code="CPIN", retryable=False)
            if not s.pin:
                raise TransportError(f"modem {self.name}: SIM wants a PIN; add pin= to the "
                                     "URL", code="CPIN", retryable=False)
            if self._pin_rejected:
                raise TransportError(f"modem {self.name}: the SIM refused pin= once; not "
                                     "trying again (3 wrong PINs lock the SIM with a PUK)",
                                     code="CPIN", retryable=False)
            try:
                self._command(f'AT+CPIN="{s.pin}"')
            except TransportError:
                self._pin_rejected = True
                log.error("[modem %s] SIM rejected the configured PIN; fix pin= and restart",
                          self.name)
                raise
        self._wait_registration()
        if s.smsc:
            self._command(f'AT+CSCA="{s.smsc}",{145 if s.smsc.startswith("+") else 129}')
        self._set_mode(s.mode)
        # CNMI: mt=1 store new messages and send +CMTI (they survive until we delete them),
        # ds=1 route status reports as +CDS (TS 27.005 §3.4.1). Fallback for modems without
        # ds=1 support: ds=2 stores them and sends +CDSI.
        final = self._command("AT+CNMI=2,1,0,1,0", check=False)
        if not final.ok:
            self._command("AT+CNMI=2,1,0,2,0", check=False)
        self._last_io = time.monotonic()

    def _wait_registration(self) -> None:
        deadline = time.monotonic() + self.settings.register_timeout
        while True:
            values = self._command("AT+CREG?").info("+CREG:")
            fields = parse_fields(values[0]) if values else []
            stat = fields[1] if len(fields) > 1 else (fields[0] if fields else "")
            if stat in ("1", "5"):              # home / roaming (TS 27.007 §7.2)
                return
            if time.monotonic() >= deadline:
                raise TransportError(f"modem {self.name}: not registered (CREG stat {stat})",
                                     code="CREG")
            if self._stopped.wait(0.5):
                raise TransportError("stopped", code="STOPPED")

    def _set_mode(self, mode: str) -> None:
        self._command(f"AT+CMGF={0 if mode == 'pdu' else 1}")
        if mode == "text":
            # fo 49 = SUBMIT|VPF relative|SRR (or 17 without a report); VP 167 = 24 h.
            fo = 49 if self.settings.status_report else 17
            vp = pdu.validity_octet(self.settings.validity_minutes)
            self._command(f"AT+CSMP={fo},{vp},0,0")
            self._command('AT+CSCS="IRA"', check=False)

    # ------------------------------------------------------------ sending
    def send(self, message: Message) -> SubmitResult:
        if self._stopped.is_set():
            raise TransportError(f"modem {self.name} stopped", code="STOPPED")
        if not self.healthy():
            raise TransportError(f"modem {self.name} not ready (initialising)",
                                 code="NOT_READY")
        try:
            if self.settings.mode == "text" and _text_mode_ok(message):
                refs = [self._send_text(message)]
            else:
                refs = self._send_pdu(message)
        except _Hung as exc:
            raise TransportError(f"modem {self.name}: {exc}; re-initialising",
                                 code="TIMEOUT") from None
        log.info("[sms %s] modem %s accepted %d part(s), TP-MR %s", message.id, self.name,
                 len(refs), refs)
        return SubmitResult(references=list(refs))

    def _send_pdu(self, message: Message) -> list[int | None]:
        with self._command_lock:
            self._concat_ref = (self._concat_ref + 1) % 256
            ref = self._concat_ref
        try:
            parts = pdu.encode_submit_parts(
                message.recipient, message.body, concat_reference=ref,
                encoding=message.encoding if message.encoding in ("gsm7", "ucs2") else None,
                status_report=message.request_status_report and self.settings.status_report,
                validity_minutes=self.settings.validity_minutes, silent=message.silent)
        except (pdu.PduError, ValueError) as exc:
            raise TransportError(f"cannot encode message: {exc}", code="ENCODE",
                                 retryable=False, error_code=30008) from None
        switch = self.settings.mode == "text"
        refs: list[int | None] = []
        if switch:
            self._command("AT+CMGF=0")
        try:
            for i, part in enumerate(parts):
                final = self._command(f"AT+CMGS={part.tpdu_length}", data=part.hex.encode(),
                                      timeout=self.settings.send_timeout)
                refs.append(_mr(final))
                log.debug("[sms %s] part %d/%d TP-MR %s", message.id, i + 1, len(parts),
                          refs[-1])
        finally:
            if switch and self._port is not None:
                self._command("AT+CMGF=1", check=False)
        return refs

    def _send_text(self, message: Message) -> int | None:
        toa = 145 if message.recipient.startswith("+") else 129
        final = self._command(f'AT+CMGS="{message.recipient}",{toa}',
                              data=message.body.encode("ascii"),
                              timeout=self.settings.send_timeout)
        return _mr(final)

    # ------------------------------------------------------------ unsolicited
    def _handle_urcs(self) -> None:
        while True:
            urc = self._urcs.get()
            if urc is None or self._stopped.is_set():
                return
            try:
                self._urc(urc)
            except (_Hung, TransportError) as exc:
                log.warning("[modem %s] handling %s failed: %s", self.name, urc.name, exc)
            except pdu.PduError as exc:
                log.warning("[modem %s] undecodable %s %r: %s", self.name, urc.name,
                            urc.payload, exc)

    def _urc(self, urc: Urc) -> None:
        log.debug("[modem %s] URC %s %s %s", self.name, urc.name, urc.text, urc.payload)
        if urc.name == "+CDS":
            if urc.payload:
                self._report(pdu.decode_status_report(urc.payload), urc.payload)
            else:
                self._text_report(urc.text)
        elif urc.name in ("+CMTI", "+CDSI"):
            fields = parse_fields(urc.text)
            if len(fields) >= 2 and fields[1].isdigit():
                self._read_stored(fields[0], int(fields[1]))
        elif urc.name == "SCAN":
            self._scan_stored()
        elif urc.name == "+CMT":
            if self.settings.mode == "pdu" or _looks_hex(urc.payload):
                self._inbound(pdu.decode_deliver(urc.payload), urc.payload)
            else:
                fields = parse_fields(urc.text)
                self._emit_inbound(fields[0], urc.payload, _text_time(fields[-1]), "")

    def _read_stored(self, memory: str, index: int) -> None:
        if memory and memory != "SM":
            self._command(f'AT+CPMS="{memory}"', check=False)
        if self._tracked(index):
            return
        with self._pdu_mode():
            final = self._command(f"AT+CMGR={index}")
        body = [line for line in final.lines if not line.startswith("+CMGR:")]
        if not body:
            log.warning("[modem %s] CMGR=%d returned no PDU", self.name, index)
            return
        self._stored_pdu(index, body[0])

    def _scan_stored(self) -> None:
        """After (re)initialising: pick up messages that arrived while we were not listening
        (AT+CMGL=4, "all", TS 27.005 §3.4.2) and parts of half-received long messages."""
        with self._pdu_mode():
            final = self._command("AT+CMGL=4", timeout=3 * self.settings.command_timeout,
                                  check=False)
        lines = final.lines
        for i, line in enumerate(lines):
            if line.startswith("+CMGL:") and i + 1 < len(lines):
                index = parse_fields(line[6:])[0]
                if index.isdigit() and not self._tracked(int(index)):
                    try:
                        self._stored_pdu(int(index), lines[i + 1])
                    except pdu.PduError as exc:
                        log.warning("[modem %s] stored message %s undecodable: %s",
                                    self.name, index, exc)

    def _stored_pdu(self, index: int, raw: str) -> None:
        decoded = pdu.decode_pdu(raw)
        if isinstance(decoded, pdu.StatusReport):
            self._report(decoded, raw)
            done = [index]
        else:
            done = self._inbound(decoded, raw, index)
        # Deleted only after the event was handed over (the service stores it durably
        # first); parts of an incomplete long message stay on the SIM until it is whole.
        for stored in done:
            self._command(f"AT+CMGD={stored}", check=False)

    def _tracked(self, index: int) -> bool:
        return any(index == part[2] for _, parts in self._partial.values()
                   for part in parts.values())

    @contextlib.contextmanager
    def _pdu_mode(self) -> Iterator[None]:
        text = self.settings.mode == "text"
        if text:
            self._command("AT+CMGF=0")
        try:
            yield
        finally:
            if text and self._port is not None:
                self._command("AT+CMGF=1", check=False)

    def _report(self, report: pdu.StatusReport, raw: str) -> None:
        log.info("[modem %s] status report TP-MR %d to %s: TP-ST 0x%02X -> %s", self.name,
                 report.reference, report.recipient, report.tp_status, report.status.value)
        if self._events is not None:
            self._events.on_delivery_report(DeliveryReport(
                transport=self.name, status=report.status, reference=report.reference,
                recipient=report.recipient, error_code=report.error_code,
                error_text="" if report.error_code is None else f"TP-ST 0x{report.tp_status:02X}",
                done_at=report.discharge, raw=raw))

    def _text_report(self, text: str) -> None:
        # +CDS: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st> (TS 27.005 §3.4.1, text mode)
        fields = parse_fields(text)
        if len(fields) < 7 or not fields[1].isdigit() or not fields[6].isdigit():
            log.warning("[modem %s] unparsable text-mode +CDS: %s", self.name, text)
            return
        st = int(fields[6])
        self._report(pdu.StatusReport("", int(fields[1]), fields[2], _text_time(fields[4]),
                                      _text_time(fields[5]), st, pdu.status_from_tp_st(st),
                                      pdu.error_code_from_tp_st(st)), text)

    def _inbound(self, sms: pdu.Deliver, raw: str, index: int | None = None) -> list[int]:
        """Report a received message once it is whole; return the SIM indexes now done."""
        here = [] if index is None else [index]
        if sms.concat is None or sms.concat.total <= 1:
            self._emit_inbound(sms.sender, sms.text, sms.timestamp, raw)
            return here
        done: list[int] = []
        now = time.monotonic()
        for key, (first_seen, parts) in list(self._partial.items()):
            if now - first_seen > self.settings.concat_timeout:
                del self._partial[key]
                log.warning("[modem %s] incomplete inbound from %s: %d of %d parts", self.name,
                            key[0], len(parts), key[2])
                done += self._emit_parts(key[0], parts, None)
        key = (sms.sender, sms.concat.reference, sms.concat.total)
        _, parts = self._partial.setdefault(key, (now, {}))
        parts[sms.concat.sequence] = (sms.text, raw, index)
        if len(parts) == sms.concat.total:
            del self._partial[key]
            done += self._emit_parts(sms.sender, parts, sms.timestamp)
        return done

    def _emit_parts(self, sender: str, parts: dict[int, tuple[str, str, int | None]],
                    when: dt.datetime | None) -> list[int]:
        order = sorted(parts)
        self._emit_inbound(sender, "".join(parts[i][0] for i in order), when,
                           "".join(parts[i][1] for i in order))
        return [idx for i in order if (idx := parts[i][2]) is not None]

    def _emit_inbound(self, sender: str, text: str, when: dt.datetime | None,
                      raw: str) -> None:
        # The provider id is a digest of the PDU(s) (which include the SC timestamp): the
        # same message read again after a crash before AT+CMGD, or re-delivered by the
        # network, gets the same id and the store drops the repeat.
        digest = hashlib.sha256((raw or f"{sender}|{when}|{text}").encode()).hexdigest()[:24]
        log.info("[modem %s] inbound SMS from %s (%d chars) id %s", self.name, sender,
                 len(text), digest)
        if self._events is not None:
            self._events.on_inbound(InboundSms(transport=self.name, sender=sender,
                                               recipient="", body=text, received_at=when,
                                               provider_id=f"mo-{digest}"))


def _mr(final: Final) -> int | None:
    values = final.info("+CMGS:")
    if values and values[0].split(",")[0].strip().isdigit():
        return int(values[0].split(",")[0])
    return None


def _text_mode_ok(message: Message) -> bool:
    """Text mode carries one part of printable ASCII (IRA) only; anything else goes as PDU."""
    body = message.body
    if message.silent or not body.isascii() or not all(32 <= ord(c) < 127 or c in "\r\n"
                                                        for c in body):
        return False
    try:
        return split_message(body, "gsm7").count == 1
    except ValueError:          # ASCII but not GSM 03.38 (e.g. a backtick)
        return False


def _looks_hex(text: str) -> bool:
    return bool(text) and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


def _text_time(value: str) -> dt.datetime | None:
    """``yy/MM/dd,hh:mm:ss±zz`` (zone in quarter hours), TS 27.005 §3.3.1."""
    value = value.strip('"')
    try:
        stamp = dt.datetime.strptime(value[:17], "%y/%m/%d,%H:%M:%S")
        zone = int(value[17:] or "0") * 15
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.timezone(dt.timedelta(minutes=zone)))


def _open_serial(settings: ModemSettings) -> SerialPort:
    port: SerialPort = serial.serial_for_url(settings.device, baudrate=settings.baudrate,
                                             timeout=0.2, write_timeout=5, exclusive=True)
    return port


_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def from_url(name: str, url: str) -> ModemTransport:
    """``modem:///dev/ttyUSB0?baudrate=115200&pin=1234&mode=pdu|text&smsc=+44...``.

    Also: ``timeout`` (command), ``send_timeout``, ``register_timeout``, ``keepalive``,
    ``validity`` (minutes), ``rate`` (messages/s), ``report`` (status reports, 1/0).
    """
    parts = urlsplit(url)
    if parts.scheme != "modem":
        raise ConfigError(f"transport {name}: not a modem:// URL: {url}")
    device = unquote(parts.path) or unquote(parts.netloc)
    if not device:
        raise ConfigError(f"transport {name}: modem URL needs a device path "
                          "(modem:///dev/ttyUSB0)")
    # Not parse_qs: it turns "+" into a space, and smsc= is a "+..." number.
    params = {unquote(k): unquote(v) for k, _, v in
              (item.partition("=") for item in parts.query.split("&") if item)}
    known = {"baudrate", "pin", "mode", "smsc", "timeout", "send_timeout", "register_timeout",
             "keepalive", "validity", "rate", "report"}
    unknown = set(params) - known
    if unknown:
        raise ConfigError(f"transport {name}: unknown modem parameter(s) "
                          f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    mode = params.get("mode", "pdu")
    if mode not in ("pdu", "text"):
        raise ConfigError(f"transport {name}: mode must be pdu or text, not {mode!r}")
    report = params.get("report", "1").lower()
    if report not in _BOOL:
        raise ConfigError(f"transport {name}: report must be 1 or 0, not {report!r}")
    try:
        settings = ModemSettings(
            device=device, baudrate=int(params.get("baudrate", "115200")),
            pin=params.get("pin", ""), mode=mode, smsc=params.get("smsc", ""),
            command_timeout=float(params.get("timeout", "10")),
            send_timeout=float(params.get("send_timeout", "60")),
            register_timeout=float(params.get("register_timeout", "60")),
            keepalive=float(params.get("keepalive", "30")),
            validity_minutes=int(params.get("validity", "1440")),
            rate_limit=float(params.get("rate", "0.2")),
            status_report=_BOOL[report])
    except ValueError as exc:
        raise ConfigError(f"transport {name}: {exc}") from None
    if settings.pin and not (settings.pin.isdigit() and 4 <= len(settings.pin) <= 8):
        raise ConfigError(f"transport {name}: pin must be 4-8 digits")
    return ModemTransport(name, settings)

