"""Outbound calls on 127.0.0.1 with SIPp as the callee (tools/sipp/uas_*.xml): answered with
speech and our BYE, busy, not answered (CANCEL), digest challenges (401 and 407), through the
Ozeki HTTP API and through ``<Call>`` in an inbound call's script. A raw UDP socket stands in
for a callee where SIPp cannot misbehave on purpose (a lost ACK, a late provisional)."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from callback_receiver import CallbackReceiver
from lxml import etree
from sip_caller import place_call

from ivr.config import Settings
from ivr.errors import IvrError
from ivr.service import Runtime
from ivr.voice import sipmsg
from tests.integration.voice_peers import Ivr, free_port, media_port, wait_until

pytestmark = pytest.mark.slow
SIPP = Path(__file__).resolve().parents[2] / "tools" / "sipp"
SPEECH = "This is the I V R calling you back. Goodbye."


class RtpSink:
    """Counts the RTP packets arriving on a loopback port (the callee's ear)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.packets: list[tuple[int, bytes]] = []   # (payload type, payload)
        self.arrivals: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            self.packets.append((data[1] & 0x7F, data[12:]))
            self.arrivals.append(time.monotonic())

    def speech_seconds(self) -> float:
        """PCMU packets that are not silence (µ-law silence is one repeated byte)."""
        return sum(1 for pt, payload in self.packets
                   if pt == 0 and len(set(payload)) > 8) * 0.02

    def mean_gap_ms(self) -> float:
        return (self.arrivals[-1] - self.arrivals[0]) / (len(self.arrivals) - 1) * 1000

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class SippUas:
    """SIPp playing a callee scenario on a free port, in the background."""

    def __init__(self, scenario: str, cwd: Path, *extra: str) -> None:
        self.port = free_port()
        self.uri = f"sip:alice@127.0.0.1:{self.port}"
        self.messages = cwd / f"{scenario}.messages.log"
        self.process = subprocess.Popen(
            [shutil.which("sipp") or "sipp", "-sf", str(SIPP / scenario), "-i", "127.0.0.1",
             "-p", str(self.port), "-mp", str(media_port()), "-m", "1", "-nostdin",
             "-timeout", "20", "-timeout_error", "-trace_err", "-error_file",
             str(cwd / f"{scenario}.errors.log"), "-trace_msg", "-message_file",
             str(self.messages), *extra],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert wait_until(self._listening, 5), "SIPp did not start"

    def _listening(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

    def finish(self, timeout: float = 25) -> str:
        """Wait for the scenario to end; its output, after asserting it passed."""
        output = self.process.communicate(timeout=timeout)[0]
        assert self.process.returncode == 0, output[-3000:]
        return output


class Events:
    """CallConnected/CallEnded as VoiceEngine's notify sends them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], float]] = []

    def __call__(self, name: str, params: dict[str, str]) -> None:
        self.seen.append((name, params, time.monotonic()))

    def wait(self, name: str, call_id: str, timeout: float = 10) -> dict[str, str]:
        assert wait_until(lambda: self.get(name, call_id) is not None, timeout), self.seen
        found = self.get(name, call_id)
        assert found is not None
        return found

    def get(self, name: str, call_id: str) -> dict[str, str] | None:
        return next((p for n, p, _ in self.seen if n == name and p["CallId"] == call_id), None)


@pytest.fixture
def sink() -> Iterator[RtpSink]:
    receiver = RtpSink()
    yield receiver
    receiver.close()


@pytest.fixture
def speech_script(tmp_path: Path) -> str:
    script = tmp_path / "callback.xml"
    script.write_text(f"<Response><Speak>{SPEECH}</Speak><Hangup/></Response>")
    return str(script)


def test_answered_call_hears_the_script_and_gets_our_bye(
        start_ivr: Callable[..., Ivr], tmp_path: Path, sink: RtpSink, speech_script: str) -> None:
    events = Events()
    ivr = start_ivr(notify=events)
    free_ports = len(ivr.engine.endpoint.ports._free)
    uas = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(sink.port))
    started = time.monotonic()
    call_id = ivr.engine.originate(uas.uri, speech_script, "+3612345")
    assert time.monotonic() - started < 0.1                   # the Call-ID comes at once
    [listed] = [c for c in ivr.engine.calls.list_calls() if c.call_id == call_id]
    assert (listed.caller_id, listed.destination) == ("+3612345", "alice")
    connected = events.wait("CallConnected", call_id)
    assert (connected["Caller"], connected["Callee"]) == ("+3612345", "alice")
    leg = ivr.engine.calls._get(call_id).leg
    answer_ms = (leg.answered_at - leg.created) * 1000
    print(f"INVITE -> 200 OK -> media started: {answer_ms:.1f} ms")
    assert answer_ms < 200, answer_ms
    assert [c.state for c in ivr.engine.calls.list_calls()] == ["InCall"]
    uas.finish()                                              # SIPp got and answered our BYE
    ended = events.wait("CallEnded", call_id)
    assert ended["Reason"] == "script ended"
    assert {pt for pt, _ in sink.packets} == {0} and len(sink.packets) > 50
    assert all(len(payload) == 160 for _, payload in sink.packets)
    assert 19.0 <= sink.mean_gap_ms() <= 21.5, sink.mean_gap_ms()
    assert sink.speech_seconds() >= 1.5, sink.speech_seconds()
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 3)
    assert len(ivr.engine.endpoint.ports._free) == free_ports


def test_busy_callee_ends_the_call_with_the_reason(
        start_ivr: Callable[..., Ivr], tmp_path: Path, speech_script: str) -> None:
    events, failures = Events(), []
    ivr = start_ivr(notify=events)
    free_ports = len(ivr.engine.endpoint.ports._free)
    uas = SippUas("uas_busy.xml", tmp_path)
    call_id = ivr.engine.originate(uas.uri, speech_script, on_failure=failures.append)
    uas.finish()                                               # it got the ACK of its 486
    ended = events.wait("CallEnded", call_id)
    assert ended["Reason"] == "busy (486 Busy Here)" and ended["TalkDuration"] == "0"
    assert events.get("CallConnected", call_id) is None
    assert wait_until(lambda: failures == ["busy (486 Busy Here)"], 3), failures
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 3)
    assert len(ivr.engine.endpoint.ports._free) == free_ports


@pytest.mark.parametrize(("hang_up_after", "reason", "ends_after"), [
    (None, "no-answer (not answered within 1 s)", 1.0),
    (0.3, "cancelled (hung up over the HTTP API)", 0.3)])
def test_ringing_call_is_cancelled_at_the_ring_timeout_or_when_hung_up(
        start_ivr: Callable[..., Ivr], tmp_path: Path, speech_script: str,
        hang_up_after: float | None, reason: str, ends_after: float) -> None:
    events = Events()
    ivr = start_ivr(notify=events, ring_timeout=1.0)
    uas = SippUas("uas_noanswer.xml", tmp_path)
    started = time.monotonic()
    call_id = ivr.engine.originate(uas.uri, speech_script)
    assert wait_until(lambda: [c.state for c in ivr.engine.calls.list_calls()] == ["Ringing"],
                      1)
    if hang_up_after is not None:
        time.sleep(hang_up_after)
        assert ivr.engine.calls.hangup(call_id)
    uas.finish()                              # CANCEL came, 200 and 487 went, 487 was ACKed
    ended = events.wait("CallEnded", call_id)
    assert ended["Reason"] == reason
    ended_at = next(t for n, p, t in events.seen if n == "CallEnded")
    print(f"{reason}: CallEnded {ended_at - started:.2f} s after originate()")
    assert ends_after - 0.1 <= ended_at - started <= ends_after + 1.0, ended_at - started


def _challenged_call(start_ivr: Callable[..., Ivr], tmp_path: Path, scenario: str,
                     password: str, script: str) -> tuple[Events, SippUas, str]:
    events = Events()
    ivr = start_ivr(notify=events, username="ivr", password=password)
    uas = SippUas(scenario, tmp_path)
    return events, uas, ivr.engine.originate(uas.uri, script)


@pytest.mark.parametrize("scenario", ["uas_auth.xml", "uas_proxy_auth.xml"])
def test_digest_challenge_is_answered_once(start_ivr: Callable[..., Ivr], tmp_path: Path,
                                           speech_script: str, scenario: str) -> None:
    """401: SIPp's verifyauth checks our Authorization. 407: verifyauth cannot read a
    Proxy-Authorization, so the digest is recomputed here from SIPp's message log."""
    events, uas, call_id = _challenged_call(start_ivr, tmp_path, scenario, "secret",
                                            speech_script)
    events.wait("CallConnected", call_id)
    uas.finish()
    if scenario == "uas_auth.xml":
        return
    log = uas.messages.read_text()
    header = re.search(r"Proxy-Authorization: (Digest [^\r\n]+)", log)
    assert header is not None, log[-2000:]
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header.group(1)))
    ha1 = hashlib.md5(b"ivr:proxy.test:secret").hexdigest()
    ha2 = hashlib.md5(f"INVITE:{fields['uri']}".encode()).hexdigest()
    assert fields["uri"] == uas.uri
    assert fields["response"] == hashlib.md5(
        f"{ha1}:{fields['nonce']}:{ha2}".encode()).hexdigest()


def test_wrong_password_fails_with_the_status(start_ivr: Callable[..., Ivr], tmp_path: Path,
                                              speech_script: str) -> None:
    events, uas, call_id = _challenged_call(start_ivr, tmp_path, "uas_auth.xml", "wrong",
                                            speech_script)
    ended = events.wait("CallEnded", call_id)
    assert ended["Reason"] == "rejected (403 Forbidden)"
    uas.process.wait(5)              # SIPp fails its run on purpose (no digest was right)
    assert uas.process.returncode != 0


def test_number_without_a_destination_is_refused_before_dialling(
        start_ivr: Callable[..., Ivr], speech_script: str) -> None:
    ivr = start_ivr()
    with pytest.raises(IvrError, match=r"set \[sip\] trunk"):
        ivr.engine.originate("100", speech_script)
    assert ivr.engine.calls.list_calls() == []


class RawCallee:
    """A bare UDP socket that plays a callee's SIP by hand (lost ACKs, late answers, races)."""

    def __init__(self, ivr_port: int) -> None:
        self.ivr = ("127.0.0.1", ivr_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.uri = f"sip:bob@127.0.0.1:{self.port}"

    def send(self, message: sipmsg.SipMessage | bytes) -> None:
        self.sock.sendto(message if isinstance(message, bytes) else message.encode(), self.ivr)

    def collect(self, seconds: float) -> list[tuple[float, sipmsg.SipMessage]]:
        """Every SIP request arriving within ``seconds``, with its arrival time (not RTP)."""
        got: list[tuple[float, sipmsg.SipMessage]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            if data[:1].isalpha():
                got.append((time.monotonic(), sipmsg.parse(data)))
        return got

    def requests(self, seconds: float) -> list[sipmsg.SipMessage]:
        return [message for _, message in self.collect(seconds)]


@pytest.fixture
def raw_callee() -> Iterator[Callable[[Ivr], RawCallee]]:
    opened: list[RawCallee] = []

    def open_for(ivr: Ivr) -> RawCallee:
        opened.append(RawCallee(ivr.port))
        return opened[-1]

    yield open_for
    for callee in opened:
        callee.sock.close()


def _answer(invite: sipmsg.SipMessage, tag: str, contact_port: int) -> bytes:
    sdp = (f"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {free_port()} RTP/AVP 0\r\n").encode()
    return sipmsg.response(invite, 200, "OK", to_tag=tag, body=sdp, headers=[
        ("Contact", f"<sip:bob@127.0.0.1:{contact_port}>"),
        ("Content-Type", "application/sdp")]).encode()


def test_invite_retransmitted_until_provisional_and_ack_repeated_for_a_repeated_200(
        start_ivr: Callable[..., Ivr], raw_callee: Callable[[Ivr], RawCallee],
        speech_script: str) -> None:
    """Timer A until the 180, ACK to the 200's Contact (another port), and again when the
    200 comes again (the callee did not get our first ACK); the callee's BYE ends it."""
    ivr = start_ivr()
    free_ports = len(ivr.engine.endpoint.ports._free)
    callee, contact = raw_callee(ivr), raw_callee(ivr)
    ivr.engine.originate(callee.uri, speech_script)
    invites = callee.collect(1.7)
    assert len(invites) >= 3, invites       # sent at 0 s, +0.5 s, +1.5 s
    gaps = [b - a for (a, _), (b, _) in zip(invites, invites[1:], strict=False)]
    assert 0.35 <= gaps[0] <= 0.7 and 0.8 <= gaps[1] <= 1.3, gaps
    invite = invites[0][1]
    callee.send(sipmsg.response(invite, 180, "Ringing", to_tag="bob1"))
    callee.collect(0.15)                     # what was in flight before the 180
    assert callee.collect(1.2) == []         # no INVITE once it rings
    ok = _answer(invite, "bob1", contact.port)
    callee.send(ok)
    [first_ack] = contact.requests(0.5)
    callee.send(ok)
    [second_ack] = contact.requests(0.5)
    assert (first_ack.method, first_ack.uri, first_ack.cseq) == ("ACK", contact.uri, (1, "ACK"))
    assert second_ack.encode() == first_ack.encode()
    contact.send(sipmsg.request("BYE", sipmsg.name_addr_uri(invite.get("Contact")), [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{contact.port};branch=z9hG4bKbye"),
        ("From", sipmsg.parse(ok).get("To")), ("To", invite.get("From")),
        ("Call-ID", invite.call_id), ("CSeq", "1 BYE")]))
    assert sipmsg.parse(contact.sock.recv(65535)).status == 200
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 3)
    assert len(ivr.engine.endpoint.ports._free) == free_ports


def test_repeated_failure_answer_is_acked_after_the_call_ended(
        start_ivr: Callable[..., Ivr], raw_callee: Callable[[Ivr], RawCallee],
        speech_script: str) -> None:
    """The callee missed our ACK of its 486 and repeats it after we forgot the call."""
    events = Events()
    ivr = start_ivr(notify=events)
    callee = raw_callee(ivr)
    call_id = ivr.engine.originate(callee.uri, speech_script)
    invite = callee.requests(0.3)[0]
    busy = sipmsg.response(invite, 486, "Busy Here", to_tag="b3").encode()
    callee.send(busy)
    [first_ack] = callee.requests(0.3)
    assert events.wait("CallEnded", call_id)["Reason"] == "busy (486 Busy Here)"
    callee.send(busy)
    [second_ack] = callee.requests(0.3)
    for ack in (first_ack, second_ack):
        assert (ack.method, ack.cseq, ack.get("Via")) == ("ACK", (1, "ACK"), invite.get("Via"))
        assert ack.get("To").endswith("tag=b3")


def test_200_racing_our_cancel_is_acked_and_ended_with_bye(
        start_ivr: Callable[..., Ivr], raw_callee: Callable[[Ivr], RawCallee],
        speech_script: str) -> None:
    events = Events()
    ivr = start_ivr(notify=events, ring_timeout=0.5)
    callee = raw_callee(ivr)
    call_id = ivr.engine.originate(callee.uri, speech_script)
    [invite] = callee.requests(0.3)
    callee.send(sipmsg.response(invite, 180, "Ringing", to_tag="b2"))
    cancel = callee.requests(0.7)[0]
    assert (cancel.method, cancel.cseq) == ("CANCEL", (invite.cseq[0], "CANCEL"))
    callee.send(sipmsg.response(cancel, 200, "OK"))
    callee.send(_answer(invite, "b2", callee.port))
    ack, bye = callee.requests(0.3)[:2]
    assert (ack.method, bye.method) == ("ACK", "BYE")
    callee.send(sipmsg.response(bye, 200, "OK"))
    ended = events.wait("CallEnded", call_id)
    assert ended["Reason"] == "no-answer (not answered within 0.5 s)"
    assert events.get("CallConnected", call_id) is None


def test_http_api_call_command_places_the_call(
        make_settings: Callable[..., Settings], tmp_path: Path, sink: RtpSink,
        speech_script: str, receiver: CallbackReceiver) -> None:
    settings = make_settings()
    settings.sip.bind_port = free_port()
    settings.sip.rtp_port_low, settings.sip.rtp_port_high = 46000, 46100
    settings.audio.cache_dir = str(tmp_path / "cache")
    settings.http.port = free_port(socket.SOCK_STREAM)
    settings.http.notification_url = f"{receiver.url}/events"
    runtime = Runtime(settings)
    runtime.services.users.ensure_demo_user()
    runtime.start()
    uas = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(sink.port))
    try:
        api = f"http://127.0.0.1:{settings.http.port}/api"
        auth = {"Username": "HTTP_User_1", "Password": "qwe123"}
        reply = requests.get(api, timeout=10, params={
            "command": "Call", **auth, "Dialled": uas.uri, "Url": speech_script,
            "CallerId": "4000"})
        root = etree.fromstring(reply.content)
        assert root.findtext("Code") == "200", reply.text
        call_id = root.findtext("CallId")
        assert call_id
        hits = receiver.wait_for(1, timeout=10)
        assert hits[0].form["NotificationName"] == "CallConnected"
        assert (hits[0].form["CallId"], hits[0].form["Caller"]) == (call_id, "4000")
        listing = etree.fromstring(requests.get(api, timeout=10, params={
            "command": "ListActiveCalls", **auth}).content)
        assert listing.findtext("ActiveCalls/CallInfo/CallId") == call_id
        uas.finish()
        ended = receiver.wait_for(2, timeout=10)[1].form
        assert (ended["NotificationName"], ended["Reason"]) == ("CallEnded", "script ended")
        assert sink.speech_seconds() >= 1.5
        refused = etree.fromstring(requests.get(api, timeout=10, params={
            "command": "Call", **auth, "Dialled": "100", "Url": speech_script}).content)
        assert refused.findtext("Code") == "402"
        assert "set [sip] trunk" in (refused.findtext("Message") or "")
    finally:
        if uas.process.poll() is None:
            uas.process.kill()
            uas.process.communicate(timeout=5)
        runtime.stop()


def test_call_verb_in_an_inbound_call_dials_out(start_ivr: Callable[..., Ivr], tmp_path: Path,
                                                sink: RtpSink, speech_script: str) -> None:
    events = Events()
    uas = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(sink.port))
    inbound = tmp_path / "inbound.xml"
    inbound.write_text(f'<Response><Call Url="{speech_script}" CallerId="$caller">{uas.uri}'
                       "</Call><Speak>We are calling Alice for you.</Speak></Response>")
    ivr = start_ivr(script=str(inbound), notify=events)
    result = place_call(f"127.0.0.1:{ivr.port}", duration=10)
    assert result.status == 200 and result.bye_from_ivr
    uas.finish()
    outbound = [p for n, p, _ in events.seen if n == "CallConnected" and p["Callee"] == "alice"]
    assert [p["Caller"] for p in outbound] == ["15550001111"]   # CallerId="$caller"
    assert sink.speech_seconds() >= 1.5


def test_callee_reinvite_gets_our_unchanged_sdp(
        start_ivr: Callable[..., Ivr], raw_callee: Callable[[Ivr], RawCallee],
        speech_script: str) -> None:
    """A PBX on the far side of a placed call re-INVITEs it (session refresh): 200 with the
    negotiated SDP (the callee's choice of our PCMU/PCMA offer), repeated for a repeated re-INVITE, and the call goes on."""
    ivr = start_ivr()
    callee = raw_callee(ivr)
    ivr.engine.originate(callee.uri, speech_script)
    [invite] = callee.requests(0.3)[:1]
    ok = _answer(invite, "bob1", callee.port)
    callee.send(ok)
    callee.requests(0.3)                                     # our ACK
    reinvite = sipmsg.request("INVITE", sipmsg.name_addr_uri(invite.get("Contact")), [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{callee.port};branch=z9hG4bKre1"),
        ("From", sipmsg.parse(ok).get("To")), ("To", invite.get("From")),
        ("Call-ID", invite.call_id), ("CSeq", "7 INVITE"),
        ("Content-Type", "application/sdp")],
        sipmsg.parse(ok).body)
    callee.send(reinvite)
    answer = sipmsg.parse(callee.sock.recv(65535))
    assert (answer.status, answer.cseq) == (200, (7, "INVITE"))
    offered, answered = sipmsg.parse_sdp(invite.body), sipmsg.parse_sdp(answer.body)
    assert offered.formats == (0, 8, 101)                    # we offer PCMU and PCMA
    assert (answered.port, answered.formats) == (offered.port, (0,))  # as negotiated
    callee.send(reinvite)                                    # our 200 was lost: same answer
    assert sipmsg.parse(callee.sock.recv(65535)).encode() == answer.encode()
    assert [c.state for c in ivr.engine.calls.list_calls()] == ["InCall"]
