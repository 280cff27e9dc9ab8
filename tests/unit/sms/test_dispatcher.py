"""Dispatcher behaviour on a real SQLite store with transports that behave in one scripted way
each (the loopback transport, and a gate transport that is unhealthy or slow on demand)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents


class GateTransport:
    """Unhealthy until ``ready`` is set; records every send and its time."""

    def __init__(self, name: str = "gate", rate_limit: float = 0.0, max_in_flight: int = 4,
                 hold: float = 0.0) -> None:
        self.name = name
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
        time.sleep(self.hold)
        with self._lock:
            self.in_flight -= 1
            self.sent.append((message.id, time.monotonic()))
        return SubmitResult(provider_ids=[f"g{len(self.sent)}"] * max(1, message.segments))


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_transient_failure_backs_off_alone(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({"loopback": "loopback://?delay=0&tempfail=^\\+998"},
                             workers=1, retry_base_seconds=0.2, max_attempts=4)
    service = build_sms_service(settings)
    service.start()
    try:
        bad = service.submit_sms(SmsRequest(recipient="+998123", body="never"))
        good = [service.submit_sms(SmsRequest(recipient=f"+3611{n}", body="ok"))
                for n in range(5)]
        assert all(m.status == Status.DELIVERED for m in service.run_until_final(good, 20))
        [failed] = service.run_until_final([bad], 30)
        assert failed.status == Status.FAILED and failed.error_code == 30008
        assert failed.attempts == 4
        details = [d for _, s, d in service.store.events(bad) if s == "queued"]
        assert sum("retry in" in d for d in details) == 3
    finally:
        service.stop()


def test_unhealthy_transport_delays_without_using_attempts(
        make_settings: Callable[..., Settings]) -> None:
    gate = GateTransport()
    settings = make_settings(workers=1, retry_base_seconds=0.05, max_attempts=2)
    service = build_sms_service(settings, extra_transports={"gate": gate})
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x", transport="gate"))
        wait_until(lambda: sum("not ready" in d for _, _, d in service.store.events(sms_id)) >= 4)
        gate.ready.set()
        wait_until(lambda: bool(gate.sent))
        wait_until(lambda: getattr(service.get(sms_id), "status", None) == Status.SENT)
        message = service.get(sms_id)
        assert message is not None
        assert message.attempts == 1
    finally:
        service.stop()


def test_rate_limit_and_window_per_transport(make_settings: Callable[..., Settings]) -> None:
    gate = GateTransport(rate_limit=20.0, max_in_flight=2, hold=0.02)
    gate.ready.set()
    service = build_sms_service(make_settings(workers=4), extra_transports={"gate": gate})
    service.start()
    try:
        for n in range(12):
            service.submit_sms(SmsRequest(recipient=f"+3611{n}", body="x", transport="gate"))
        wait_until(lambda: len(gate.sent) == 12)
        times = sorted(t for _, t in gate.sent)
        # One token up front, then 20/s: 11 more sends need at least 0.55 s.
        assert times[-1] - times[0] >= 0.45
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


def test_a_long_send_keeps_its_lease(make_settings: Callable[..., Settings]) -> None:
    """A send that outlives the claim lease (a modem sending many parts) must not let
    another worker — here: another process on the same database — send it again."""
    gate = GateTransport(hold=1.5)
    gate.ready.set()
    settings = make_settings(workers=1, claim_lease_seconds=0.3)
    service = build_sms_service(settings, extra_transports={"gate": gate})
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x", transport="gate"))
        wait_until(lambda: bool(gate.in_flight))
        time.sleep(0.9)                                  # three leases later
        assert service.store.hold_interrupted(0) == 0    # its lease is still alive
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
    gate = GateTransport()
    gate.ready.set()
    settings = make_settings(workers=1, claim_lease_seconds=0.3, in_doubt_hold_seconds=1.5)
    service = build_sms_service(settings, extra_transports={"gate": gate})
    sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="code 1234",
                                           transport="gate"))
    [claimed] = service.store.claim_due("dead-process", 0.3)   # then it died mid-send
    assert claimed.id == sms_id
    # Its peer had taken it: the receipt comes with an id nobody stored.
    service.on_delivery_report(DeliveryReport("gate", Status.DELIVERED, provider_id="77",
                                              recipient="3611", text="code 1234"))
    final: list[Message] = []
    service.final_listeners.append(final.append)
    service.start()
    try:
        wait_until(lambda: bool(final))
        assert final[0].id == sms_id and final[0].status == Status.DELIVERED
        assert final[0].parts[0].provider_id == "77"
        time.sleep(0.3)
        assert gate.sent == []
    finally:
        service.stop()
