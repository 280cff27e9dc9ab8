"""SmsService end to end: loopback transport, real SQLite, real HTTP callback receiver."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from callback_receiver import CallbackReceiver

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.errors import ValidationError
from ivr.service import build_sms_service
from ivr.sms.callbacks import UrlPolicy, sign
from ivr.sms.message import Status
from tests.manual_clock import ManualClock, drive, pass_time


def test_accepted_message_is_delivered_and_reported(
        make_settings: Callable[..., Settings], receiver: CallbackReceiver) -> None:
    service = build_sms_service(make_settings())
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(
            recipient="+1 (555) 123-1234", body="Hello world",
            callback_url=receiver.url + "/dlr?app=7"))
        [message] = service.run_until_final([sms_id], 10)
        assert message.status == Status.DELIVERED and message.recipient == "+15551231234"
        hits = receiver.wait_for(2)
        assert [h.query["Status"] for h in hits] == ["sent", "delivered"]
        assert all(h.query["app"] == "7" and h.query["SmsId"] == sms_id for h in hits)
        key = (service.callbacks.key)
        assert hits[0].headers["X-Ivr-Signature"] == sign(key, "GET", hits[0].url, b"")
    finally:
        service.stop()


def test_post_callbacks_and_dialect_formatter(make_settings: Callable[..., Settings],
                                              receiver: CallbackReceiver) -> None:
    def only_final(message: object, status: Status) -> dict[str, str]:
        return {"final": status.value} if status == Status.DELIVERED else {}

    service = build_sms_service(make_settings(), callback_formats={"x": only_final})
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3612345678", body="hi",
                                               callback_url=receiver.url + "/cb",
                                               callback_method="POST", callback_format="x"))
        service.run_until_final([sms_id], 10)
        [hit] = receiver.wait_for(1)
        deadline = time.monotonic() + 10      # "sent" got no parameters: no call for it
        while any(state == "pending" for _, state, _ in service.store.callback_states(sms_id)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert len(receiver.hits) == 1
        assert (hit.method, hit.form) == ("POST", {"final": "delivered"})
    finally:
        service.stop()


def test_receiver_down_then_up_gets_every_report(make_settings: Callable[..., Settings]) -> None:
    receiver = CallbackReceiver().start()
    port = receiver.port
    receiver.stop()                       # the application is down
    clock = ManualClock()
    service = build_sms_service(make_settings(callback_retry_base=10.0, callback_retry_max=60.0),
                                clock=clock)
    service.start()
    try:
        ids = [service.submit_sms(SmsRequest(recipient=f"+361000000{i}", body="x",
                                             callback_url=f"http://127.0.0.1:{port}/dlr"))
               for i in range(5)]
        service.run_until_final(ids, 10)
        pass_time(clock, 300.0, step=5.0)             # the application stays down 5 min
        attempts = sum(n for i in ids for _, _, n in service.store.callback_states(i))
        assert attempts >= 3
        receiver = CallbackReceiver(port=port).start()
        drive(clock, lambda: len(receiver.hits) >= 10, step=5.0)
        hits = receiver.wait_for(10, timeout=15)
        assert sorted((h.query["SmsId"], h.query["Status"]) for h in hits) == sorted(
            (i, s) for i in ids for s in ("sent", "delivered"))
        receiver.stop()
    finally:
        service.stop()


def test_link_local_callback_is_refused_at_acceptance(
        make_settings: Callable[..., Settings]) -> None:
    service = build_sms_service(make_settings())
    with pytest.raises(ValidationError) as info:
        service.submit_sms(SmsRequest(recipient="+3612345678", body="x",
                                      callback_url="http://169.254.169.254/latest"))
    assert info.value.param == "CallbackUrl" and "169.254.0.0/16" in info.value.message


def test_callback_policy_is_checked_again_before_each_attempt(
        make_settings: Callable[..., Settings]) -> None:
    """An address allowed at acceptance and denied since (a name now resolving to a
    metadata address, a tightened policy) is refused when the report is due."""
    service = build_sms_service(make_settings())
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3612345678", body="x",
                                               callback_url="http://127.0.0.1:9/dlr"))
        service.callbacks.policy = UrlPolicy([], ["127.0.0.0/8"])
        service.run_until_final([sms_id], 10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = service.store.callback_states(sms_id)
            if len(states) == 2 and all(s == "refused" for _, s, _ in states):
                break
            time.sleep(0.05)
        assert [state for _, state, _ in service.store.callback_states(sms_id)] == [
            "refused", "refused"]
    finally:
        service.stop()


def test_failures_permanent_transient_and_undelivered(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({"loop": r"loopback://?delay=0.05&fail=^\+999&tempfail=^\+998"
                                      r"&undeliver=^\+997"}, max_attempts=3)
    service = build_sms_service(settings)
    service.start()
    try:
        ids = [service.submit_sms(SmsRequest(recipient=r, body="x"))
               for r in ("+999111", "+998111", "+997111", "+3611111")]
        bad, busy, undelivered, good = service.run_until_final(ids, 15)
        assert (bad.status, bad.error_code, bad.attempts) == (Status.FAILED, 30003, 1)
        assert (busy.status, busy.attempts) == (Status.FAILED, 3)
        assert (undelivered.status, undelivered.error_code) == (Status.UNDELIVERED, 30005)
        assert good.status == Status.DELIVERED     # the failing numbers did not block it
    finally:
        service.stop()


@pytest.mark.parametrize(("request_", "param"), [
    (SmsRequest(recipient="", body="x"), "Recipient"),
    (SmsRequest(recipient="+36-abc", body="x"), "Recipient"),
    (SmsRequest(recipient="+3612345678", body=""), "Message"),
    (SmsRequest(recipient="+3612345678", body="x" * 2000), "Message"),
    (SmsRequest(recipient="+3612345678", body="x", sender="Way too long sender"), "Sender"),
    (SmsRequest(recipient="+3612345678", body="x", transport="nope"), "Transport"),
])
def test_validation_names_the_parameter(make_settings: Callable[..., Settings],
                                        request_: SmsRequest, param: str) -> None:
    service = build_sms_service(make_settings())
    with pytest.raises(ValidationError) as info:
        service.submit(request_)
    assert info.value.param == param


def test_long_unicode_message_is_segmented_and_delivered(
        make_settings: Callable[..., Settings]) -> None:
    service = build_sms_service(make_settings())
    service.start()
    try:
        message = service.submit(SmsRequest(recipient="+3612345678", body="Árvíztűrő 😀 " * 20))
        assert (message.encoding, message.segments) == ("ucs2", 4)
        [final] = service.run_until_final([message.id], 10)
        assert final.status == Status.DELIVERED
        assert all(p.status == Status.DELIVERED and p.provider_id for p in final.parts)
    finally:
        service.stop()


def test_inbound_is_stored_as_received(make_settings: Callable[..., Settings]) -> None:
    from ivr.sms.store import MessageQuery
    from ivr.sms.transports.base import InboundSms

    service = build_sms_service(make_settings())
    service.on_inbound(InboundSms("loopback", "+3620111", "+3620999", "hello back"))
    [message], total = service.query(MessageQuery(direction="inbound"))
    assert (total, message.status, message.body) == (1, Status.RECEIVED, "hello back")


def test_callback_gives_up_after_the_retry_period(make_settings: Callable[..., Settings]) -> None:
    receiver = CallbackReceiver().start()
    port = receiver.port
    receiver.stop()                       # down for longer than the retry period
    clock = ManualClock()
    service = build_sms_service(make_settings(callback_retry_base=10.0, callback_retry_max=60.0,
                                              callback_retry_period=600.0), clock=clock)
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+3611", body="x",
                                               callback_url=f"http://127.0.0.1:{port}/dlr"))
        service.run_until_final([sms_id], 10)
        took = drive(clock, lambda: all(
            state != "pending" for _, state, _ in service.store.callback_states(sms_id)),
            step=5.0)
        assert 600.0 <= took <= 600.0 + 60.0 + 10.0    # the period, then one more backoff
        states = service.store.callback_states(sms_id)
        assert [(s, st) for s, st, _ in states] == [("sent", "failed"), ("delivered", "failed")]
        # "delivered" waited behind "sent" (reports keep their order), inside the same
        # period, so it may have had fewer tries of its own; it still had at least one.
        assert states[0][2] >= 3 and states[1][2] >= 1
    finally:
        service.stop()


def test_generated_callback_key_is_private_and_stable(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    first = build_sms_service(settings)
    path = Path(settings.ivr.data_dir) / "callback.key"
    assert path.stat().st_mode & 0o777 == 0o600
    second = build_sms_service(settings)
    assert first.callbacks.key == second.callbacks.key and len(first.callbacks.key) == 64
