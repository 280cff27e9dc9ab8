"""Dispatcher behaviour on a real SQLite store with transports that behave in one scripted way
each (the loopback transport, and a gate transport that is unhealthy or slow on demand)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from itertools import pairwise

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents
from tests.manual_clock import ManualClock, drive


class GateTransport:
    """Unhealthy until ``ready`` is set; records every send and its time."""

    def __init__(self, name: str = "gate", rate_limit: float = 0.0, max_in_flight: int = 4,
                 hold: float = 0.0, release: threading.Event | None = None,
                 clock: ManualClock | None = None) -> None:
        self.name = name
        self.clock = clock          # when given, sends are timed on it
        self.release = release      # when given, a send waits for it instead of ``hold``
        self.rate_limit = rate_limit
        self.max_in_flight = max_in_flight
        self.hold = hold
        self.ready = threading.Event()
        self.sent: list[tuple[str, float]] = []
        self.in_flight = 0
        self.max_seen = 0
        self._lock = threading.Lock()

    def start(self, events: TransportEvents) -> None:
        self.events = events

    def stop(self) -> None:
        pass

    def healthy(self) -> bool:
        return self.ready.is_set()

    def send(self, message: Message) -> SubmitResult:
        with self._lock:
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
        if self.release is not None:
            assert self.release.wait(30)
        else:
            time.sleep(self.hold)
        with self._lock:
            self.in_flight -= 1
            self.sent.append((message.id, self.clock.now() if self.clock else time.monotonic()))
        return SubmitResult(provider_ids=[f"g{len(self.sent)}"] * max(1, message.segments))


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_transient_failure_backs_off_alone(make_settings: Callable[..., Settings]) -> None:
    """Backoff on the clock: a temporary failure waits base·2^(n-1) (±20 % jitter) before
    attempt n+1, while the other messages go at once."""
    clock = ManualClock()
    settings = make_settings({"loopback": "loopback://?delay=0&tempfail=^\\+998"},
                             workers=1, retry_base_seconds=30.0, max_attempts=4)
    service = build_sms_service(settings, clock=clock)
    service.start()
    try:
        bad = service.submit_sms(SmsRequest(recipient="+998123", body="never"))
        good = [service.submit_sms(SmsRequest(recipient=f"+3611{n}", body="ok"))
                for n in range(5)]
        wait_until(lambda: all(getattr(service.get(i), "status", None) == Status.DELIVERED
                               for i in good))
        drive(clock, lambda: getattr(service.get(bad), "status", None) == Status.FAILED,
              step=2.0)
        failed = service.get(bad)
        assert failed is not None and failed.error_code == 30008 and failed.attempts == 4
        retries = [(at, d) for at, s, d in service.store.events(bad)
                   if s == "queued" and "retry in" in d]
        assert len(retries) == 3
        sends = [at for at, s, _ in service.store.events(bad) if s == "sending"]
        gaps = [(b - a).total_seconds() for a, b in pairwise(sends) if a and b]
        for n, gap in enumerate(gaps, start=1):          # 30, 60, 120 s, ±20 %
            assert 0.8 * 30 * 2 ** (n - 1) <= gap <= 1.2 * 30 * 2 ** (n - 1) + 2.5, gaps
    finally:
        service.stop()


def test_unhealthy_transport_delays_without_using_attempts(
        make_settings: Callable[..., Settings]) -> None:
    clock = ManualClock()
    gate = GateTransport()
    settings = make_settings(workers=1, retry_base_seconds=5.0, max_attempts=2)
    service = build_sms_service(settings, extra_transports={"gate": gate}, clock=clock)
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x", transport="gate"))

        def not_ready() -> list[float]:
            return [at.timestamp() for at, _, d in service.store.events(sms_id)
                    if at and "not ready" in d]

        drive(clock, lambda: len(not_ready()) >= 4)
        looks = not_ready()
        # Each look is 2·base = 10 s after the one before: no tight loop on a sick transport.
        assert all(b - a >= 10.0 for a, b in pairwise(looks)), looks
        gate.ready.set()
        drive(clock, lambda: getattr(service.get(sms_id), "status", None) == Status.SENT)
        message = service.get(sms_id)
        assert message is not None
        assert message.attempts == 1 and len(gate.sent) == 1
    finally:
        service.stop()


def test_rate_limit_and_window_per_transport(make_settings: Callable[..., Settings]) -> None:
    """On a clock that stands still while the messages are queued (a real one let the bucket
    fill while a loaded machine queued them, and the sends came as a burst)."""
    clock = ManualClock()
    started = clock.now()
    gate = GateTransport(rate_limit=20.0, max_in_flight=2, hold=0.02, clock=clock)
    gate.ready.set()
    service = build_sms_service(make_settings(workers=4), extra_transports={"gate": gate},
                                clock=clock)
    service.start()
    try:
        for n in range(12):
            service.submit_sms(SmsRequest(recipient=f"+3611{n}", body="x", transport="gate"))
        drive(clock, lambda: len(gate.sent) == 12, step=0.01)
        times = sorted(t for _, t in gate.sent)
        # One token up front, then 20 per second of the clock: by the k-th send at least
        # (k - 1) / 20 s have passed since the bucket was made.
        for k, at in enumerate(times, start=1):
            assert k <= 1 + 20.0 * (at - started) + 1e-6, (k, at - started)
        assert gate.max_seen <= 2
    finally:
        service.stop()


def test_stop_releases_claims_and_restart_sends_them(
        make_settings: Callable[..., Settings]) -> None:
    gate = GateTransport(hold=0.3, max_in_flight=1)
    gate.ready.set()
    settings = make_settings(workers=2)
    service = build_sms_service(settings, extra_transports={"gate": gate})
    service.start()
    ids = [service.submit_sms(SmsRequest(recipient=f"+3611{n}", body="x", transport="gate"))
           for n in range(6)]
    wait_until(lambda: bool(gate.sent))
    service.stop(timeout=10)
    left = [m for m in (service.get(i) for i in ids) if m is not None]
    assert all(m.status in (Status.QUEUED, Status.SENT) for m in left)
    service.store.close()

    again = build_sms_service(settings, extra_transports={"gate": gate})
    again.start()
    try:
        wait_until(lambda: all(m is not None and m.status == Status.SENT
                               for m in (again.get(i) for i in ids)))
        assert sorted({mid for mid, _ in gate.sent}) == sorted(ids)
    finally:
        again.stop()


def test_slow_transport_does_not_block_the_others(
        make_settings: Callable[..., Settings]) -> None:
    slow = GateTransport("slow", rate_limit=2.0, max_in_flight=1)   # a modem-like route
    slow.ready.set()
    settings = make_settings({"loopback": "loopback://?delay=0"}, workers=4)
    service = build_sms_service(settings, extra_transports={"slow": slow})
    service.start()
    try:
        for n in range(20):                     # a backlog on the slow route, queued first
            service.submit_sms(SmsRequest(recipient=f"+3630{n:07d}", body="x",
                                          transport="slow"))
        started = time.monotonic()
        fast = [service.submit_sms(SmsRequest(recipient=f"+3620{n:07d}", body="x"))
                for n in range(20)]
        done = service.run_until_final(fast, 20)
        elapsed = time.monotonic() - started
        assert all(m.status == Status.DELIVERED for m in done)
        # The slow route needs ~10 s for its backlog; the fast one must not wait for it.
        assert elapsed < 5.0, elapsed
        assert len(slow.sent) < 20
    finally:
        service.stop()


def lease_until(settings: Settings, message_id: str) -> float:
    path = settings.sms.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as db:
        [(until,)] = db.execute("SELECT lease_until FROM messages WHERE id = ?",
                                (message_id,)).fetchall()
    return float(until)


def test_a_long_send_keeps_its_lease(make_settings: Callable[..., Settings]) -> None:
    """A send that outlives the claim lease (a modem sending many parts) must not let
    another worker — here: another process on the same database — send it again."""
    clock = ManualClock()
    gate = GateTransport(release=threading.Event())
    gate.ready.set()
    settings = make_settings(workers=1, claim_lease_seconds=30.0)
    service = build_sms_service(settings, extra_transports={"gate": gate}, clock=clock)
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x", transport="gate"))
        wait_until(lambda: bool(gate.in_flight))
        for _ in range(9):                              # three leases, a third at a time
            clock.advance(10.0)
            wait_until(lambda: lease_until(settings, sms_id) > clock.now() + 20.0)
        assert service.store.hold_interrupted(0) == 0    # its lease is still alive
        gate.release.set()
        wait_until(lambda: getattr(service.get(sms_id), "status", None) == Status.SENT)
        message = service.get(sms_id)
        assert message is not None and message.attempts == 1 and len(gate.sent) == 1
    finally:
        service.stop()


def test_early_report_notifies_like_any_report(make_settings: Callable[..., Settings]) -> None:
    """loopback delay=0 reports inside send, before the submit result is stored."""
    service = build_sms_service(make_settings({"loopback": "loopback://?delay=0"}))
    final: list[Message] = []
    service.final_listeners.append(final.append)
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x"))
        wait_until(lambda: bool(final))
        assert [(m.id, m.status) for m in final] == [(sms_id, Status.DELIVERED)]
    finally:
        service.stop()


def test_interrupted_send_reported_by_the_peer_is_not_sent_again(
        make_settings: Callable[..., Settings]) -> None:
    clock = ManualClock()
    gate = GateTransport()
    gate.ready.set()
    settings = make_settings(workers=1, claim_lease_seconds=30.0, in_doubt_hold_seconds=60.0)
    service = build_sms_service(settings, extra_transports={"gate": gate}, clock=clock)
    sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="code 1234",
                                           transport="gate"))
    claimed_at = clock.now()
    [claimed] = service.store.claim_due("dead-process", 30.0)   # then it died mid-send
    assert claimed.id == sms_id
    # Its peer had taken it: the receipt comes with an id nobody stored.
    service.on_delivery_report(DeliveryReport("gate", Status.DELIVERED, provider_id="77",
                                              recipient="3611", text="code 1234"))
    final: list[Message] = []
    service.final_listeners.append(final.append)
    service.start()
    try:
        clock.advance(10.0)
        assert not final                 # the dead process's lease has not run out yet
        drive(clock, lambda: bool(final))
        assert final[0].id == sms_id and final[0].status == Status.DELIVERED
        assert final[0].parts[0].provider_id == "77"
        drive(clock, lambda: clock.now() >= claimed_at + 600, step=10.0)
        assert gate.sent == []           # ten minutes later it still was not sent again
    finally:
        service.stop()
