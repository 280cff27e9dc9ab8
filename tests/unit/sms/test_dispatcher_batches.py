"""The dispatcher's batches end to end (service, loopback "network" with its log, real
SQLite): a burst goes out in a few claims, and a message whose submit result cannot be
recorded is not sent again — its lease lapses, it is held, and the peer's report adopts it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Message, Status
from ivr.sms.submit import default_callback_params


def sent_lines(log: Path) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines()]


def test_a_burst_goes_out_in_batches(make_settings: Callable[..., Settings],
                                     tmp_path: Path) -> None:
    log = tmp_path / "peer.log"
    settings = make_settings({"loopback": f"loopback://?delay=0.05&window=16&log={log}"},
                             workers=1)
    service = build_sms_service(settings)
    statements: list[str] = []
    ids = [service.submit_sms(SmsRequest(recipient=f"+3611{n:04d}", body="hi"))
           for n in range(64)]
    service.store.sqlite._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    service.start()
    try:
        assert all(m.status == Status.DELIVERED for m in service.run_until_final(ids, 30))
    finally:
        service.stop()
    assert sorted(sent_lines(log)) == sorted(ids)                 # each sent once
    claims = sum(s.startswith("SELECT id, in_doubt_since") for s in statements)
    assert claims <= 64 / 16 + 2, claims       # window-sized batches, not one per message


def test_a_send_whose_record_fails_is_adopted_not_sent_again(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    log = tmp_path / "peer.log"
    failures = {"+36119999": 1}

    def flaky(message: Message, status: Status) -> dict[str, str]:
        """Recording "sent" fails once for one message (a bug, a bad row)."""
        if status == Status.SENT and failures.get(message.recipient, 0) > 0:
            failures[message.recipient] -= 1
            raise RuntimeError("cannot format the report")
        return default_callback_params(message, status)

    settings = make_settings({"loopback": f"loopback://?delay=0.05&log={log}"}, workers=1,
                             claim_lease_seconds=0.6, in_doubt_hold_seconds=0.3)
    service = build_sms_service(settings, callback_formats={"flaky": flaky})
    service.start()
    try:
        ids = [service.submit_sms(SmsRequest(
            recipient=recipient, body="hi", callback_url="http://127.0.0.1:9/dlr",
            callback_format="flaky")) for recipient in ("+36110001", "+36119999", "+36110002")]
        final = service.run_until_final(ids, 30)
    finally:
        service.stop()
    assert [m.status for m in final] == [Status.DELIVERED] * 3
    assert sorted(sent_lines(log)) == sorted(ids)                 # nothing sent twice
    details = " ".join(d for _, _, d in service.store.events(ids[1]))
    assert "adopted as sent" in details


def test_a_batch_holds_one_transport_so_a_slow_send_delays_no_other(
        make_settings: Callable[..., Settings]) -> None:
    """Messages of a slow route (a modem: one send at a time, seconds each) and of a fast
    one come out of the same claim: the worker keeps one transport's share and gives the
    rest back at once, so the fast ones never wait behind a slow send."""
    from tests.unit.sms.test_dispatcher import GateTransport

    slow = GateTransport("slow", max_in_flight=1, hold=1.0)
    slow.ready.set()
    settings = make_settings({"loopback": "loopback://?delay=0"}, workers=2)
    service = build_sms_service(settings, extra_transports={"slow": slow})
    ids: list[str] = []
    for n in range(12):                 # interleaved, so every claim is mixed
        ids.append(service.submit_sms(SmsRequest(recipient=f"+3630{n:07d}", body="x",
                                                 transport="slow" if n % 3 == 0 else "")))
    fast = [i for n, i in enumerate(ids) if n % 3]
    service.start()
    try:
        started = time.monotonic()
        done = service.run_until_final(fast, 20)
        elapsed = time.monotonic() - started
        assert all(m.status == Status.DELIVERED for m in done)
        assert elapsed < 2.5, elapsed      # the 4 slow sends take 4 s one after another
        assert len(slow.sent) < 4
    finally:
        service.stop()
