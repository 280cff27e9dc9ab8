"""One time source for the SMS side: the service, its store and its dispatcher share the
``Clock`` the composition root gives them, so backoff, the inbound reassembly timeout and
waiting for a final status are driven by a fake clock here, without sleeping."""

from __future__ import annotations

from pathlib import Path

from ivr.call import SmsRequest
from ivr.sms.message import Direction, Status
from ivr.sms.pdu import Concat
from ivr.sms.settings import SmsSettings
from ivr.sms.store import MessageQuery, SqliteStore
from ivr.sms.submit import SmsService
from ivr.sms.transports.base import InboundSms
from ivr.sms.transports.loopback import LoopbackTransport


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def service(tmp_path: Path, clock: FakeClock) -> SmsService:
    settings = SmsSettings(transports={"lb": "loopback://"}, inbound_concat_timeout=600.0)
    return SmsService(settings, SqliteStore(tmp_path / "s.db", clock.now),
                      {"lb": LoopbackTransport("lb")}, clock=clock)


def test_service_and_store_stamp_with_the_same_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    sms = service(tmp_path, clock)
    message = sms.submit(SmsRequest(recipient="+3611", body="x"))
    assert message.created_at is not None and message.created_at.timestamp() == clock.t
    [(at, status, _)] = sms.store.events(message.id)
    assert at is not None and at.timestamp() == clock.t and status == "queued"
    assert sms.dispatcher.clock is clock


def test_backoff_is_served_by_the_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    sms = service(tmp_path, clock)
    message = sms.submit(SmsRequest(recipient="+3611", body="x"))
    [claimed] = sms.store.claim_due("w", 60)
    sms.store.mark_retry(claimed.id, 30.0, "busy")
    assert sms.store.claim_due("w", 60) == [] and sms.store.next_due_in() == 30.0
    clock.t += 30.0
    assert [m.id for m in sms.store.claim_due("w", 60)] == [message.id]


def test_incomplete_inbound_is_stored_when_the_fake_clock_passes_the_timeout(
        tmp_path: Path) -> None:
    clock = FakeClock()
    sms = service(tmp_path, clock)
    sms.on_inbound(InboundSms("lb", "+3612", "+3611", "first half ",
                              concat=Concat(reference=7, total=2, sequence=1)))
    sms.housekeeping()
    assert sms.query(MessageQuery(direction="inbound"))[1] == 0
    clock.t += 601.0
    sms.housekeeping()
    [stored], _ = sms.query(MessageQuery(direction="inbound"))
    assert stored.direction == Direction.INBOUND and stored.body == "first half "
    assert "INCOMPLETE" in sms.store.events(stored.id)[-1][2]


def test_waiting_for_a_final_status_runs_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    sms = service(tmp_path, clock)          # not started: nothing will become final
    message = sms.submit(SmsRequest(recipient="+3611", body="x"))
    started = clock.t
    [still] = sms.run_until_final([message.id], timeout=120.0)
    assert still.status == Status.QUEUED and clock.t - started >= 120.0
