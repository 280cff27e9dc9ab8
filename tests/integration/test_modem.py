"""ModemTransport through tools/modem_sim.py on a real pty: sending, reports, errors, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from modem_sim import HungModem, ModemSim, PowerUpModem, RejectingModem

from ivr.errors import ConfigError, TransportError
from ivr.sms.encoding import split_message
from ivr.sms.message import Direction, Message, Status, new_message_id
from ivr.sms.transports.modem import ModemTransport, from_url
from tests.integration.test_smpp_transport import Events

FAST = "timeout=3&register_timeout=10&keepalive=0.5&rate=0"


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def message(to: str, body: str, **kwargs: object) -> Message:
    seg = split_message(body)
    return Message(id=new_message_id(), direction=Direction.OUTBOUND, sender="", recipient=to,
                   body=body, encoding=seg.encoding, segments=seg.count, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., tuple[ModemSim, ModemTransport, Events]]]:
    started: list[tuple[ModemSim, ModemTransport]] = []

    def start(sim: ModemSim | None = None, query: str = "") -> tuple[ModemSim, ModemTransport,
                                                                     Events]:
        sim = sim or ModemSim()
        sim.link = str(tmp_path / f"ttySIM{len(started)}")
        sim.start()
        transport = from_url("gsm", f"modem://{sim.link}?{FAST}{'&' + query if query else ''}")
        transport.settings.reopen_delay = 0.2
        events = Events()
        transport.start(events)
        started.append((sim, transport))
        assert transport.wait_ready(15), "modem did not initialise"
        return sim, transport, events

    yield start
    for sim, transport in started:
        transport.stop()
        sim.stop()


def test_long_gsm7_and_ucs2_messages_arrive_whole_with_reports(run: Callable) -> None:
    sim, transport, events = run()
    gsm = "Dear customer, your code is [1234] {ok} €5 ~ " * 8        # extension chars, 3+ parts
    ucs2 = "Привет 😀 " * 30                                           # surrogate pairs, 5 parts
    results = [transport.send(message("+15551234567", gsm)),
               transport.send(message("+447700900123", ucs2))]
    assert sim.texts() == [gsm, ucs2]
    assert [p.mr for p in sim.sent] == [r for res in results for r in res.references]
    assert len(results[0].references) == split_message(gsm).count
    assert {p.dcs for p in sim.sent} == {0x00, 0x08}
    assert all(p.status_report for p in sim.sent)
    assert wait_until(lambda: len(events.reports) == len(sim.sent))
    by_ref = {r.reference: r for r in events.reports}
    for part in sim.sent:
        report = by_ref[part.mr]
        assert (report.recipient, report.status, report.transport) == (
            part.recipient, Status.DELIVERED, "gsm")
        assert report.done_at is not None and report.raw


def test_message_reference_wraps_at_255(run: Callable) -> None:
    sim, transport, _ = run(ModemSim(first_mr=254))
    result = transport.send(message("+15551234567", "x" * 400))
    assert result.references == [254, 255, 0]


def test_failed_status_report_maps_to_undelivered(run: Callable) -> None:
    _, transport, events = run(ModemSim(report_status=0x46))
    transport.send(message("+15551234567", "expire me"))
    assert wait_until(lambda: len(events.reports) == 1)
    assert events.reports[0].status == Status.UNDELIVERED
    assert events.reports[0].error_code == 30003


def test_cms330_after_power_up_is_retryable_then_succeeds(run: Callable) -> None:
    sim, transport, _ = run(PowerUpModem(not_ready=1.5))
    with pytest.raises(TransportError) as err:
        transport.send(message("+15551234567", "hello"))
    assert (err.value.code, err.value.retryable) == ("CMS 330", True)
    deadline, attempts = time.monotonic() + 15, 1
    while True:        # what the dispatcher does: back off and retry the same message
        time.sleep(0.3)
        attempts += 1
        try:
            result = transport.send(message("+15551234567", "hello"))
            break
        except TransportError as exc:
            assert exc.retryable and time.monotonic() < deadline
    assert attempts > 1 and result.references == [0]
    assert sim.texts() == ["hello"]


def test_permanent_error_is_not_retryable_and_queue_moves_on(run: Callable) -> None:
    sim, transport, _ = run(RejectingModem(pattern=r"^\+999", code=21))
    with pytest.raises(TransportError) as err:
        transport.send(message("+9991234567", "blocked"))
    assert (err.value.code, err.value.retryable, err.value.error_code) == ("CMS 21", False, 30007)
    assert transport.send(message("+15551234567", "fine")).references == [0]
    assert sim.texts() == ["fine"] and transport.healthy()


def test_hung_modem_detected_and_reinitialised(run: Callable) -> None:
    sim, transport, _ = run(HungModem())
    inits = transport.inits
    sim.hang(4.0)
    assert wait_until(lambda: not transport.healthy(), 10), "hang not detected"
    with pytest.raises(TransportError) as err:
        transport.send(message("+15551234567", "while hung"))
    assert err.value.retryable
    assert transport.wait_ready(20), "not re-initialised after the modem came back"
    assert transport.inits > inits and sim.ignored
    assert transport.send(message("+15551234567", "after")).references
    assert sim.texts() == ["after"]


def test_device_disappears_and_comes_back(run: Callable) -> None:
    sim, transport, _ = run()
    sim.disappear()
    assert wait_until(lambda: not transport.healthy(), 10)
    with pytest.raises(TransportError) as err:
        transport.send(message("+15551234567", "unplugged"))
    assert err.value.retryable
    sim.reappear()
    assert transport.wait_ready(20)
    transport.send(message("+15551234567", "replugged"))
    assert sim.texts() == ["replugged"]


def test_inbound_cmti_read_deleted_and_reported(run: Callable) -> None:
    sim, transport, events = run()
    sim.inject_sms("+15550001111", "Hello from a phone")
    sim.inject_sms("+15550002222", "Ünïcødé ✓")
    assert wait_until(lambda: len(events.inbound) == 2)
    got = sorted((s.sender, s.body) for s in events.inbound)
    assert got == [("+15550001111", "Hello from a phone"), ("+15550002222", "Ünïcødé ✓")]
    assert wait_until(lambda: not sim.storage), "read messages were not deleted"
    assert all(s.received_at is not None and s.transport == "gsm" for s in events.inbound)


def test_inbound_during_a_send_is_not_lost(run: Callable) -> None:
    sim, transport, events = run()
    sender = threading.Thread(target=lambda: [transport.send(message("+15551234567", f"m{i}"))
                                              for i in range(5)])
    sender.start()
    for i in range(3):
        sim.inject_sms("+15550003333", f"in{i}")
        time.sleep(0.05)
    sender.join(30)
    assert wait_until(lambda: len(events.inbound) == 3)
    assert sorted(s.body for s in events.inbound) == ["in0", "in1", "in2"]
    assert sim.texts() == [f"m{i}" for i in range(5)]


def test_text_mode_sends_text_and_falls_back_to_pdu(run: Callable) -> None:
    sim, transport, events = run(query="mode=text")
    transport.send(message("+15551234567", "plain ascii"))
    transport.send(message("+15551234567", "ünïcode needs PDU"))
    assert [p.mode for p in sim.sent] == ["text", "pdu"]
    assert sim.texts() == ["plain ascii", "ünïcode needs PDU"]
    assert wait_until(lambda: len(events.reports) == 2)
    assert {r.reference for r in events.reports} == {0, 1}
    assert all(r.status == Status.DELIVERED for r in events.reports)


def test_sim_pin_is_entered(run: Callable) -> None:
    sim, transport, _ = run(ModemSim(pin="4321"), query="pin=4321")
    assert sim.pin_ok
    assert 'AT+CPIN="4321"' in sim.counters.commands


@pytest.mark.parametrize("url,error", [
    ("modem://", "device path"), ("modem:///dev/ttyUSB0?mode=fax", "mode"),
    ("modem:///dev/ttyUSB0?colour=red", "unknown modem parameter"),
    ("modem:///dev/ttyUSB0?pin=12", "pin"), ("modem:///dev/ttyUSB0?baudrate=fast", "fast"),
])
def test_from_url_errors(url: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        from_url("gsm", url)


def test_from_url_values() -> None:
    t = from_url("gsm", "modem:///dev/ttyUSB2?baudrate=9600&pin=1234&mode=text&smsc=+4477001"
                        "&rate=0.1&report=0")
    s = t.settings
    assert (s.device, s.baudrate, s.pin, s.mode, s.smsc, s.status_report) == (
        "/dev/ttyUSB2", 9600, "1234", "text", "+4477001", False)
    assert (t.rate_limit, t.max_in_flight) == (0.1, 1)


def test_long_inbound_is_reassembled_once(run: Callable) -> None:
    sim, transport, events = run()
    text = "Долгое сообщение, " * 12          # UCS-2, 4 parts
    assert len(sim.inject_sms("+15550004444", text, concat_ref=99)) == 4
    assert wait_until(lambda: len(events.inbound) == 1)
    assert events.inbound[0].body == text and events.inbound[0].provider_id.startswith("mo-")
    assert wait_until(lambda: not sim.storage)


def test_direct_cmt_delivery(run: Callable) -> None:
    sim, transport, events = run()
    with sim.lock:
        sim.cnmi[1] = 2             # the modem was configured for +CMT (mt=2) by someone else
    sim.inject_sms("+15550005555", "direct")
    assert wait_until(lambda: len(events.inbound) == 1)
    assert events.inbound[0].body == "direct"


def test_messages_stored_while_down_are_read_at_start(tmp_path: Path) -> None:
    sim = ModemSim(link=str(tmp_path / "ttyDOWN")).start()
    try:
        long_text = "Stored while the gateway was down. " * 6       # 2 GSM-7 parts
        sim.inject_sms("+15550006666", long_text)                   # CNMI not set: no +CMTI
        sim.inject_sms("+15550007777", "short one")
        assert len(sim.storage) == 3
        transport = from_url("gsm", f"modem://{sim.link}?{FAST}")
        events = Events()
        transport.start(events)
        try:
            assert wait_until(lambda: len(events.inbound) == 2)
            assert sorted((s.sender, s.body) for s in events.inbound) == [
                ("+15550006666", long_text), ("+15550007777", "short one")]
            assert wait_until(lambda: not sim.storage)
        finally:
            transport.stop()
    finally:
        sim.stop()


def test_half_received_long_message_stays_on_sim(run: Callable) -> None:
    sim, transport, events = run()
    with sim.lock:
        sim.cnmi[1] = 0                         # keep parts quiet, then announce only one
    sim.inject_sms("+15550008888", "x" * 300, concat_ref=5)
    with sim.lock:
        sim.cnmi[1] = 1
    sim.emit('+CMTI: "SM",1')
    assert sim.wait_for(lambda: "AT+CMGR=1" in sim.counters.commands)
    sim.emit('+CMTI: "SM",2')
    assert wait_until(lambda: len(events.inbound) == 1)
    assert events.inbound[0].body == "x" * 300
    assert wait_until(lambda: not sim.storage)
    commands = sim.counters.commands
    # part 1 was deleted only after part 2 was read and the whole message reported
    assert commands.index("AT+CMGD=1") > commands.index("AT+CMGR=2")


def test_send_itself_detects_a_hung_modem(run: Callable) -> None:
    sim, transport, _ = run(HungModem(), query="keepalive=60&timeout=1")
    assert sim.wait_for(lambda: "AT+CMGL=4" in sim.counters.commands)   # start-up scan done
    sim.hang(2.0)
    with pytest.raises(TransportError) as err:
        transport.send(message("+15551234567", "into the void"))
    assert (err.value.code, err.value.retryable) == ("TIMEOUT", True)
    assert not transport.healthy()
    assert transport.wait_ready(20)
    transport.send(message("+15551234567", "back"))
    assert sim.texts() == ["back"]


def test_simulator_runs_by_hand(tmp_path: Path) -> None:
    import subprocess
    import sys

    link = tmp_path / "ttyHAND"
    tool = Path(__file__).parents[2] / "tools" / "modem_sim.py"
    proc = subprocess.Popen([sys.executable, str(tool), "--link", str(link),
                             "--report-delay", "0.1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        transport = from_url("gsm", f"modem://{link}?{FAST}")
        events = Events()
        transport.start(events)
        try:
            assert transport.wait_ready(15)
            assert transport.send(message("+15551234567", "by hand")).references == [0]
            assert wait_until(lambda: len(events.reports) == 1)
        finally:
            transport.stop()
        assert proc.stdout.readline().strip() == "MR 0 -> +15551234567: 'by hand'"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_wrong_pin_is_entered_only_once(tmp_path: Path) -> None:
    sim = ModemSim(link=str(tmp_path / "ttyPIN"), pin="1111").start()
    transport = from_url("gsm", f"modem://{sim.link}?{FAST}&pin=2222")
    transport.settings.reopen_delay = 0.05
    transport.start(Events())
    try:
        assert wait_until(lambda: transport.inits >= 3, 15)
        assert not transport.healthy()
        assert sim.counters.commands.count('AT+CPIN="2222"') == 1
        with pytest.raises(TransportError) as err:
            transport.send(message("+15551234567", "x"))
        assert err.value.retryable
    finally:
        transport.stop()
        sim.stop()


def test_signal_is_read_at_start_for_the_console(run: Callable) -> None:
    """AT+CSQ after initialisation (and at each keep-alive): the simulator answers
    +CSQ: 20,99, which TS 27.007 §8.5 makes -73 dBm."""
    sim, transport, events = run()
    assert transport.signal_dbm == -73
