"""SmppTransport against tools/smpp_sim.py over real TCP on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from smpp_sim import (
    DisconnectingSMSC,
    HappySMSC,
    ReceiptBeforeResponseSMSC,
    RejectingSMSC,
    SlowSMSC,
    ThrottlingSMSC,
)

from ivr.errors import ConfigError, TransportError
from ivr.sms.encoding import split_message
from ivr.sms.message import Direction, Message, Status
from ivr.sms.transports import build_transport
from ivr.sms.transports.base import DeliveryReport, InboundSms, SubmitResult
from ivr.sms.transports.smpp import SmppTransport, from_url
from ivr.sms.transports.smpp_receipt import canonical_ids, normalise_id

LONG_GSM = "Hello {world} [1] ~ € " * 20            # extension chars: escape pairs at edges
LONG_UCS2 = "Árvíztűrő tükörfúrógép 😀 " * 12        # surrogate pairs


class Events:
    """Records what the transport reports (the SmsService's role in production)."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.inbound: list[InboundSms] = []
        self.lock = threading.Lock()

    def on_delivery_report(self, report: DeliveryReport) -> None:
        with self.lock:
            self.reports.append(report)

    def on_inbound(self, sms: InboundSms) -> None:
        with self.lock:
            self.inbound.append(sms)

    def wait_reports(self, count: int, timeout: float = 10.0) -> list[DeliveryReport]:
        return _wait(lambda: len(self.reports) >= count, timeout, "reports") or self.reports


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def message(body: str, recipient: str = "+36201234567", sender: str = "+15550001",
            msg_id: str = "m") -> Message:
    seg = split_message(body)
    return Message(id=msg_id, direction=Direction.OUTBOUND, sender=sender, recipient=recipient,
                   body=body, encoding=seg.encoding, segments=seg.count)


@pytest.fixture
def smsc_factory() -> Iterator[Callable[..., HappySMSC]]:
    servers: list[HappySMSC] = []

    def make(cls: type[HappySMSC] = HappySMSC, **kwargs: object) -> HappySMSC:
        server = cls(**kwargs).start()     # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def connect(smsc_factory: object) -> Iterator[Callable[..., tuple[SmppTransport, Events]]]:
    started: list[SmppTransport] = []

    def make(smsc: HappySMSC, query: str = "", bind: bool = True) -> tuple[SmppTransport,
                                                                          Events]:
        transport = from_url("smsc", f"smpp://ivr:secret@127.0.0.1:{smsc.port}?{query}")
        events = Events()
        transport.start(events)
        started.append(transport)
        if bind:
            assert transport.wait_bound(10)
        return transport, events

    yield make
    for transport in started:
        transport.stop()


@pytest.mark.parametrize("body", ["Hello world", "x" * 160, LONG_GSM, "Szia ő", LONG_UCS2])
def test_messages_reassemble_exactly(connect: Callable[..., tuple[SmppTransport, Events]],
                                     smsc_factory: Callable[..., HappySMSC], body: str) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc)
    msg = message(body)
    result = transport.send(msg)
    assert len(result.provider_ids) == msg.segments == len(smsc.submits)
    assert smsc.messages() == [("36201234567", body)]
    for submit in smsc.submits:
        assert submit.registered_delivery == 1
        assert submit.data_coding == (0x08 if msg.encoding == "ucs2" else 0x00)
        assert (submit.esm_class == 0x40) == (msg.segments > 1)
        # data_coding 0: unpacked septets, one per octet (SMPP 3.4 §5.2.19), UDH included
        assert len(submit.payload) <= (140 if msg.encoding == "ucs2" else 160)


def test_addresses_ton_npi(connect: Callable[..., tuple[SmppTransport, Events]],
                           smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc)
    transport.send(message("a", sender="ACME Ltd"))
    transport.send(message("b", sender="+441234"))
    assert [(s.source, s.destination) for s in smsc.submits] == [
        ("ACME Ltd", "36201234567"), ("441234", "36201234567")]


@pytest.mark.parametrize(("id_format", "receipt_ids", "msg_id_format"), [
    ("hex", "same", "auto"), ("dec", "same", "auto"),
    ("hex", "other", "auto"), ("dec", "other", "auto"),
    ("hex", "other", "hex"), ("dec", "other", "dec"),
])
def test_receipts_match_submit_ids(connect: Callable[..., tuple[SmppTransport, Events]],
                                   smsc_factory: Callable[..., HappySMSC], id_format: str,
                                   receipt_ids: str, msg_id_format: str) -> None:
    smsc = smsc_factory(id_format=id_format, receipt_id_format=receipt_ids,
                        receipt_tlvs=receipt_ids == "same")
    transport, events = connect(smsc, f"msg_id_format={msg_id_format}")
    result = transport.send(message(LONG_GSM))
    reports = events.wait_reports(len(result.provider_ids))
    assert all(r.status == Status.DELIVERED and r.transport == "smsc" for r in reports)
    for pid in result.provider_ids:
        matches = [r for r in reports if pid in canonical_ids(r.provider_id)]
        assert len(matches) == 1
        if msg_id_format != "auto" or receipt_ids == "same":
            assert matches[0].provider_id == pid       # exact, no guessing needed


def test_undeliverable_receipt(connect: Callable[..., tuple[SmppTransport, Events]],
                               smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(undeliver=r"^3630")
    transport, events = connect(smsc)
    transport.send(message("hi", recipient="+36301112222"))
    [report] = events.wait_reports(1)
    assert (report.status, report.error_code, report.recipient) == (
        Status.UNDELIVERED, 30003, "+36301112222")
    assert "stat:UNDELIV" in report.error_text


def test_throttling_is_retryable_and_retries_get_through(
        connect: Callable[..., tuple[SmppTransport, Events]],
        smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(ThrottlingSMSC, every=3)
    transport, events = connect(smsc)
    throttled = 0
    for n in range(10):
        for _attempt in range(5):     # the dispatcher's role, with its backoff shortened
            try:
                transport.send(message(f"msg {n}", msg_id=f"m{n}"))
                break
            except TransportError as exc:
                assert (exc.code, exc.retryable, exc.error_code) == (
                    "ESME_RTHROTTLED", True, 30001)
                throttled += 1
                time.sleep(0.01)
        else:
            raise AssertionError(f"message {n} never accepted")
    assert throttled >= 3
    assert sorted(t for _, t in smsc.messages()) == sorted(f"msg {n}" for n in range(10))
    events.wait_reports(10)


def test_throttled_part_of_a_long_message_is_resubmitted_alone(
        connect: Callable[..., tuple[SmppTransport, Events]],
        smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(ThrottlingSMSC, every=2)
    transport, _ = connect(smsc)
    msg = message(LONG_GSM)
    result = transport.send(msg)
    assert len(result.provider_ids) == msg.segments == len(smsc.accepted())   # no duplicates
    assert smsc.messages() == [("36201234567", LONG_GSM)]
    assert len(smsc.submits) > msg.segments


def test_long_messages_share_a_small_window_without_deadlock(
        connect: Callable[..., tuple[SmppTransport, Events]],
        smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc, "window=2&submit_timeout=20")
    bodies = [f"{n} " + LONG_GSM for n in range(4)]       # 4 messages x 4 parts, 2 slots
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: transport.send(message(b)), bodies))
    assert time.monotonic() - started < 10      # slots return per answer, not per message
    assert [len(r.provider_ids) for r in results] == [message(b).segments for b in bodies]
    assert sorted(t for _, t in smsc.messages()) == sorted(bodies)


def test_rejected_destination_is_permanent(connect: Callable[..., tuple[SmppTransport, Events]],
                                           smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(RejectingSMSC, reject=r"^999")
    transport, _ = connect(smsc)
    with pytest.raises(TransportError) as info:
        transport.send(message("hi", recipient="+9991234"))
    assert (info.value.code, info.value.retryable, info.value.error_code) == (
        "ESME_RINVDSTADR", False, 30005)
    assert transport.send(message("hi", recipient="+3612345")).provider_ids


def test_disconnect_mid_window_reconnects_and_fails_pending_retryable(
        connect: Callable[..., tuple[SmppTransport, Events]],
        smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(DisconnectingSMSC, after=6)
    transport, events = connect(smsc, "window=10&submit_timeout=20")
    start = threading.Barrier(10)

    def send(n: int) -> SubmitResult | TransportError:
        start.wait(10)
        try:
            return transport.send(message(f"w{n}", msg_id=f"m{n}"))
        except TransportError as exc:
            return exc

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(send, range(10)))
    failed = [n for n, o in enumerate(outcomes) if isinstance(o, TransportError)]
    assert failed, "the drop must hit sends in flight"
    for n in failed:
        error = outcomes[n]
        assert isinstance(error, TransportError) and error.retryable
        assert error.code in ("DISCONNECTED", "UNBOUND")
    _wait(lambda: transport.healthy() and smsc.binds == 2, 15, "rebind")
    assert transport.reconnects == 1
    for n in failed:                        # the retries work on the new link
        transport.send(message(f"w{n}", msg_id=f"m{n}"))
    texts = [t for _, t in smsc.messages()]
    assert set(texts) == {f"w{n}" for n in range(10)}
    by_id = {normalise_id(s.message_id): s.text for s in smsc.accepted()}
    for n, outcome in enumerate(outcomes):   # an id we returned is the SMSC's id for that text
        if isinstance(outcome, SubmitResult):
            assert [by_id[pid] for pid in outcome.provider_ids] == [f"w{n}"]


def test_receipt_before_submit_response(connect: Callable[..., tuple[SmppTransport, Events]],
                                        smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(ReceiptBeforeResponseSMSC, id_format="dec", receipt_id_format="other",
                        receipt_tlvs=False)
    transport, events = connect(smsc)
    result = transport.send(message("early bird"))
    [report] = events.wait_reports(1)
    assert result.provider_ids[0] in canonical_ids(report.provider_id)
    assert report.status == Status.DELIVERED


def test_slow_smsc_times_out_retryable(connect: Callable[..., tuple[SmppTransport, Events]],
                                       smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(SlowSMSC, delay=3.0)
    transport, _ = connect(smsc, "submit_timeout=0.5")
    with pytest.raises(TransportError) as info:
        transport.send(message("slow"))
    assert (info.value.code, info.value.retryable, info.value.error_code) == (
        "TIMEOUT", True, 30090)
    assert transport.healthy()


def test_enquire_link_both_ways(connect: Callable[..., tuple[SmppTransport, Events]],
                                smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc, "enquire_link=0.2")
    _wait(lambda: smsc.command_count("enquire_link") >= 2, 10, "enquire_link from the ESME")
    smsc.send_enquire_link()
    _wait(lambda: smsc.command_count("enquire_link_resp") >= 1, 10, "enquire_link_resp")
    assert transport.healthy() and smsc.binds == 1


def test_smsc_initiated_unbind_rebinds(connect: Callable[..., tuple[SmppTransport, Events]],
                                       smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc)
    assert smsc.send_unbind() == 1
    _wait(lambda: smsc.command_count("unbind_resp") == 1, 10, "unbind_resp")
    _wait(lambda: smsc.binds == 2 and transport.healthy(), 15, "rebind")
    assert transport.send(message("after maintenance")).provider_ids


def test_throughput_cap_spaces_submits(connect: Callable[..., tuple[SmppTransport, Events]],
                                       smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    transport, _ = connect(smsc, "throughput=20")
    started = time.monotonic()
    for n in range(11):
        transport.send(message(f"t{n}"))
    assert time.monotonic() - started >= 0.45          # 1 token at start, then 20/s
    times = [s.at for s in smsc.submits]
    assert times[-1] - times[0] >= 0.45


def test_inbound_sms(connect: Callable[..., tuple[SmppTransport, Events]],
                     smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory()
    _, events = connect(smsc)
    assert smsc.send_mo("+36209998888", "1234", "Yes please")
    assert smsc.send_mo("+36209998888", "1234", "Igen, köszönöm ✓")
    _wait(lambda: len(events.inbound) == 2, 10, "inbound")
    assert [(i.sender, i.recipient, i.body) for i in events.inbound] == [
        ("+36209998888", "1234", "Yes please"), ("+36209998888", "1234", "Igen, köszönöm ✓")]
    assert events.reports == []


def test_bad_password_never_binds(connect: Callable[..., tuple[SmppTransport, Events]],
                                  smsc_factory: Callable[..., HappySMSC]) -> None:
    smsc = smsc_factory(password="other")
    transport, _ = connect(smsc, bind=False)
    _wait(lambda: smsc.command_count("bind_transceiver") >= 1, 10, "bind attempt")
    assert not transport.wait_bound(0.5)
    assert not transport.healthy()
    with pytest.raises(TransportError) as info:
        transport.send(message("x"))
    assert (info.value.code, info.value.retryable) == ("UNBOUND", True)


def test_from_url_and_registry() -> None:
    transport = build_transport("op", "smpp://user%40x:p%3Ass@smsc.example:2776?system_type=VMA"
                                "&window=4&throughput=50&source_ton=5&source_npi=0"
                                "&msg_id_format=hex&enquire_link=10")
    assert isinstance(transport, SmppTransport)
    assert (transport.host, transport.port, transport.system_id, transport.password) == (
        "smsc.example", 2776, "user@x", "p:ss")
    assert (transport.max_in_flight, transport.throughput, transport.source_ton,
            transport.msg_id_format, transport.system_type) == (4, 50.0, 5, "hex", "VMA")
    for bad in ("smpp://a:b@h?windw=3", "smpp://a:b@h?window=x", "smpp://a:b@h?msg_id_format=b64",
                "smpp://a:b@h?window=0"):
        with pytest.raises(ConfigError):
            from_url("op", bad)
