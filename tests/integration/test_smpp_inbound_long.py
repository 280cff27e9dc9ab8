"""Long mobile-originated messages over SMPP, end to end: SMSC simulator → SmppTransport →
SmsService → store. Parts come numbered by a UDH or by SAR TLVs, out of order, repeated,
across a restart, or never complete."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from smpp_sim import HappySMSC

from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Direction, Message
from ivr.sms.store import MessageQuery
from ivr.sms.submit import SmsService
from ivr.sms.transports.smpp import SmppTransport

TEXT = ["Hosszú üzenet első része, ", "a második rész ✓, ", "és a vége."]


@pytest.fixture
def smsc() -> Iterator[HappySMSC]:
    simulator = HappySMSC().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def start(make_settings: Callable[..., Settings],
          smsc: HappySMSC) -> Iterator[Callable[..., SmsService]]:
    services: list[SmsService] = []

    def make(**sms: object) -> SmsService:
        settings = make_settings({"smpp": f"smpp://ivr:secret@127.0.0.1:{smsc.port}"}, **sms)
        service = build_sms_service(settings)
        service.start()
        transport = service.transports["smpp"]
        assert isinstance(transport, SmppTransport) and transport.wait_bound(10)
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


def inbound(service: SmsService, count: int = 1, timeout: float = 10.0) -> list[Message]:
    deadline = time.monotonic() + timeout
    while True:
        rows, _ = service.query(MessageQuery(direction=Direction.INBOUND.value))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.mark.parametrize("sar", [False, True], ids=["udh", "sar-tlv"])
def test_parts_out_of_order_and_repeated_make_one_message(
        start: Callable[..., SmsService], smsc: HappySMSC, sar: bool) -> None:
    service = start()
    for sequence in (3, 1, 1, 2):           # part 1 arrives twice (a lost deliver_sm_resp)
        assert smsc.send_mo("+36209998888", "1234", TEXT[sequence - 1],
                            concat=(77, 3, sequence), sar=sar)
    [message] = inbound(service)
    assert message.body == "".join(TEXT)
    assert message.sender == "+36209998888" and message.recipient == "1234"
    assert message.segments == 3
    time.sleep(0.3)                         # nothing else turns up
    assert len(inbound(service, 2, timeout=0.1)) == 1


def test_parts_survive_a_restart(start: Callable[..., SmsService], smsc: HappySMSC) -> None:
    first = start()
    for sequence in (1, 2):
        assert smsc.send_mo("+36209998888", "1234", TEXT[sequence - 1], concat=(9, 3, sequence))
    deadline = time.monotonic() + 5
    while smsc.command_count("deliver_sm_resp") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.stop()                            # the SMSC was told we have parts 1 and 2
    second = start()
    assert smsc.send_mo("+36209998888", "1234", TEXT[2], concat=(9, 3, 3))
    [message] = inbound(second)
    assert message.body == "".join(TEXT)


def test_an_incomplete_message_is_stored_after_the_timeout(
        start: Callable[..., SmsService], smsc: HappySMSC) -> None:
    service = start(inbound_concat_timeout=0.4)
    for sequence in (1, 3):
        assert smsc.send_mo("+36209998888", "1234", TEXT[sequence - 1], concat=(5, 3, sequence))
    [message] = inbound(service, timeout=5)
    assert message.body == TEXT[0] + TEXT[2]
    details = [d for _, _, d in service.store.events(message.id)]
    assert any("INCOMPLETE" in d and "part(s) 2 of 3" in d for d in details)
