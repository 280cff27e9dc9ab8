"""PDUs that share a read with the bind response are handled, never dropped.

An SMSC that keeps receipts until answered writes them straight after the bind response,
often in the same TCP segment. A raw socket plays that SMSC here: one ``sendall`` carries
bind_transceiver_resp and a receipt (and, in the second case, a PDU we cannot handle).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from smpplib import smpp

from ivr.sms.transports.smpp import from_url
from tests.integration.test_smpp_transport import Events


def _pdu(command: str, sequence: int, **fields: object) -> bytes:
    pdu = smpp.make_pdu(command, client=None, sequence=sequence, **fields)
    pdu.sequence = sequence
    return bytes(pdu.generate())


def _read_pdu(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        assert chunk, "the ESME closed the link"
        header += chunk
    length, command_id, status, sequence = struct.unpack(">LLLL", header)
    body = b""
    while len(body) < length - 16:
        body += sock.recv(length - 16 - len(body))
    return command_id, status, sequence, body


class OneWriteSMSC:
    """Accepts one bind and answers it with ``extra`` PDUs in the same write; records every
    PDU the ESME sends afterwards as (command_id, status, sequence)."""

    def __init__(self, extra: bytes) -> None:
        self.extra = extra
        self.received: list[tuple[int, int, int]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn:
            command_id, _, sequence, _ = _read_pdu(conn)
            assert command_id == 0x00000009                     # bind_transceiver
            conn.sendall(_pdu("bind_transceiver_resp", sequence, system_id="raw") + self.extra)
            try:
                while True:
                    command_id, status, sequence, _ = _read_pdu(conn)
                    self.received.append((command_id, status, sequence))
            except (OSError, AssertionError):
                return

    def close(self) -> None:
        self.listener.close()


RECEIPT = ("id:1F0000AB sub:001 dlvrd:001 submit date:2611291200 done date:2611291200 "
           "stat:DELIVRD err:000 text:hello")


@pytest.fixture
def smsc_with(request: pytest.FixtureRequest) -> Iterator[OneWriteSMSC]:
    server = OneWriteSMSC(request.param)
    yield server
    server.close()


def _receipt(sequence: int) -> bytes:
    return _pdu("deliver_sm", sequence, esm_class=0x04, source_addr="36201234567",
                source_addr_ton=1, destination_addr="15550001", data_coding=0,
                short_message=RECEIPT.encode(), receipted_message_id="1F0000AB",
                message_state=2)


def _wait(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@contextmanager
def _bound(smsc: OneWriteSMSC, answers: int) -> Iterator[tuple[list[tuple[int, int, int]],
                                                               Events]]:
    """Our transport bound to ``smsc`` once it has answered ``answers`` PDUs: yields what
    it answered (command_id, status, sequence) and the events it reported."""
    transport = from_url("raw", f"smpp://ivr:secret@127.0.0.1:{smsc.port}")
    events = Events()
    transport.start(events)
    try:
        assert transport.wait_bound(10)
        assert _wait(lambda: len(smsc.received) >= answers)
        yield smsc.received[:answers], events
    finally:
        transport.stop()


@pytest.mark.parametrize("smsc_with", [_receipt(7) + _receipt(8)], indirect=True)
def test_receipts_in_the_bind_response_write_are_answered_and_applied(
        smsc_with: OneWriteSMSC) -> None:
    with _bound(smsc_with, 2) as (answered, events):
        assert answered == [(0x80000005, 0, 7), (0x80000005, 0, 8)]
        reports = events.wait_reports(2)
        assert [(r.provider_id, r.status.value, r.recipient) for r in reports] == [
            ("1f0000ab", "delivered", "+36201234567")] * 2


# An outbind (SMPP 3.4 §4.1.7) makes no sense on a bound link: we cannot handle it, so it
# must be answered with generic_nack, and the receipt after it still applied.
_OUTBIND = struct.pack(">LLLL", 16 + 4, 0x0000000B, 0, 5) + b"x\x00y\x00"


@pytest.mark.parametrize("smsc_with", [_OUTBIND + _receipt(9)], indirect=True)
def test_a_pdu_that_cannot_be_handled_is_nacked_and_the_rest_still_applied(
        smsc_with: OneWriteSMSC) -> None:
    with _bound(smsc_with, 2) as (answered, events):
        assert answered == [(0x80000000, 0x03, 5), (0x80000005, 0, 9)]
        assert len(events.wait_reports(1)) == 1
