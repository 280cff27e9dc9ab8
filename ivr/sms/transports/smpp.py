"""SMPP 3.4 transport (ESME side) on smpplib's PDU classes.

``smpp://system_id:password@host:2775?system_type=&source_ton=&source_npi=&dest_ton=&
dest_npi=&window=10&throughput=0&enquire_link=30&msg_id_format=auto&submit_timeout=30``

Why we own the socket instead of ``smpplib.Client.listen()``: the client's reader loses a
half-read PDU on a socket timeout and its listen thread dies silently on disconnect
(smpplib #72/#118). Here one supervisor thread connects, binds (bind_transceiver),
reads framed PDUs with ``select`` and, when the link drops, fails every pending submit as
retryable and reconnects with exponential backoff. smpplib only encodes and decodes PDUs.

Sends: ``send()`` may run in up to ``window`` dispatcher threads. Each part is one
submit_sm (registered_delivery=1, UDH + esm_class 0x40 for concatenated parts); at most
``window`` submit_sm are outstanding on the link (Kannel's max-pending-submits). ``send``
returns when every part got its submit_sm_resp; a part without answer within
``submit_timeout`` raises a retryable TransportError (30090).

Receipts (deliver_sm with esm_class 0x04, or the receipted_message_id / message_state
TLVs) become DeliveryReports; the deliver_sm_resp is written only after the report was
handed to the service, so a crash makes the SMSC resend it instead of losing it. See
``docs/transports-smpp.md`` for ids, errors and testing.
"""

from __future__ import annotations

import logging
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from smpplib import smpp

from ivr.errors import ConfigError, TransportError
from ivr.sms.batch import Batcher
from ivr.sms.encoding import gsm7_decode, gsm7_encode, split_message
from ivr.sms.message import Message
from ivr.sms.pdu import Concat, parse_udh
from ivr.sms.ratelimit import TokenBucket
from ivr.sms.transports.base import (
    DeliveryReport,
    InboundSms,
    SubmitResult,
    TransportEvents,
    report_all,
)
from ivr.sms.transports.smpp_receipt import (
    canonical_ids,
    convert_receipt_id,
    error_for_status,
    is_receipt,
    normalise_id,
    receipt_from_fields,
)

__all__ = ["SmppTransport", "from_url", "canonical_ids"]

log = logging.getLogger(__name__)

MAX_PDU = 64 * 1024
_RESUBMIT_CODES = frozenset({"ESME_RTHROTTLED", "ESME_RMSGQFUL"})
ESME_RX_T_APPN = 0x64        # SMPP 3.4 §5.1.3: "ESME receiver temporary app error" → resend


@dataclass
class _Group:
    """The submit_sm that one send_many call waits for: one wake-up when the last answer
    is in, not one per answer (a batch of 64 would hand the GIL over 64 times)."""

    remaining: int = 0
    all_done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Pending:
    sequence: int
    group: _Group
    done: bool = False
    status: int | None = None
    message_id: str = ""
    error: TransportError | None = None


@dataclass(frozen=True)
class _Receipt:
    link: _Link
    sequence: int
    report: DeliveryReport


class _Link:
    """One TCP connection: the socket, its write lock and its receive buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.write_lock = threading.Lock()
        self.buffer = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        with self.write_lock:
            if self.closed:
                raise OSError("link closed")
            self.sock.sendall(data)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def frames(self) -> list[bytes]:
        """Complete PDUs in the buffer (SMPP 3.4 §3.2: 4-octet command_length first)."""
        out = []
        while len(self.buffer) >= 4:
            length = struct.unpack(">L", self.buffer[:4])[0]
            if length < 16 or length > MAX_PDU:
                raise OSError(f"bad command_length {length}")
            if len(self.buffer) < length:
                break
            out.append(self.buffer[:length])
            self.buffer = self.buffer[length:]
        return out


def _make(command: str, sequence: int, **fields: Any) -> Any:
    """smpplib's make_pdu with an explicit sequence_number (2.2.4 ignores the ``sequence``
    keyword when no client object is given and writes 0)."""
    pdu = smpp.make_pdu(command, client=None, sequence=sequence, **fields)
    pdu.sequence = sequence
    return pdu


def _parse(raw: bytes) -> Any:
    """smpplib's parse_pdu, with the header's sequence_number kept (smpplib 2.2.4 loses it
    when no client object is given)."""
    pdu = smpp.parse_pdu(raw, client=None, sequence=0, allow_unknown_opt_params=True)
    if pdu is not None:
        pdu.sequence = struct.unpack(">L", raw[12:16])[0]
    return pdu


_BIND_TRANSCEIVER_RESP = 0x80000009
_GENERIC_NACK = 0x80000000
_SUBMIT_SM_RESP_ID = struct.pack(">L", 0x80000004)
_DELIVER_SM_RESP = 0x80000005


def submit_sm_resp(raw: bytes) -> tuple[int, int, str]:
    """(sequence_number, command_status, message_id) of a framed submit_sm_resp (SMPP 3.4
    §4.4.2: the body is the message_id C-Octet String, absent when the status is an
    error)."""
    _, _, status, sequence = struct.unpack(">LLLL", raw[:16])
    return sequence, status, raw[16:].split(b"\x00", 1)[0].decode("latin-1")


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    """A deliver_sm_resp (SMPP 3.4 §4.6.2: the body is a message_id set to NULL)."""
    return struct.pack(">LLLL", 17, _DELIVER_SM_RESP, status, sequence) + b"\x00"


def _header(raw: bytes) -> tuple[int, int, int]:
    """(command_id, command_status, sequence_number) of a framed PDU (SMPP 3.4 §3.2)."""
    _, command_id, status, sequence = struct.unpack(">LLLL", raw[:16])
    return command_id, status, sequence


def _s(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class SmppTransport:
    """An ESME bound as transceiver to one SMSC; see the module docstring."""

    def __init__(self, name: str, host: str, port: int = 2775, *, system_id: str,
                 password: str, system_type: str = "", source_ton: int | None = None,
                 source_npi: int | None = None, dest_ton: int = 1, dest_npi: int = 1,
                 window: int = 10, throughput: float = 0.0, enquire_link: float = 30.0,
                 msg_id_format: str = "auto", submit_timeout: float = 30.0,
                 connect_timeout: float = 10.0, reconnect_max: float = 30.0) -> None:
        if msg_id_format not in ("auto", "hex", "dec"):
            raise ConfigError(f"transport {name}: msg_id_format must be auto, hex or dec, "
                              f"not {msg_id_format!r}")
        if window < 1:
            raise ConfigError(f"transport {name}: window must be at least 1")
        self.name = name
        self.host = host
        self.port = port
        self.system_id = system_id
        self.password = password
        self.system_type = system_type
        self.source_ton = source_ton
        self.source_npi = source_npi
        self.dest_ton = dest_ton
        self.dest_npi = dest_npi
        self.window = window
        self.max_in_flight = window
        self.rate_limit = 0.0      # the cap is per submit_sm (part), applied here, not per message
        self.throughput = throughput
        self.enquire_link = enquire_link
        self.msg_id_format = msg_id_format
        self.submit_timeout = submit_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_max = reconnect_max
        self.reconnects = 0
        self._events: TransportEvents | None = None
        self._lock = threading.Lock()
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._slots = threading.BoundedSemaphore(window)
        self._bucket = TokenBucket(throughput)
        self._link: _Link | None = None
        self._bound = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._udh_ref = random.randrange(256)
        # Receipts are stored in batches off the reader thread, which goes on reading
        # submit_sm_resp meanwhile; each is answered after its batch is stored.
        self._receipts: Batcher[_Receipt] = Batcher(f"smpp-{name}-receipts",
                                                    self._store_receipts, linger=0.01)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stop.clear()
        self._receipts.start()
        self._thread = threading.Thread(target=self._supervise, name=f"smpp-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        link = self._link
        if link is not None and self._bound.is_set():
            try:   # SMPP 3.4 §4.2: unbind politely; the answer is not awaited for long
                link.write(_make("unbind", self._next_seq())
                           .generate())
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self._drop_link("transport stopped")
        self._receipts.stop()

    def healthy(self) -> bool:
        return self._bound.is_set() and not self._stop.is_set()

    def wait_bound(self, timeout: float) -> bool:
        """Block until bound or ``timeout``; for tests and tools that want to send at once."""
        return self._bound.wait(timeout)

    # -- sending ---------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._lock:
            # SMPP 3.4 §5.1.4: 0x00000001..0x7FFFFFFF
            self._seq = self._seq % 0x7FFFFFFF + 1
            return self._seq

    def _addresses(self, message: Message) -> dict[str, Any]:
        sender = message.sender
        if sender.startswith("+") and sender[1:].isdigit():
            ton, npi, addr = 1, 1, sender[1:]          # international, E.164
        elif sender and not sender.isdigit():
            ton, npi, addr = 5, 0, sender              # alphanumeric (TS 23.040 §9.1.2.5)
        else:
            ton, npi, addr = 0, 1, sender              # national / short code: unknown TON
        return {
            "source_addr_ton": self.source_ton if self.source_ton is not None else ton,
            "source_addr_npi": self.source_npi if self.source_npi is not None else npi,
            "source_addr": addr,
            "dest_addr_ton": self.dest_ton, "dest_addr_npi": self.dest_npi,
            "destination_addr": message.recipient.lstrip("+"),
        }

    def _pdus(self, message: Message) -> list[dict[str, Any]]:
        segmented = split_message(message.body, message.encoding or None)
        if segmented.encoding == "ucs2":
            coding, payloads = 0x08, [p.encode("utf-16-be") for p in segmented.parts]
        else:   # data_coding 0 = SMSC default alphabet = unpacked GSM 03.38 septets
            coding, payloads = 0x00, [gsm7_encode(p) for p in segmented.parts]
        base: dict[str, Any] = {
            "service_type": "", "esm_class": 0x00,
            "registered_delivery": 1 if message.request_status_report else 0,
            "data_coding": coding, **self._addresses(message)}
        if len(payloads) == 1:
            return [{**base, "short_message": payloads[0]}]
        with self._lock:
            self._udh_ref = (self._udh_ref + 1) % 256
            ref = self._udh_ref
        total = len(payloads)
        # TS 23.040 §9.2.3.24.1: UDHL=5, IEI 0x00, IEDL 3, reference, total, sequence (1-based)
        return [{**base, "esm_class": 0x40,
                 "short_message": bytes([5, 0, 3, ref, total, i + 1]) + payload}
                for i, payload in enumerate(payloads)]

    def send(self, message: Message) -> SubmitResult:
        outcome = self.send_many([message])[0]
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome

    def send_many(self, messages: Sequence[Message]) -> list[SubmitResult | TransportError]:
        """Every part of every message pipelined into the window from this one thread, then
        one outcome per message (a SubmitResult, or the TransportError ``send`` would
        raise): a batch of 64 messages keeps 64 submit_sm outstanding without 64 threads
        each blocked on its own answer."""
        if self._stop.is_set() or not self._bound.is_set():
            return [TransportError(f"SMPP {self.name} not bound", code="UNBOUND",
                                   retryable=True) for _ in messages]
        outcomes: list[SubmitResult | TransportError] = []
        encoded: list[tuple[int, list[dict[str, Any]]]] = []
        for k, message in enumerate(messages):
            try:
                encoded.append((k, self._pdus(message)))
                outcomes.append(SubmitResult())
            except ValueError as exc:
                outcomes.append(TransportError(f"cannot encode message: {exc}",
                                               code="ENCODING", retryable=False,
                                               error_code=30008))
        deadline = time.monotonic() + self.submit_timeout
        results = self._submit_parts([(messages[k].id, f) for k, pdus in encoded
                                      for f in pdus], deadline)
        at = 0
        for k, pdus in encoded:
            mine, at = results[at:at + len(pdus)], at + len(pdus)
            outcomes[k] = self._outcome(messages[k], pdus, mine, deadline)
        return outcomes

    def _outcome(self, message: Message, pdus: list[dict[str, Any]],
                 results: list[str | TransportError],
                 deadline: float) -> SubmitResult | TransportError:
        """One message's result from its parts' answers."""
        backoff = 0.1
        # Once one part is accepted, a throttled sibling is resubmitted here rather than the
        # whole message by the dispatcher: resending accepted parts would duplicate them on
        # the handset (Jasmin #796 shows what requeueing whole messages does).
        while any(isinstance(r, str) for r in results) and any(
                isinstance(r, TransportError) for r in results):
            errors = [r for r in results if isinstance(r, TransportError)]
            if not all(e.code in _RESUBMIT_CODES for e in errors) or \
                    time.monotonic() + backoff >= deadline or self._stop.wait(backoff):
                break
            backoff = min(2.0, backoff * 2)
            redo = [(i, pdus[i]) for i, r in enumerate(results) if isinstance(r, TransportError)]
            log.info("[sms %s] SMPP %s resubmitting %d throttled part(s)", message.id,
                     self.name, len(redo))
            for (i, _), outcome in zip(redo, self._submit_parts(
                    [(message.id, f) for _, f in redo], deadline), strict=True):
                results[i] = outcome
        errors = [r for r in results if isinstance(r, TransportError)]
        if errors:   # a permanent error wins: retrying cannot fix that part; then doubt
            return next((e for e in errors if not e.retryable),
                        next((e for e in errors if e.in_doubt), errors[0]))
        ids = [r for r in results if isinstance(r, str)]
        log.debug("[sms %s] SMPP %s accepted %d part(s): %s", message.id, self.name,
                  len(ids), ",".join(ids))
        return SubmitResult(provider_ids=ids)

    def _submit_parts(self, parts: list[tuple[str, dict[str, Any]]],
                      deadline: float) -> list[str | TransportError]:
        """Pipeline the parts ((message id, fields) each) into the window, then collect
        one id or error per part. The parts that find a free slot are written together, in
        one system call; then the next waits for a slot."""
        pendings: list[tuple[int, _Pending]] = []
        outcomes: list[str | TransportError | None] = [None] * len(parts)
        group = _Group()
        try:
            k = 0
            while k < len(parts):
                self._bucket.wait(self._stop)
                if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    break
                ready = [k]
                k += 1
                while k < len(parts) and self.throughput <= 0 and \
                        self._slots.acquire(blocking=False):
                    ready.append(k)
                    k += 1
                batch = [(n, _Pending(self._next_seq(), group)) for n in ready]
                with self._lock:
                    if not group.remaining:
                        group.all_done.clear()
                    group.remaining += len(batch)
                pendings.extend(batch)
                try:
                    self._submit(batch, parts)
                except TransportError as exc:
                    for _, pending in batch:
                        self._finish(pending, error=exc)
            for n, pending in pendings:
                try:
                    outcomes[n] = self._await(pending, deadline, parts[n][0])
                except TransportError as exc:
                    outcomes[n] = exc
        finally:   # late answers after a timeout are ignored; their slots come back here
            for _, pending in pendings:
                self._finish(pending, error=TransportError(
                    f"SMPP {self.name}: send abandoned", code="TIMEOUT", retryable=True,
                    error_code=30090))
        return [TransportError(f"SMPP {self.name}: window full until the submit timeout",
                               code="TIMEOUT", retryable=True, error_code=30090)
                if outcome is None else outcome for outcome in outcomes]

    def _submit(self, batch: list[tuple[int, _Pending]],
                parts: list[tuple[str, dict[str, Any]]]) -> None:
        """Write the submit_sm of ``batch`` (indexes into ``parts``) in one write."""
        link = self._link
        if link is None or not self._bound.is_set():
            raise TransportError(f"SMPP {self.name} not bound", code="UNBOUND", retryable=True)
        data = []
        for n, pending in batch:
            pdu = _make("submit_sm", pending.sequence, **parts[n][1]).generate()
            if log.isEnabledFor(logging.DEBUG):
                log.debug("[sms %s] SMPP %s >> submit_sm seq %d %s", parts[n][0], self.name,
                          pending.sequence, pdu.hex())
            data.append(pdu)
        with self._lock:
            for _, pending in batch:
                self._pending[pending.sequence] = pending
        try:
            link.write(b"".join(data))
        except OSError as exc:
            # Part of the write may have reached the SMSC, whole submit_sm among it: held
            # for their receipts like the submits the link drop cut off, not resent at once.
            raise TransportError(f"SMPP {self.name} write failed: {exc}", code="DISCONNECTED",
                                 retryable=True, in_doubt=True) from None

    def _await(self, pending: _Pending, deadline: float, message_id: str) -> str:
        if not pending.done:
            pending.group.all_done.wait(max(0.0, deadline - time.monotonic()))
        if not pending.done:
            raise TransportError(f"SMPP {self.name}: no submit_sm_resp for seq "
                                 f"{pending.sequence} (timeout {self.submit_timeout:g} s)",
                                 code="TIMEOUT", retryable=True, error_code=30090)
        if pending.error is not None:
            raise pending.error
        if pending.status:
            raise error_for_status(pending.status, f"message {message_id}")
        return normalise_id(pending.message_id)

    # -- the link: connect, bind, read, reconnect -----------------------------------------
    def _supervise(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                backlog = self._connect_and_bind()
            except (OSError, TransportError) as exc:
                log.warning("[smpp %s] cannot bind to %s:%d: %s; retry in %.1f s", self.name,
                            self.host, self.port, exc, delay)
                self._drop_link(str(exc))
                self._stop.wait(delay)
                delay = min(self.reconnect_max, delay * 2)
                continue
            delay = 0.5
            reason = self._read_loop(backlog)
            self._drop_link(reason)
            if not self._stop.is_set():
                self.reconnects += 1
                log.warning("[smpp %s] link lost (%s); reconnecting", self.name, reason)

    def _connect_and_bind(self) -> list[bytes]:
        """Connect and bind; returns every other PDU read meanwhile, in order, for the reader.

        An SMSC that keeps receipts until they are answered sends them straight after the
        bind response, often in the same TCP segment. Those are the receipts that adopt a
        send a crash interrupted, so none may be dropped here."""
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(sock)
        self._link = link
        seq = self._next_seq()
        link.write(_make("bind_transceiver", seq,
                                 system_id=self.system_id, password=self.password,
                                 system_type=self.system_type, interface_version=0x34,
                                 addr_ton=0, addr_npi=0, address_range="").generate())
        deadline = time.monotonic() + self.connect_timeout
        backlog: list[bytes] = []
        while time.monotonic() < deadline:
            frames = self._receive(link, deadline - time.monotonic())
            for n, raw in enumerate(frames):
                command_id, status, sequence = _header(raw)
                if command_id == _BIND_TRANSCEIVER_RESP and sequence == seq:
                    if status:
                        raise error_for_status(status, "bind_transceiver")
                    sock.settimeout(None)
                    self._bound.set()
                    log.info("[smpp %s] bound as transceiver to %s:%d (%s); %d PDU(s) came "
                             "with the bind response", self.name, self.host, self.port,
                             _s(getattr(_parse(raw), "system_id", "")),
                             len(backlog) + len(frames) - n - 1)
                    return backlog + frames[n + 1:]
                if command_id == _GENERIC_NACK and sequence in (seq, 0):
                    raise error_for_status(status or 0x0D, "bind_transceiver")
                backlog.append(raw)    # handled by the reader once bound, in order
        raise TransportError("bind_transceiver_resp timeout", code="TIMEOUT")

    def _receive(self, link: _Link, timeout: float) -> list[bytes]:
        readable, _, _ = select.select([link.sock], [], [], max(0.0, timeout))
        if not readable:
            return []
        chunk = link.sock.recv(65536)
        if not chunk:
            raise OSError("connection closed by SMSC")
        link.buffer += chunk
        return link.frames()

    def _read_loop(self, backlog: list[bytes]) -> str:
        """Handle ``backlog`` (PDUs read while binding) first, then read until the link ends."""
        link = self._link
        assert link is not None
        last_rx = time.monotonic()
        probe_sent: float | None = None
        frames = backlog
        while not self._stop.is_set():
            now = time.monotonic()
            if frames:
                last_rx, probe_sent = now, None
            for raw in frames:
                try:
                    self._dispatch(link, raw)
                except OSError as exc:
                    return str(exc)
                except Exception:   # a PDU we cannot handle must not kill the reader
                    self._refuse(link, raw)
            if self.enquire_link > 0:
                if probe_sent is None and now - last_rx >= self.enquire_link:
                    try:
                        link.write(_make("enquire_link", self._next_seq()).generate())
                    except OSError as exc:
                        return str(exc)
                    probe_sent = now
                elif probe_sent is not None and now - probe_sent >= self.enquire_link:
                    return "no answer to enquire_link"
            try:
                frames = self._receive(link, 0.25)
            except OSError as exc:
                return str(exc)
        return "stopped"

    def _refuse(self, link: _Link, raw: bytes) -> None:
        """Log a PDU that could not be handled and, if it is a request, answer it with
        generic_nack ESME_RSYSERR (SMPP 3.4 §4.3) so the SMSC does not wait for ever."""
        command_id, _, sequence = _header(raw)
        log.exception("[smpp %s] cannot handle PDU command 0x%08x seq %d: %s", self.name,
                      command_id, sequence, raw.hex())
        if not command_id & 0x80000000:
            try:
                link.write(_make("generic_nack", sequence, status=0x08).generate())
            except OSError:
                pass

    def _dispatch(self, link: _Link, raw: bytes) -> None:
        seq = struct.unpack(">L", raw[12:16])[0]
        if raw[4:8] == _SUBMIT_SM_RESP_ID:
            # One per part, the most frequent PDU: read it without building smpplib's PDU
            # object (a fifth of the reader's time went there).
            _, status, message_id = submit_sm_resp(raw)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("[smpp %s] << submit_sm_resp seq %d %s", self.name, seq, raw.hex())
            with self._lock:
                pending = self._pending.get(seq)
            if pending is not None:
                self._finish(pending, status=status, message_id=message_id)
            return
        try:
            pdu = _parse(raw)
        except Exception:
            pdu = None
        if pdu is None:   # SMPP 3.4 §4.3: unknown command → generic_nack ESME_RINVCMDID
            link.write(_make("generic_nack", seq,
                                     status=0x03).generate())
            return
        log.debug("[smpp %s] << %s seq %d %s", self.name, pdu.command, seq, raw.hex())
        if pdu.command == "generic_nack":       # a refused submit_sm
            with self._lock:
                pending = self._pending.get(seq)
            if pending is not None:
                self._finish(pending, status=pdu.status or 0x08)
        elif pdu.command == "deliver_sm":
            answer = self._on_deliver(pdu, link, seq)
            if answer is not None:      # a receipt is answered once stored (_store_receipts)
                link.write(deliver_sm_resp(seq, answer))
        elif pdu.command == "enquire_link":
            link.write(_make("enquire_link_resp", seq).generate())
        elif pdu.command == "unbind":
            link.write(_make("unbind_resp", seq).generate())
            raise OSError("SMSC unbound")

    def _on_deliver(self, pdu: Any, link: _Link, seq: int) -> int | None:
        events = self._events
        payload = pdu.short_message or b""
        esm_class = pdu.esm_class or 0
        try:
            if is_receipt(esm_class) or getattr(pdu, "receipted_message_id", None):
                receipt = receipt_from_fields(
                    payload.decode("latin-1"), _s(getattr(pdu, "receipted_message_id", "")),
                    getattr(pdu, "message_state", None))
                if receipt is None:
                    log.warning("[smpp %s] unparseable receipt %r", self.name, payload)
                    return 0
                report = DeliveryReport(
                    transport=self.name, status=receipt.status,
                    provider_id=convert_receipt_id(receipt.message_id, self.msg_id_format),
                    recipient="+" + _s(pdu.source_addr) if pdu.source_addr_ton == 1
                    else _s(pdu.source_addr),
                    error_code=receipt.error_code,
                    error_text=f"stat:{receipt.stat} err:{receipt.err}",
                    done_at=receipt.done_at, raw=payload.decode("latin-1"),
                    text=receipt.text)
                log.debug("[smpp %s] receipt id %s stat %s", self.name, report.provider_id,
                          receipt.stat)
                self._receipts.put(_Receipt(link, seq, report))
                return None
            body, concat = payload, inbound_concat(pdu)
            if esm_class & 0x40 and payload:
                body = payload[1 + payload[0]:]     # skip the UDH (TS 23.040 §9.2.3.24)
                concat = parse_udh(payload[1:1 + payload[0]]) or concat
            coding = pdu.data_coding or 0
            text = (body.decode("utf-16-be", "replace") if coding == 0x08 else
                    body.decode("latin-1") if coding in (0x01, 0x03) else gsm7_decode(body))
            sender = _s(pdu.source_addr)
            sms = InboundSms(transport=self.name,
                             sender="+" + sender if pdu.source_addr_ton == 1 else sender,
                             recipient=_s(pdu.destination_addr), body=text, concat=concat)
            log.info("[smpp %s] inbound SMS from %s", self.name, sms.sender)
            if events is not None:
                events.on_inbound(sms)
            return 0
        except Exception:   # not stored → ask the SMSC to resend later (§5.1.3)
            log.exception("[smpp %s] could not store deliver_sm", self.name)
            return ESME_RX_T_APPN

    def _store_receipts(self, batch: list[_Receipt]) -> None:
        """Hand a batch of receipts to the service (one transaction), then answer each:
        deliver_sm_resp OK once stored, ESME_RX_T_APPN (resend later) if not. The answers
        of one link go out in one write; a link that dropped meanwhile gets none, and the
        SMSC sends those receipts again on the next bind (a repeat changes nothing)."""
        events = self._events
        stored = report_all(events, [r.report for r in batch]) if events is not None \
            else [True] * len(batch)
        answers: dict[int, tuple[_Link, list[bytes]]] = {}
        for receipt, ok in zip(batch, stored, strict=True):
            answers.setdefault(id(receipt.link), (receipt.link, []))[1].append(
                deliver_sm_resp(receipt.sequence, 0 if ok else ESME_RX_T_APPN))
        for link, data in answers.values():
            try:
                link.write(b"".join(data))
            except OSError as exc:
                log.info("[smpp %s] %d receipt answer(s) not written (%s): the SMSC sends "
                         "them again", self.name, len(data), exc)

    def _drop_link(self, reason: str) -> None:
        self._bound.clear()
        link, self._link = self._link, None
        if link is not None:
            link.close()
        with self._lock:
            pending = list(self._pending.values())
        # These submit_sm were written and never answered: the SMSC may have taken them and
        # lost only our response (an SMSC can drop a link after writing responses it then
        # discards). Resending at once would duplicate them; the dispatcher holds them for
        # the SMSC's receipts instead, as after a crash.
        for item in pending:
            self._finish(item, error=TransportError(
                f"SMPP {self.name} link lost before submit_sm_resp ({reason})",
                code="DISCONNECTED", retryable=True, in_doubt=True))

    def _finish(self, pending: _Pending, *, status: int | None = None, message_id: str = "",
                error: TransportError | None = None) -> None:
        """Resolve a submit exactly once and give its window slot back at that moment.

        The slot follows the PDU, not the send() call: a long message waiting for its last
        parts must not hold slots whose answers already came, or two long messages could
        each hold half the window and wait for the other until the timeout.
        """
        with self._lock:
            if pending.done:
                return
            self._pending.pop(pending.sequence, None)
            pending.status, pending.message_id, pending.error = status, message_id, error
            pending.done = True
            pending.group.remaining -= 1
            if not pending.group.remaining:
                pending.group.all_done.set()
        self._slots.release()


def inbound_concat(pdu: Any) -> Concat | None:
    """A long MO message's part numbering from the SAR TLVs (SMPP 3.4 §5.3.2.22-24), which
    some SMSCs use instead of a UDH; the UDH, when present, wins."""
    total = getattr(pdu, "sar_total_segments", None)
    sequence = getattr(pdu, "sar_segment_seqnum", None)
    reference = getattr(pdu, "sar_msg_ref_num", None)
    if not total or not sequence or reference is None:
        return None
    return Concat(int(reference), int(total), int(sequence))


def _int(name: str, params: dict[str, str], key: str, default: int | None) -> int | None:
    value = params.get(key, "")
    if value == "":
        return default
    try:
        return int(value, 0)
    except ValueError:
        raise ConfigError(f"transport {name}: {key} must be an integer, not {value!r}") from None


def _float(name: str, params: dict[str, str], key: str, default: float) -> float:
    value = params.get(key, "")
    try:
        return float(value) if value else default
    except ValueError:
        raise ConfigError(f"transport {name}: {key} must be a number, not {value!r}") from None


_KNOWN = {"system_type", "source_ton", "source_npi", "dest_ton", "dest_npi", "window",
          "throughput", "enquire_link", "msg_id_format", "submit_timeout"}


def from_url(name: str, url: str) -> SmppTransport:
    """Build a transport from ``smpp://system_id:password@host:port?...`` (see module doc)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "smpp" or not parts.hostname:
        raise ConfigError(f"transport {name}: expected smpp://system_id:password@host:port, "
                          f"got {url!r}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(params) - _KNOWN
    if unknown:
        raise ConfigError(f"transport {name}: unknown smpp parameter(s) "
                          f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(_KNOWN))})")
    try:
        port = parts.port or 2775
    except ValueError:
        raise ConfigError(f"transport {name}: bad port in {url!r}") from None
    window = _int(name, params, "window", 10)
    return SmppTransport(
        name, parts.hostname, port, system_id=unquote(parts.username or ""),
        password=unquote(parts.password or ""), system_type=params.get("system_type", ""),
        source_ton=_int(name, params, "source_ton", None),
        source_npi=_int(name, params, "source_npi", None),
        dest_ton=_int(name, params, "dest_ton", 1) or 0,
        dest_npi=_int(name, params, "dest_npi", 1) or 0,
        window=window if window is not None else 10,
        throughput=_float(name, params, "throughput", 0.0),
        enquire_link=_float(name, params, "enquire_link", 30.0),
        msg_id_format=params.get("msg_id_format", "auto") or "auto",
        submit_timeout=_float(name, params, "submit_timeout", 30.0))
