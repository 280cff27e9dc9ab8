"""An SMSC simulator speaking SMPP 3.4 over TCP, for tests, benchmarks and manual runs.

Independent of our transport: PDUs are encoded/decoded with smpplib's PDU classes only,
GSM 03.38 text is decoded with smpplib's own table. One class per misbehaviour:

- ``HappySMSC``: binds (credentials checked), answers submit_sm with an id, sends a
  delivery receipt (deliver_sm, esm_class 0x04) after ``receipt_delay`` seconds: DELIVRD, or
  UNDELIV for destinations matching ``undeliver``. ``id_format`` = hex|dec; with
  ``receipt_id_format="other"`` the receipt carries the id in the other base (Kannel's
  msg-id-type problem).
- ``ThrottlingSMSC(every=N)``: every Nth submit_sm answered ESME_RTHROTTLED.
- ``DisconnectingSMSC(after=N)``: drops the TCP connection (once) when the Nth submit_sm
  arrives, before answering it — the window in flight is lost.
- ``ReceiptBeforeResponseSMSC``: the receipt is sent before the submit_sm_resp.
- ``SlowSMSC(delay=s)``: every submit_sm_resp is late by ``delay`` seconds.
- ``RejectingSMSC(reject=regex)``: destinations matching are refused ESME_RINVDSTADR.
- ``ReceiptKeepingSMSC``: keeps every receipt until a deliver_sm_resp answers it, as real
  SMSCs do. ``with_bind``: unanswered receipts go out in the same write as the next bind
  response (else a flusher hands them to any bound receiver every 0.1 s);
  ``resend_after``: a receipt written but unanswered that long is written again;
  ``drop_after=N``: every link is dropped when its Nth PDU arrives, and the responses to its
  last ``discard`` submits, already "written", are lost with it (the submits were accepted).

Every received PDU is recorded (``submits``, ``commands``) so tests can count duplicates.
Run by hand: ``python tools/smpp_sim.py --port 2775 [--id-format dec --receipt-other]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import re
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from smpplib import smpp
from smpplib.gsm import GSM_CHARACTER_TABLE

log = logging.getLogger("smpp_sim")

ROK, RINVCMDLEN, RINVCMDID, RINVBNDSTS = 0x00, 0x02, 0x03, 0x04
RINVDSTADR, RINVPASWD, RINVSYSID, RTHROTTLED = 0x0B, 0x0E, 0x0F, 0x58
MAX_PDU = 64 * 1024


def decode_gsm(data: bytes) -> str:
    """Unpacked GSM 03.38 septets (one per octet, ESC 0x1B for the extension table)."""
    out, escape = [], False
    for byte in data:
        if escape:
            out.append(GSM_CHARACTER_TABLE[0x80 + byte])
            escape = False
        elif byte == 0x1B:
            escape = True
        else:
            out.append(GSM_CHARACTER_TABLE[byte])
    return "".join(out)


@dataclass
class Submit:
    """One submit_sm as received, with its UDH concatenation info when present."""

    system_id: str
    source: str
    destination: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    payload: bytes
    text: str
    concat: tuple[int, int, int] | None   # (reference, total, sequence) from the UDH
    dest_ton: int = 0
    message_id: str = ""
    status: int = ROK
    at: float = field(default_factory=time.monotonic)


def _split_udh(esm_class: int, payload: bytes) -> tuple[bytes, tuple[int, int, int] | None]:
    if not esm_class & 0x40 or not payload:
        return payload, None
    udhl = payload[0]
    udh, body = payload[1:1 + udhl], payload[1 + udhl:]
    concat = None
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + length]
        if iei == 0x00 and length == 3:          # TS 23.040 §9.2.3.24.1, 8-bit reference
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:        # §9.2.3.24.8, 16-bit reference
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + length
    return body, concat


def _text(data_coding: int, body: bytes) -> str:
    if data_coding == 0x08:
        return body.decode("utf-16-be", errors="replace")
    if data_coding in (0x03, 0x01):
        return body.decode("latin-1")
    return decode_gsm(body)


class _Session:
    def __init__(self, smsc: HappySMSC, sock: socket.socket) -> None:
        self.smsc = smsc
        self.sock = sock
        self.write_lock = threading.Lock()
        self.bound = ""           # "", "transmitter", "receiver", "transceiver"
        self.system_id = ""
        self.seq = itertools.count(1)
        self.closed = False
        self.received = 0         # PDUs read on this link
        self.unflushed: list[Any] = []   # responses "written" but not yet on the wire

    def send(self, pdu: Any) -> None:
        self.send_bytes(pdu.generate())

    def send_bytes(self, data: bytes) -> None:
        """One write: several PDUs given together arrive in one TCP segment where they fit."""
        with self.write_lock:
            if self.closed:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class HappySMSC:
    """A well-behaved SMSC. Subclasses override ``on_submit`` hooks for one misbehaviour."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, system_id: str = "ivr",
                 password: str = "secret", id_format: str = "hex",
                 receipt_id_format: str = "same", receipt_delay: float = 0.05,
                 undeliver: str = "", receipt_tlvs: bool = True) -> None:
        self.host = host
        self.system_id = system_id
        self.password = password
        self.id_format = id_format
        self.receipt_id_format = receipt_id_format
        self.receipt_delay = receipt_delay
        self.undeliver = re.compile(undeliver) if undeliver else None
        self.receipt_tlvs = receipt_tlvs
        self.lock = threading.Lock()
        self.submits: list[Submit] = []
        self.commands: list[str] = []
        self.binds = 0
        self.sessions: list[_Session] = []
        self._ids = itertools.count(0x1F0000)
        self._timers: set[threading.Timer] = set()
        self._listener = socket.create_server((host, port))
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> HappySMSC:
        self._thread = threading.Thread(target=self._accept, name="smpp-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self.lock:
            sessions, timers = list(self.sessions), list(self._timers)
        for timer in timers:
            timer.cancel()
        for session in sessions:
            session.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HappySMSC:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        # close() does not wake a thread blocked in accept() on Linux: poll the stop flag.
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = _Session(self, sock)
            with self.lock:
                self.sessions.append(session)
            threading.Thread(target=self._serve, args=(session,), daemon=True,
                             name="smpp-sim-session").start()

    # -- wire ----------------------------------------------------------------------------
    def _serve(self, session: _Session) -> None:
        buffer = b""
        try:
            while not session.closed:
                try:
                    chunk = session.sock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                # Once a misbehaviour closed the link, the PDUs behind it in the same read
                # were never received (an ESME writes many submit_sm in one segment).
                while len(buffer) >= 16 and not session.closed:
                    length = struct.unpack(">L", buffer[:4])[0]
                    if length < 16 or length > MAX_PDU:
                        seq = struct.unpack(">L", buffer[12:16])[0]
                        session.send(_make("generic_nack", seq,
                                                   status=RINVCMDLEN))
                        session.close()
                        return
                    if len(buffer) < length:
                        break
                    raw, buffer = buffer[:length], buffer[length:]
                    self._handle_raw(session, raw)
        finally:
            session.close()
            with self.lock:
                if session in self.sessions:
                    self.sessions.remove(session)

    def _handle_raw(self, session: _Session, raw: bytes) -> None:
        seq = struct.unpack(">L", raw[12:16])[0]
        try:
            pdu = _parse(raw)
        except Exception:   # unknown command id or malformed body: SMPP 3.4 §4.3 generic_nack
            session.send(_make("generic_nack", seq,
                                       status=RINVCMDID))
            return
        if pdu is None:
            session.send(_make("generic_nack", seq,
                                       status=RINVCMDID))
            return
        with self.lock:
            self.commands.append(pdu.command)
        handler = getattr(self, f"_on_{pdu.command}", None)
        if handler is None:
            session.send(_make("generic_nack", seq,
                                       status=RINVCMDID))
            return
        handler(session, pdu)

    def _bind(self, session: _Session, pdu: Any, mode: str) -> None:
        system_id = _s(pdu.system_id)
        status = ROK
        if system_id != self.system_id:
            status = RINVSYSID
        elif _s(pdu.password) != self.password:
            status = RINVPASWD
        elif session.bound:
            status = 0x05       # ESME_RALYBND
        resp = _make(f"{pdu.command}_resp", pdu.sequence,
                             status=status, system_id="ivrsim")
        if status == ROK:
            session.bound, session.system_id = mode, system_id
            with self.lock:
                self.binds += 1
        self.bind_reply(session, resp, status)

    def _on_bind_transceiver(self, session: _Session, pdu: Any) -> None:
        self._bind(session, pdu, "transceiver")

    def _on_bind_transmitter(self, session: _Session, pdu: Any) -> None:
        self._bind(session, pdu, "transmitter")

    def _on_bind_receiver(self, session: _Session, pdu: Any) -> None:
        self._bind(session, pdu, "receiver")

    def _on_enquire_link(self, session: _Session, pdu: Any) -> None:
        session.send(_make("enquire_link_resp", pdu.sequence))

    def _on_unbind(self, session: _Session, pdu: Any) -> None:
        session.send(_make("unbind_resp", pdu.sequence))
        session.bound = ""
        session.close()

    def _on_deliver_sm_resp(self, session: _Session, pdu: Any) -> None:
        return

    def _on_enquire_link_resp(self, session: _Session, pdu: Any) -> None:
        return

    def _on_generic_nack(self, session: _Session, pdu: Any) -> None:
        return

    def _on_submit_sm(self, session: _Session, pdu: Any) -> None:
        payload = pdu.short_message or b""
        body, concat = _split_udh(pdu.esm_class or 0, payload)
        submit = Submit(system_id=session.system_id, source=_s(pdu.source_addr),
                        destination=_s(pdu.destination_addr), esm_class=pdu.esm_class or 0,
                        data_coding=pdu.data_coding or 0,
                        registered_delivery=pdu.registered_delivery or 0, payload=payload,
                        text=_text(pdu.data_coding or 0, body), concat=concat,
                        dest_ton=pdu.dest_addr_ton or 0)
        with self.lock:
            self.submits.append(submit)
            count = len(self.submits)
        if session.bound not in ("transmitter", "transceiver"):
            submit.status = RINVBNDSTS
        else:
            submit.status = self.submit_status(submit, count)
        if self.drop_connection(count):
            log.info("dropping the connection at submit %d", count)
            session.close()
            return
        if submit.status == ROK:
            submit.message_id = self.new_id()
        resp = _make("submit_sm_resp", pdu.sequence,
                             status=submit.status, message_id=submit.message_id)
        wants_receipt = submit.status == ROK and submit.registered_delivery & 0x03
        if wants_receipt and self.receipt_first():
            self._send_receipt(session, submit)
            self.respond_later(session, resp)
            return
        self.respond_later(session, resp)
        if wants_receipt:
            self._later(self.receipt_delay, lambda: self._send_receipt(session, submit))

    # -- hooks for misbehaving subclasses -------------------------------------------------
    def bind_reply(self, session: _Session, resp: Any, status: int) -> None:
        session.send(resp)

    def submit_status(self, submit: Submit, count: int) -> int:
        return ROK

    def drop_connection(self, count: int) -> bool:
        return False

    def receipt_first(self) -> bool:
        return False

    def respond_later(self, session: _Session, resp: Any) -> None:
        session.send(resp)

    # -- receipts and MO -----------------------------------------------------------------
    def new_id(self) -> str:
        number = next(self._ids)
        return f"{number:010X}" if self.id_format == "hex" else str(number)

    def receipt_id(self, message_id: str) -> str:
        if self.receipt_id_format != "other":
            return message_id
        if self.id_format == "hex":
            return str(int(message_id, 16))
        return format(int(message_id), "x")

    def _later(self, delay: float, action: Any) -> None:
        def fire() -> None:
            with self.lock:
                self._timers.discard(timer)
            action()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self.lock:
            self._timers.add(timer)
        timer.start()

    def _send_receipt(self, session: _Session, submit: Submit) -> None:
        target = session if not session.closed else self._any_receiver()
        if target is None:
            return
        target.send(self.receipt_pdu(submit, next(target.seq)))

    def receipt_pdu(self, submit: Submit, sequence: int) -> Any:
        """The deliver_sm receipt of ``submit`` (SMPP 3.4 Appendix B text and TLVs)."""
        failed = bool(self.undeliver and self.undeliver.search(submit.destination))
        stat, state, err = ("UNDELIV", 5, "001") if failed else ("DELIVRD", 2, "000")
        now = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M")
        rid = self.receipt_id(submit.message_id)
        text = (f"id:{rid} sub:001 dlvrd:{'000' if failed else '001'} submit date:{now} "
                f"done date:{now} stat:{stat} err:{err} text:{submit.text[:20]}")
        extra: dict[str, Any] = {}
        if self.receipt_tlvs:
            extra = {"receipted_message_id": rid, "message_state": state}
        return _make("deliver_sm", sequence, esm_class=0x04, source_addr=submit.destination,
                     source_addr_ton=submit.dest_ton, destination_addr=submit.source,
                     data_coding=0, short_message=text.encode("ascii", "replace"), **extra)

    def _any_receiver(self) -> _Session | None:
        with self.lock:
            for session in self.sessions:
                if session.bound in ("receiver", "transceiver") and not session.closed:
                    return session
        return None

    def send_enquire_link(self) -> int:
        """Probe every bound session (SMPP 3.4 §4.11); returns how many were probed."""
        with self.lock:
            sessions = [s for s in self.sessions if s.bound and not s.closed]
        for session in sessions:
            session.send(_make("enquire_link", next(session.seq)))
        return len(sessions)

    def send_unbind(self) -> int:
        """SMSC-initiated unbind (SMPP 3.4 §4.2), e.g. for maintenance; the ESME must answer
        unbind_resp, after which the simulator closes the connection."""
        with self.lock:
            sessions = [s for s in self.sessions if s.bound and not s.closed]
        for session in sessions:
            session.send(_make("unbind", next(session.seq)))
        return len(sessions)

    def _on_unbind_resp(self, session: _Session, pdu: Any) -> None:
        session.bound = ""
        session.close()

    def send_mo(self, source: str, destination: str, text: str, *,
                concat: tuple[int, int, int] | None = None, sar: bool = False) -> bool:
        """Push a mobile-originated SMS (deliver_sm) to a bound receiver.

        ``concat`` = (reference, total, sequence) makes it one part of a long message,
        numbered by an 8-bit concatenation UDH (esm_class 0x40), or with ``sar`` by the
        sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs instead.
        """
        target = self._any_receiver()
        if target is None:
            return False
        try:
            payload, coding = text.encode("latin-1"), 0x03
        except UnicodeEncodeError:
            payload, coding = text.encode("utf-16-be"), 0x08
        fields: dict[str, Any] = {}
        esm_class = 0
        if concat is not None and sar:
            fields = {"sar_msg_ref_num": concat[0], "sar_total_segments": concat[1],
                      "sar_segment_seqnum": concat[2]}
        elif concat is not None:
            payload = bytes((5, 0x00, 3, concat[0] & 0xFF, concat[1], concat[2])) + payload
            esm_class = 0x40
        target.send(_make("deliver_sm", next(target.seq),
                          esm_class=esm_class, source_addr=source.lstrip("+"),
                          source_addr_ton=1 if source.startswith("+") else 0,
                          destination_addr=destination, data_coding=coding,
                          short_message=payload, **fields))
        return True

    # -- assertions ------------------------------------------------------------------------
    def accepted(self) -> list[Submit]:
        with self.lock:
            return [s for s in self.submits if s.status == ROK and s.message_id]

    def messages(self) -> list[tuple[str, str]]:
        """Accepted submits reassembled: (destination, full text), in first-part order."""
        singles: list[tuple[str, str]] = []
        groups: dict[tuple[str, int, int], dict[int, str]] = {}
        order: list[tuple[str, int, int]] = []
        for submit in self.accepted():
            if submit.concat is None:
                singles.append((submit.destination, submit.text))
                continue
            ref, total, seq = submit.concat
            key = (submit.destination, ref, total)
            if key not in groups:
                groups[key] = {}
                order.append(key)
            groups[key][seq] = submit.text
        for key in order:
            parts = groups[key]
            if len(parts) == key[2]:
                singles.append((key[0], "".join(parts[i] for i in sorted(parts))))
        return singles

    def command_count(self, name: str) -> int:
        with self.lock:
            return self.commands.count(name)


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


def _s(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class ThrottlingSMSC(HappySMSC):
    def __init__(self, *args: Any, every: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every = every

    def submit_status(self, submit: Submit, count: int) -> int:
        return RTHROTTLED if count % self.every == 0 else ROK


class DisconnectingSMSC(HappySMSC):
    def __init__(self, *args: Any, after: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = after
        self.dropped = False

    def drop_connection(self, count: int) -> bool:
        if count >= self.after and not self.dropped:
            self.dropped = True
            return True
        return False


class ReceiptBeforeResponseSMSC(HappySMSC):
    def receipt_first(self) -> bool:
        return True


class SlowSMSC(HappySMSC):
    def __init__(self, *args: Any, delay: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay

    def respond_later(self, session: _Session, resp: Any) -> None:
        self._later(self.delay, lambda: session.send(resp))


class RejectingSMSC(HappySMSC):
    def __init__(self, *args: Any, reject: str = r"^\+?999", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reject = re.compile(reject)

    def submit_status(self, submit: Submit, count: int) -> int:
        return RINVDSTADR if self.reject.search(submit.destination) else ROK


class ReceiptKeepingSMSC(HappySMSC):
    """Receipts stay queued until a deliver_sm_resp answers them; see the module docstring."""

    def __init__(self, *args: Any, with_bind: bool = True, resend_after: float = 5.0,
                 drop_after: int = 0, discard: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.with_bind = with_bind
        self.resend_after = resend_after
        self.drop_after = drop_after
        self.discard = discard
        self.pending: dict[str, Submit] = {}          # receipts not answered yet
        self.in_flight: dict[str, tuple[_Session, int, float]] = {}  # id -> (link, seq, at)
        self.drops = 0
        self.receipts_with_bind = 0
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                         name="smpp-sim-receipts")

    def start(self) -> ReceiptKeepingSMSC:
        super().start()
        self._flusher.start()
        return self

    # receipts -----------------------------------------------------------------------------
    def _send_receipt(self, session: _Session, submit: Submit) -> None:
        with self.lock:
            self.pending[submit.message_id] = submit
        self._flush()

    def _take_due(self, target: _Session) -> list[tuple[Submit, int]]:
        """Receipts to write to ``target`` now, marked in flight there (call with the lock)."""
        now = time.monotonic()
        due = []
        for mid, submit in self.pending.items():
            flight = self.in_flight.get(mid)
            if flight is None or flight[0].closed or (
                    self.resend_after and now - flight[2] >= self.resend_after):
                seq = next(target.seq)
                self.in_flight[mid] = (target, seq, now)
                due.append((submit, seq))
        return due

    def _flush(self) -> None:
        target = self._any_receiver()
        if target is None:
            return
        with self.lock:
            due = self._take_due(target)
        if due:
            target.send_bytes(b"".join(self.receipt_pdu(s, q).generate() for s, q in due))

    def _flush_loop(self) -> None:
        while not self._stopped.wait(0.1):
            self._flush()

    def bind_reply(self, session: _Session, resp: Any, status: int) -> None:
        if not self.with_bind or status != ROK or session.bound == "transmitter":
            session.send(resp)
            return
        with self.lock:
            due = self._take_due(session)
            self.receipts_with_bind += len(due)
        session.send_bytes(resp.generate() +
                           b"".join(self.receipt_pdu(s, q).generate() for s, q in due))

    def _on_deliver_sm_resp(self, session: _Session, pdu: Any) -> None:
        with self.lock:
            for mid, (owner, seq, _) in list(self.in_flight.items()):
                if owner is session and seq == pdu.sequence:
                    del self.in_flight[mid]
                    self.pending.pop(mid, None)

    # link drops ----------------------------------------------------------------------------
    def _handle_raw(self, session: _Session, raw: bytes) -> None:
        session.received += 1
        super()._handle_raw(session, raw)
        if self.drop_after and session.received >= self.drop_after:
            log.info("dropping the link after %d PDUs; %d response(s) written and lost",
                     session.received, len(session.unflushed))
            with self.lock:
                self.drops += 1
            session.unflushed.clear()
            session.close()

    def respond_later(self, session: _Session, resp: Any) -> None:
        if self.drop_after and session.received > self.drop_after - self.discard:
            session.unflushed.append(resp)     # lost with the link
        else:
            session.send(resp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="ivr")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--id-format", choices=["hex", "dec"], default="hex")
    parser.add_argument("--receipt-other", action="store_true",
                        help="receipts carry the id in the other base")
    parser.add_argument("--receipt-delay", type=float, default=1.0)
    parser.add_argument("--undeliver", default="", help="regex of destinations → UNDELIV")
    parser.add_argument("--throttle-every", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    common: dict[str, Any] = dict(
        system_id=args.system_id, password=args.password, id_format=args.id_format,
        receipt_id_format="other" if args.receipt_other else "same",
        receipt_delay=args.receipt_delay, undeliver=args.undeliver)
    smsc: HappySMSC = (ThrottlingSMSC(args.host, args.port, every=args.throttle_every, **common)
                       if args.throttle_every else HappySMSC(args.host, args.port, **common))
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)   # a service manager stops us with SIGTERM
    smsc.start()
    print(f"SMSC simulator on {args.host}:{smsc.port} (system_id={args.system_id})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        smsc.stop()
    accepted = smsc.accepted()
    unique = {(s.destination, s.concat, s.text) for s in accepted}
    print(f"accepted {len(accepted)} submit_sm, {len(accepted) - len(unique)} duplicate(s), "
          f"{smsc.binds} bind(s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
