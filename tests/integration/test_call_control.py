"""Call control as a PBX user expects it (issue 15 items 1 and 3), against the real engine
on 127.0.0.1: hold in both directions with SIPp, music on hold with the script paused,
Forward of a ringing call (302), and the HTTP commands Hold, Unhold, BlindTransfer,
Forward and Record with Ozeki's result shape and every error path."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from callback_receiver import CallbackReceiver
from kamailio.run import Kamailio
from lxml import etree
from sip_caller import place_call

from ivr.api.ozeki_calls import address_book
from ivr.cli import main as cli_main
from ivr.config import Settings
from ivr.service import Runtime
from tests.integration.sip_fuzz import RawCaller
from tests.integration.test_sip import sipp
from tests.integration.test_voice_originate import SippUas
from tests.integration.voice_peers import Ivr, free_port, long_script, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _script(tmp_path: Path, body: str, name: str = "script.xml") -> str:
    path = tmp_path / name
    path.write_text(f"<Response>{body}</Response>")
    return str(path)


def doc_example(page: str, name: str) -> str:
    """The fenced block after ``<!-- example: name -->`` in docs/<page>."""
    text = (ROOT / "docs" / page).read_text()
    after = text[text.index(f"<!-- example: {name} -->"):]
    block = after[after.index("```"):]
    return block[block.index("\n") + 1:block.index("\n```")]


def _tone(tmp_path: Path) -> str:
    path = tmp_path / "moh.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "2",
                    "sine", "440", "vol", "0.5"], check=True)
    return str(path)


@pytest.mark.parametrize("example, scenario", [
    ("hold", "uac_hold.xml"),           # held for 2 s by the script, then holds it in turn
    ("forward", "uac_forwarded.xml"),   # 302 with the destination in Contact
    ("chat", "uac_message.xml"),        # MESSAGE both ways in the dialog
])
def test_documented_script_against_sipp(start_ivr: Callable[..., Ivr], tmp_path: Path,
                                        example: str, scenario: str) -> None:
    script = tmp_path / f"{example}.xml"
    script.write_text(doc_example("voice.md", example))
    ivr = start_ivr(script=str(script))
    result = sipp(f"127.0.0.1:{ivr.port}", scenario, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
    if example == "chat":      # WaitForMsg put the caller's text in $order
        assert wait_until(lambda: [m.body for m in ivr.messages()] == ["Order 4711"])


def test_music_on_hold_plays_and_the_script_waits(start_ivr: Callable[..., Ivr],
                                                  tmp_path: Path) -> None:
    ivr = start_ivr(script=_script(tmp_path, '<Hold Timeout="2"/>'
                                   '<SendSms Recipient="+3690">after the hold</SendSms>'))
    ivr.settings.audio.music_on_hold = _tone(tmp_path)
    caller = RawCaller(("127.0.0.1", ivr.port))
    try:
        assert caller.invite() == 200
        caller.request("ACK", 1)
        hold = caller.expect("INVITE")
        held_at = time.monotonic()
        assert "a=sendonly" in hold.body
        caller.reply(hold, 200, "recvonly")
        assert caller.rtp_packets(1.0) > 30               # the tone, not silence
        assert ivr.messages() == []                       # the script is paused
        resume = caller.expect("INVITE")
        assert "a=sendrecv" in resume.body
        assert 1.8 <= time.monotonic() - held_at <= 3.0   # Timeout="2"
        caller.reply(resume, 200, "sendrecv")
        assert wait_until(lambda: len(ivr.messages()) == 1)
    finally:
        caller.close()


# -- over HTTP ---------------------------------------------------------------------------
class Http:
    def __init__(self, runtime: Runtime) -> None:
        self.url = f"http://127.0.0.1:{runtime.settings.http.port}/api"
        self.examples = {}      # command -> its parameters in docs/http-api.md's curl line
        for line in doc_example("http-api.md", "call-control").splitlines():
            query = dict(parse_qsl(urlsplit(line.split("'")[1]).query))
            self.examples[query.pop("command")] = query

    def example(self, command: str, call_id: str) -> dict[str, str]:
        """The documented example's parameters (credentials apart), for this call."""
        params = {k: v for k, v in self.examples[command].items()
                  if k not in ("Username", "Password")}
        return {**params, "CallId": call_id}

    def command(self, command: str, **params: str) -> etree._Element:
        reply = requests.get(self.url, timeout=20, params={
            "command": command, "Username": "HTTP_User_1", "Password": "qwe123", **params})
        assert reply.status_code == 200
        root = etree.fromstring(reply.content)
        assert root.tag.endswith(f"OzApi_CommandResult_{command}")
        return root

    def in_background(self, command: str, **params: str) -> list[etree._Element]:
        """For commands that wait for the caller (re-INVITE, REFER): run beside it."""
        out: list[etree._Element] = []
        threading.Thread(target=lambda: out.append(self.command(command, **params)),
                         daemon=True).start()
        return out


@pytest.fixture
def runtime(make_settings: Callable[..., Settings], tmp_path: Path,
            receiver: CallbackReceiver) -> Iterator[Runtime]:
    settings = _settings(make_settings(), tmp_path, 45200, long_script(tmp_path, 30))
    settings.http.notification_url = f"{receiver.url}/events"
    runtime = _start(settings)
    yield runtime
    runtime.stop()


def _settings(settings: Settings, tmp_path: Path, rtp_low: int, script: str) -> Settings:
    """SIP and HTTP on free loopback ports, 50 RTP ports from ``rtp_low``."""
    settings.sip.bind_port = free_port()
    settings.sip.rtp_port_low, settings.sip.rtp_port_high = rtp_low, rtp_low + 100
    settings.sip.default_script = script
    settings.audio.cache_dir = str(tmp_path / "cache")
    settings.audio.recordings_dir = str(tmp_path / "rec")
    settings.http.port = free_port(socket.SOCK_STREAM)
    return settings


def _start(settings: Settings) -> Runtime:
    runtime = Runtime(settings)
    runtime.services.users.ensure_demo_user()
    runtime.start()
    return runtime


def test_http_hold_unhold_record_transfer_and_errors(runtime: Runtime,
                                                     receiver: CallbackReceiver) -> None:
    http = Http(runtime)
    caller = RawCaller(("127.0.0.1", runtime.settings.sip.bind_port))
    try:
        assert caller.invite() == 200
        caller.request("ACK", 1)
        call_id = caller.call_id
        # Hold: the IVR re-INVITEs with sendonly; the answer comes once the caller agrees.
        pending = http.in_background("Hold", **http.example("Hold", call_id))
        hold = caller.expect("INVITE")
        assert "a=sendonly" in hold.body
        caller.reply(hold, 200, "recvonly")
        assert wait_until(lambda: bool(pending), 10)
        assert pending[0].findtext("Code") == "200"
        pending = http.in_background("Unhold", **http.example("Unhold", call_id))
        resume = caller.expect("INVITE")
        assert "a=sendrecv" in resume.body
        caller.reply(resume, 200, "sendrecv")
        assert wait_until(lambda: bool(pending), 10) and pending[0].findtext("Code") == "200"
        # Record for one second: the file's URL now, RecordCompleted when written.
        record = http.command("Record", **{**http.example("Record", call_id),
                                           "FinishedUrl": f"{receiver.url}/recorded"})
        assert record.findtext("Code") == "200"
        url = record.findtext("RecordURL") or ""
        assert url.startswith("file://") and url.endswith(".wav")
        hits = receiver.wait_for(3, timeout=10)       # CallConnected, RecordCompleted x 2
        completed = [h for h in hits if h.form["NotificationName"] == "RecordCompleted"]
        assert sorted(h.path for h in completed) == ["/events", "/recorded"]
        assert {(h.form["CallId"], h.form["RecordURL"]) for h in completed} == {(call_id, url)}
        assert Path(url[len("file://"):]).exists()
        # Errors, each with its Ozeki code.
        assert http.command("Hold", CallId="nope").findtext("Code") == "601"
        assert http.command("Hold").findtext("Code") == "302"
        assert http.command("BlindTransfer", CallId=call_id).findtext("Code") == "302"
        assert http.command("Record", CallId=call_id, Duration="x").findtext("Code") == "302"
        forward = http.command("Forward", CallId=call_id, Destination="sip:a@127.0.0.1:5099")
        assert forward.findtext("Code") == "303"       # answered: Forward is for ringing
        # Chat: our MESSAGE to the caller, and the caller's (outside the dialog, as
        # softphones send it) to ReceiveMessage.
        pending = http.in_background("SendMessage", **http.example("SendMessage", call_id))
        message = caller.expect("MESSAGE")
        assert message.body == "Your code is 4711"
        caller.reply(message, 200)
        assert wait_until(lambda: bool(pending), 10) and pending[0].findtext("Code") == "200"
        pending = http.in_background("ReceiveMessage", **http.example("ReceiveMessage",
                                                                        call_id))
        time.sleep(0.3)
        caller.request("MESSAGE", 1, to_tag="", call_id="chat-1", body="1234",
                       content_type="text/plain")
        assert wait_until(lambda: bool(pending), 10)
        assert (pending[0].findtext("Received"), pending[0].findtext("Text")) == (
            "true", "1234")
        quiet = http.command("ReceiveMessage", CallId=call_id, Timeout="0.2")
        assert (quiet.findtext("Code"), quiet.findtext("Received")) == ("200", "false")
        assert http.command("SendMessage", CallId=call_id).findtext("Code") == "302"
        assert http.command("AttendedTransfer", CallId=call_id).findtext("Code") == "302"
        assert http.command("AttendedTransfer", CallId="nope",
                            Target="sip:a@127.0.0.1:5099").findtext("Code") == "601"
        # BlindTransfer: REFER to the target; the caller accepts (202) and our side ends.
        pending = http.in_background("BlindTransfer", **http.example("BlindTransfer",
                                                                       call_id))
        refer = caller.expect("REFER")
        assert refer.header("Refer-To") == "<sip:alice@127.0.0.1:5099>"
        caller.reply(refer, 202)
        assert wait_until(lambda: bool(pending), 10) and pending[0].findtext("Code") == "200"
        caller.reply(caller.expect("BYE"), 200)
        assert wait_until(lambda: runtime.services.calls.list_calls() == [], 5)
    finally:
        caller.close()


def test_http_call_display_name_api_extension_and_error_url_for_every_failure(
        runtime: Runtime, receiver: CallbackReceiver) -> None:
    """Call (Ozeki p_4571): CallerDisplayName goes into From, ApiExtension is accepted,
    and ErrorUrl is requested for a refusal (with the SIP status) and for a number that
    cannot be dialled at all."""
    http = Http(runtime)
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind(("127.0.0.1", 0))
    callee.settimeout(10)
    try:
        placed = http.command("Call", Dialled=f"sip:bob@127.0.0.1:{callee.getsockname()[1]}",
                              Url="http://127.0.0.1:9/never.xml", CallerId="4000",
                              CallerDisplayName='Front "Desk"', ApiExtension="ivr1",
                              ErrorUrl=f"{receiver.url}/error")
        assert placed.findtext("Code") == "200"
        call_id = placed.findtext("CallId")
        invite = callee.recv(65535).decode()
        from_line = next(line for line in invite.split("\r\n") if line.startswith("From:"))
        assert from_line.startswith('From: "Front \\"Desk\\"" <sip:4000@')
        head = invite.split("\r\n\r\n")[0].split("\r\n")
        echoed = "\r\n".join(line for line in head[1:] if line.split(":")[0] in
                             ("Via", "From", "To", "Call-ID", "CSeq"))
        callee.sendto(f"SIP/2.0 486 Busy Here\r\n{echoed}\r\nContent-Length: 0\r\n\r\n"
                      .encode(), ("127.0.0.1", runtime.settings.sip.bind_port))
        [hit] = [h for h in receiver.wait_for(1, timeout=10) if h.path == "/error"]
        assert (hit.form["NotificationName"], hit.form["CallId"], hit.form["SipStatus"]) == (
            "Error", call_id, "486")
        assert hit.form["ErrorMessage"] == "busy (486 Busy Here)"
    finally:
        callee.close()
    refused = http.command("Call", Dialled="100", Url="http://127.0.0.1:9/x.xml",
                           ErrorUrl=f"{receiver.url}/error")
    assert refused.findtext("Code") == "402"
    hits = [h for h in receiver.wait_for(2, timeout=10) if h.path == "/error"]
    assert "set [sip] trunk" in hits[-1].form["ErrorMessage"]
    assert http.command("Call", Dialled="100", Url="x.xml",
                        ErrorUrl="ftp://x").findtext("Code") == "302"
    book = address_book(runtime.services)
    assert book is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dave:
        dave.bind(("127.0.0.1", 0))
        dave.settimeout(10)
        book.add("dave", f"sip:dave@127.0.0.1:{dave.getsockname()[1]}", ("team",))
        assert http.command("Call", Dialled="team", Url="x.xml").findtext("Code") == "302"
        assert http.command("Call", Dialled="Dave", Url="x.xml").findtext("Code") == "200"
        assert dave.recv(65535).startswith(b"INVITE sip:dave@127.0.0.1:")   # by name


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_call_history_pages_filters_survives_a_restart_and_the_cli_shows_it(
        backend: str, make_settings: Callable[..., Settings], tmp_path: Path,
        request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    """On either backend of the message database: three calls written at their ends,
    ListCallHistory after a restart with paging and filters, and ``ivr calls``."""
    settings = _settings(make_settings(), tmp_path, 45400,
                         _script(tmp_path, "<Speak>Hello.</Speak><Hangup/>"))
    if backend == "postgres":
        settings.sms.database_url = request.getfixturevalue("fresh_postgres_url")
    runtime = _start(settings)
    try:
        results = [place_call(f"127.0.0.1:{settings.sip.bind_port}", caller=f"555000{n}",
                              duration=8) for n in range(3)]
        assert all(r.status == 200 and r.bye_from_ivr for r in results)
        http = Http(runtime)
        assert wait_until(lambda: http.command("ListCallHistory").findtext("TotalCount")
                          == "3", 5)
    finally:
        runtime.stop()
    runtime = _start(settings)               # the history is in the database, not in memory
    try:
        http = Http(runtime)
        line = doc_example("http-api.md", "call-history").strip()
        documented = {k: v for k, v in parse_qsl(urlsplit(line.split("'")[1]).query)
                      if k not in ("command", "Username", "Password")}
        page = http.command("ListCallHistory", **documented)      # PageSize=2&Page=2
        assert page.findtext("Code") == "200" and page.findtext("TotalCount") == "3"
        [oldest] = page.findall("CallHistory/CallRecord")
        assert oldest.findtext("Caller") == "5550000"          # newest first: page 2 = #0
        assert oldest.findtext("Direction") == "inbound"
        assert oldest.findtext("HangupCause") == "script ended"
        duration = float(oldest.findtext("Duration") or 0)
        assert abs(duration - results[0].ended_at) < 0.5, (duration, results[0].ended_at)
        only = http.command("ListCallHistory", Caller="5550001")
        assert [r.findtext("Caller") for r in only.findall("CallHistory/CallRecord")] == [
            "5550001"]
        assert http.command("ListCallHistory", Direction="outbound").findtext(
            "TotalCount") == "0"
        assert http.command("ListCallHistory", From="2999-01-01T00:00:00Z").findtext(
            "TotalCount") == "0"
        assert http.command("ListCallHistory", PageSize="0").findtext("Code") == "302"
        assert http.command("ListCallHistory", From="yesterday").findtext("Code") == "302"
        call_id = oldest.findtext("CallId") or ""
    finally:
        runtime.stop()
    config = tmp_path / "ivr.conf"
    config.write_text(f"[sms]\ndatabase_url = {settings.sms.database_url}\n")
    assert cli_main(["calls", "--config", str(config), "list"]) == 0
    assert "3 of 3 call(s)" in capsys.readouterr().out
    assert cli_main(["calls", "--config", str(config), "show", call_id]) == 0
    assert "HangupCause: script ended" in capsys.readouterr().out


def _stop(agent: SippUas) -> None:
    """Kill a SIPp agent whose scenario did not run to its end (a failed test)."""
    if agent.process.poll() is None:
        agent.process.kill()
        agent.process.communicate(timeout=5)


def _caller_then_target(target: SippUas, ivr_port: int, scenario: str, tmp_path: Path,
                        *extra: str) -> None:
    """The caller's SIPp scenario against the IVR, then the target's end: both must pass."""
    try:
        result = sipp(f"127.0.0.1:{ivr_port}", scenario, tmp_path, *extra)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        target.finish()
    finally:
        _stop(target)


def test_attended_transfer_with_two_sipp_agents(start_ivr: Callable[..., Ivr],
                                                tmp_path: Path) -> None:
    """RFC 5589 §7: the transferee (SIPp UAC) is held, the target (SIPp UAS) answers the
    consultation, the transferee gets REFER with Replaces, accepts and NOTIFYs 200; the
    IVR ends both of its legs and the script learns the result."""
    target = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(free_port()))
    script = tmp_path / "transfer.xml"
    script.write_text(doc_example("voice.md", "attended-transfer").replace(
        "sip:alice@127.0.0.1:5099", target.uri))
    ivr = start_ivr(script=str(script))
    # The target ends when it got our BYE on the consultation.
    _caller_then_target(target, ivr.port, "uac_transferee.xml", tmp_path)
    assert wait_until(lambda: [m.body for m in ivr.messages()] == [
        f"transferred to {target.uri} (attended)"])
    assert wait_until(lambda: ivr.engine.endpoint.legs() == [], 5)


def test_attended_transfer_to_a_busy_target_returns_to_the_caller(
        start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    target = SippUas("uas_busy.xml", tmp_path)
    script = tmp_path / "transfer.xml"
    script.write_text(doc_example("voice.md", "attended-transfer").replace(
        "sip:alice@127.0.0.1:5099", target.uri).replace(   # time for the caller's own hold
        "</Response>", '<Delay Seconds="2"/></Response>'))
    ivr = start_ivr(script=str(script))
    _caller_then_target(target, ivr.port, "uac_hold.xml", tmp_path)   # held, resumed
    assert wait_until(lambda: [m.body for m in ivr.messages()] == [
        "failed: the target did not answer the consultation (busy (486 Busy Here))"])


def _sip_messages(log: Path, method: str) -> list[str]:
    """The ``method`` requests (or ``SIP/2.0 <code>`` responses) in a SIPp -trace_msg file."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [chunk.split("\n\n", 1)[1] if "\n\n" in chunk else chunk
            for chunk in text.split("-----------------------------------------------")
            if method in chunk.split("\n\n", 1)[-1][:80]]


def test_http_attended_transfer_with_two_sipp_agents(runtime: Runtime, tmp_path: Path) -> None:
    """HTTP AttendedTransfer's success path (RFC 5589 §7) against two SIPp agents: the
    caller (transferee) is held, the target answers the consultation, the caller gets REFER
    with Replaces naming the consultation dialog, accepts and NOTIFYs sipfrag 200; the
    command answers 200 with Ozeki's Result and both of the IVR's legs end."""
    http = Http(runtime)
    target = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(free_port()))
    transferee: list[subprocess.CompletedProcess[str]] = []
    caller = threading.Thread(target=lambda: transferee.append(sipp(
        f"127.0.0.1:{runtime.settings.sip.bind_port}", "uac_transferee.xml", tmp_path,
        "-trace_msg", "-message_file", str(tmp_path / "transferee.log"))), daemon=True)
    caller.start()
    try:
        assert wait_until(lambda: len(runtime.services.calls.list_calls()) == 1, 10)
        active = requests.get(http.url, timeout=10, params={
            "command": "ListActiveCalls", "Username": "HTTP_User_1", "Password": "qwe123",
            "format": "json"}).json()["ActiveCalls"]
        call_id = active[0]["CallId"]
        params = {**http.example("AttendedTransfer", call_id), "Target": target.uri}
        result = http.command("AttendedTransfer", **params)
        assert (result.findtext("Code"), result.findtext("Result")) == (
            "200", f"transferred to {target.uri} (attended)")
        caller.join(30)
        assert transferee and transferee[0].returncode == 0, (
            transferee[0].stdout[-2000:] + transferee[0].stderr[-2000:] if transferee else "")
        target.finish()                                  # got our BYE on the consultation
        [consultation] = _sip_messages(target.messages, "INVITE sip:")
        consult_id = next(line.split(":", 1)[1].strip() for line in consultation.splitlines()
                          if line.lower().startswith("call-id:"))
        [refer] = _sip_messages(tmp_path / "transferee.log", "REFER sip:")
        refer_to = next(line for line in refer.splitlines() if line.startswith("Refer-To:"))
        assert f"?Replaces={quote(consult_id, safe='')}%3Bto-tag%3D" in refer_to
        [notify] = _sip_messages(tmp_path / "transferee.log", "NOTIFY sip:")
        assert "Content-Type: message/sipfrag" in notify and "SIP/2.0 200 OK" in notify
        assert wait_until(lambda: runtime.services.calls.list_calls() == [], 5)
    finally:
        caller.join(30)
        _stop(target)


def test_attended_transfer_through_a_record_routing_kamailio(start_ivr: Callable[..., Ivr],
                                                             tmp_path: Path) -> None:
    """The same transfer with a proxy in the path, as on a PBX: the IVR registers at
    Kamailio, the target (a SIPp phone) registers as ``alice``, the caller reaches the IVR
    through Kamailio, and Kamailio Record-Routes every dialog, so the hold re-INVITE, the
    consultation INVITE to ``alice`` (found by the registrar), the REFER with Replaces, the
    NOTIFY and the BYEs all traverse it."""
    port = free_port()
    with Kamailio(port, password="secret", record_route=True) as proxy:
        target = SippUas("uas_answer.xml", tmp_path, "-key", "rtp_sink", str(free_port()))
        try:
            registered = sipp(f"127.0.0.1:{port}", "uac_register.xml", tmp_path, "-s", "alice",
                              "-au", "alice", "-ap", "secret", "-set", "contact_port",
                              str(target.port))
            assert registered.returncode == 0, registered.stdout[-2000:]
            script = tmp_path / "transfer.xml"
            script.write_text(doc_example("voice.md", "attended-transfer").replace(
                "sip:alice@127.0.0.1:5099", "alice"))      # an extension: via the registrar
            ivr = start_ivr(script=str(script), mode="register", server="127.0.0.1",
                            server_port=port, username="ivr", password="secret")
            assert ivr.engine.endpoint.registered
            result = sipp(f"127.0.0.1:{port}", "uac_transferee.xml", tmp_path, "-trace_msg",
                          "-message_file", str(tmp_path / "transferee.log"))
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
            target.finish()
            assert wait_until(lambda: [m.body for m in ivr.messages()] == [
                f"transferred to sip:alice@127.0.0.1:{port} (attended)"])
            assert wait_until(lambda: ivr.engine.endpoint.legs() == [], 5)
        finally:
            if target.process.poll() is None:
                target.process.kill()
                target.process.communicate(timeout=5)
        [refer] = _sip_messages(tmp_path / "transferee.log", "REFER sip:")
        vias = [line for line in refer.splitlines() if line.startswith("Via:")]
        assert len(vias) == 2 and f"127.0.0.1:{port}" in vias[0]     # Kamailio relayed it
        [consultation] = _sip_messages(target.messages, "INVITE sip:")
        assert consultation.count("Via:") == 2 and "Record-Route:" in consultation
        consult_id = next(line.split(":", 1)[1].strip() for line in consultation.splitlines()
                          if line.lower().startswith("call-id:"))
        assert f"?Replaces={quote(consult_id, safe='')}%3Bto-tag%3D" in refer
        routed = proxy.log()
        for request in ("INVITE sip:ivr@", "INVITE sip:alice@", "REFER sip:", "NOTIFY sip:",
                        "BYE sip:"):
            assert f"proxy: {request}" in routed, request


def test_forward_as_a_proxied_invite(start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    """``[sip] forward_mode = proxy``: the documented Forward script sends the caller's
    INVITE on to the target (a SIPp UAS) with the IVR's Via and Record-Route; the target's
    180 and 200 reach the caller (SIPp UAC) with the target's tag, SDP and the IVR's route,
    and the caller's ACK and BYE reach the target through the IVR. No RTP port stays taken
    and the IVR's own leg ends as forwarded."""
    target = SippUas("uas_answer_proxied.xml", tmp_path)
    script = tmp_path / "forward.xml"
    script.write_text(doc_example("voice.md", "forward").replace(
        "sip:alice@127.0.0.1:5099", target.uri))
    ended: list[dict[str, str]] = []
    ivr = start_ivr(script=str(script), forward_mode="proxy",
                    notify=lambda name, params: ended.append(params)
                    if name == "CallEnded" else None)
    free_before = len(ivr.engine.endpoint.ports._free)
    _caller_then_target(target, ivr.port, "uac_forwarded_proxy.xml", tmp_path)
    assert wait_until(lambda: [e["Reason"] for e in ended] == [
        f"forwarded to {target.uri} (proxied)"], 5), ended
    assert ivr.engine.calls.list_calls() == []
    assert len(ivr.engine.endpoint.ports._free) == free_before
    # Knowing the Call-ID is not enough to have the IVR relay a request (open relay).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.settimeout(5)
        stranger.sendto((f"BYE {target.uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
                         f"{stranger.getsockname()[1]};branch=z9hG4bKevil\r\n"
                         "From: <sip:x@127.0.0.1>;tag=evil\r\nTo: <sip:y@127.0.0.1>;tag=bad\r\n"
                         f"Call-ID: {ended[0]['CallId']}\r\nCSeq: 9 BYE\r\n"
                         "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", ivr.port))
        assert stranger.recv(2048).startswith(b"SIP/2.0 481 ")


def test_a_caller_cancelling_a_proxied_forward(start_ivr: Callable[..., Ivr],
                                               tmp_path: Path) -> None:
    """The caller gives up while the target rings: the IVR answers the CANCEL, cancels its
    INVITE to the target, ACKs the target's 487 itself and relays the 487, whose ACK from
    the caller it absorbs (both SIPp agents fail on anything else)."""
    target = SippUas("uas_noanswer.xml", tmp_path)
    script = tmp_path / "forward.xml"
    script.write_text(doc_example("voice.md", "forward").replace(
        "sip:alice@127.0.0.1:5099", target.uri))
    ivr = start_ivr(script=str(script), forward_mode="proxy")
    _caller_then_target(target, ivr.port, "uac_forwarded_cancel.xml", tmp_path)
