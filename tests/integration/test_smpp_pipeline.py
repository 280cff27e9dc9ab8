"""End to end: SmsService (real SQLite store + dispatcher) → SmppTransport → SMSC simulator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from smpp_sim import (
    DisconnectingSMSC,
    HappySMSC,
    ReceiptBeforeResponseSMSC,
    RejectingSMSC,
    ThrottlingSMSC,
)

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Status
from ivr.sms.submit import SmsService

BODIES = ["Hello", "Hello {world} € " * 15, "Köszönöm szépen 😀 " * 6, "x" * 161]


@pytest.fixture
def run(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., SmsService]]:
    started: list[tuple[SmsService, HappySMSC]] = []

    def make(smsc: HappySMSC, query: str = "", **sms: object) -> SmsService:
        smsc.start()
        url = f"smpp://ivr:secret@127.0.0.1:{smsc.port}?{query}"
        service = build_sms_service(make_settings({"smpp": url}, **{"workers": 4, **sms}))
        service.start()
        started.append((service, smsc))
        return service

    yield make
    for service, smsc in started:
        service.stop()
        smsc.stop()


def submit_all(service: SmsService, count: int, prefix: str = "+3620") -> list[str]:
    return [service.submit_sms(SmsRequest(recipient=f"{prefix}{1000000 + n}",
                                          body=BODIES[n % len(BODIES)] + f" #{n}"))
            for n in range(count)]


def duplicates(smsc: HappySMSC) -> int:
    seen = Counter((s.destination, s.text) for s in smsc.accepted())
    return sum(n - 1 for n in seen.values())


@pytest.mark.parametrize(("id_format", "receipt_ids"), [("hex", "other"), ("dec", "other"),
                                                         ("hex", "same")])
def test_messages_end_delivered_without_duplicates(run: Callable[..., SmsService],
                                                   id_format: str, receipt_ids: str) -> None:
    smsc = HappySMSC(id_format=id_format, receipt_id_format=receipt_ids, receipt_tlvs=False)
    service = run(smsc)
    ids = submit_all(service, 24)
    messages = service.run_until_final(ids, 30)
    assert [m.status for m in messages] == [Status.DELIVERED] * 24
    assert len(smsc.accepted()) == sum(m.segments for m in messages)
    assert duplicates(smsc) == 0
    assert all(p.status == Status.DELIVERED and p.provider_id for m in messages for p in m.parts)
    texts = {t for _, t in smsc.messages()}
    assert {m.body for m in messages} <= texts


def test_receipt_before_submit_response_still_delivered(run: Callable[..., SmsService]) -> None:
    service = run(ReceiptBeforeResponseSMSC(id_format="dec", receipt_id_format="other",
                                            receipt_tlvs=False))
    ids = submit_all(service, 8)
    messages = service.run_until_final(ids, 30)
    assert [m.status for m in messages] == [Status.DELIVERED] * 8


def test_throttled_messages_are_retried_by_the_dispatcher(run: Callable[..., SmsService]) -> None:
    smsc = ThrottlingSMSC(every=4)
    service = run(smsc)
    ids = submit_all(service, 12)
    messages = service.run_until_final(ids, 60)
    assert [m.status for m in messages] == [Status.DELIVERED] * 12
    assert any(s.status == 0x58 for s in smsc.submits)
    # a throttled part is resubmitted alone, so accepted siblings are never sent twice
    assert duplicates(smsc) == 0
    assert len(smsc.accepted()) == sum(m.segments for m in messages)


def test_bad_number_fails_without_blocking_the_queue(run: Callable[..., SmsService]) -> None:
    service = run(RejectingSMSC(reject=r"^3699"))
    bad = service.submit_sms(SmsRequest(recipient="+3699123456", body="nope"))
    good = submit_all(service, 5)
    [failed, *rest] = service.run_until_final([bad, *good], 30)
    assert (failed.status, failed.error_code, failed.attempts) == (Status.FAILED, 30005, 1)
    assert [m.status for m in rest] == [Status.DELIVERED] * 5


def test_undeliverable_is_reported_as_such(run: Callable[..., SmsService]) -> None:
    service = run(HappySMSC(undeliver=r"^3630"))
    [message] = service.run_until_final(
        [service.submit_sms(SmsRequest(recipient="+36301234567", body="hi"))], 30)
    assert (message.status, message.error_code) == (Status.UNDELIVERED, 30003)


def test_disconnect_mid_window_loses_nothing(run: Callable[..., SmsService]) -> None:
    smsc = DisconnectingSMSC(after=5)
    # the submits in flight when the link dropped are in doubt: held 1 s for their receipts
    service = run(smsc, in_doubt_hold_seconds=1.0)
    ids = submit_all(service, 16)
    messages = service.run_until_final(ids, 60)
    assert [m.status for m in messages] == [Status.DELIVERED] * 16
    assert smsc.binds == 2
    assert {t for _, t in smsc.messages()} >= {m.body for m in messages}
    # This SMSC drops the link before accepting the submit in hand, so the held sends were
    # not taken and are resent after the hold. A single-part message is never sent twice; a
    # long message whose last part the drop cut off is resent whole, so its parts accepted
    # before the drop are duplicated (bounded by 4 workers x 3 parts in flight). Resending
    # only the missing parts needs per-part acceptance in the store: not built yet.
    assert duplicates(smsc) <= 12
    single = Counter((s.destination, s.text) for s in smsc.accepted() if s.concat is None)
    assert all(n == 1 for n in single.values())
