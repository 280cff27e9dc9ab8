"""The whole pipeline through a simulated modem: SmsService -> SQLite store -> dispatcher ->
ModemTransport -> pty -> tools/modem_sim.py, with status reports matched by the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modem_sim import ModemSim, PowerUpModem, RejectingModem

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Direction, Status
from ivr.sms.store import MessageQuery

QUERY = "timeout=3&register_timeout=10&keepalive=1&rate=0"


def service_for(sim: ModemSim, tmp_path: Path, make_settings: Callable[..., Settings]):  # type: ignore[no-untyped-def]
    sim.link = str(tmp_path / "ttyPIPE")
    sim.start()
    return build_sms_service(make_settings({"gsm": f"modem://{sim.link}?{QUERY}"},
                                           retry_base_seconds=0.3, retry_max_seconds=1.0))


def test_long_unicode_message_delivered_through_modem(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    sim = ModemSim(first_mr=254, report_delay=0.3)
    service = service_for(sim, tmp_path, make_settings)
    service.start()
    try:
        text = "Ünïcode long message ✓ " * 8             # UCS-2, 3 parts, MR 254, 255, 0
        ids = [service.submit_sms(SmsRequest(recipient="+15551234567", body=text)),
               service.submit_sms(SmsRequest(recipient="+15551234568", body="short"))]
        messages = service.run_until_final(ids, 30)
        assert [m.status for m in messages] == [Status.DELIVERED, Status.DELIVERED]
        assert sorted(sim.texts()) == sorted([text, "short"])
        assert sorted(p.mr for p in sim.sent) == [0, 1, 254, 255]
    finally:
        service.stop()
        sim.stop()


def test_power_up_cms330_is_retried_until_delivered(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    sim = PowerUpModem(not_ready=2.0)
    service = service_for(sim, tmp_path, make_settings)
    service.start()
    try:
        sms_id = service.submit_sms(SmsRequest(recipient="+15551234567", body="after boot"))
        [message] = service.run_until_final([sms_id], 30)
        assert message.status == Status.DELIVERED and message.attempts >= 2
        assert sim.texts() == ["after boot"]
    finally:
        service.stop()
        sim.stop()


def test_permanent_error_fails_without_blocking_others(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    sim = RejectingModem(pattern=r"^\+999", code=1)
    service = service_for(sim, tmp_path, make_settings)
    service.start()
    try:
        bad = service.submit_sms(SmsRequest(recipient="+9991234567", body="nope"))
        good = service.submit_sms(SmsRequest(recipient="+15551234567", body="yes"))
        by_id = {m.id: m for m in service.run_until_final([bad, good], 30)}
        assert by_id[bad].status == Status.FAILED and by_id[bad].error_code == 30005
        assert by_id[good].status == Status.DELIVERED
    finally:
        service.stop()
        sim.stop()


def test_inbound_stored_as_received(tmp_path: Path,
                                    make_settings: Callable[..., Settings]) -> None:
    sim = ModemSim()
    service = service_for(sim, tmp_path, make_settings)
    service.start()
    try:
        assert sim.wait_for(lambda: sim.cnmi[1] == 1, 15), "modem never initialised"
        sim.inject_sms("+15550001111", "hello service")
        found: list = []

        def stored() -> bool:
            rows, _ = service.query(MessageQuery(direction=Direction.INBOUND.value))
            found[:] = rows
            return bool(rows)

        assert sim.wait_for(stored, 15)
        assert (found[0].sender, found[0].body, found[0].status) == (
            "+15550001111", "hello service", Status.RECEIVED)
    finally:
        service.stop()
        sim.stop()


def test_console_transports_page_shows_the_modem_signal(
        tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    """The console's transport rows carry the modem's AT+CSQ reading (-73 dBm from the
    simulator's +CSQ: 20,99), beside its health and window."""
    from types import SimpleNamespace

    from ivr.console.views import _transport_rows

    sim = ModemSim()
    service = service_for(sim, tmp_path, make_settings)
    service.start()
    try:
        assert service.transports["gsm"].wait_ready(15)  # type: ignore[attr-defined]
        [row] = _transport_rows(SimpleNamespace(sms=service))
        assert (row["name"], row["healthy"], row["signal"]) == ("gsm", True, -73)
    finally:
        service.stop()
        sim.stop()
