"""Real SIP calls on 127.0.0.1: SIPp (the independent peer) and tools/sip_caller.py against
the voice engine, in direct mode and registered through a local Kamailio."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kamailio.run import Kamailio
from sip_caller import place_call
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from ivr.errors import VoiceError
from tests.integration.voice_peers import Ivr, free_port, media_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SIPP = ROOT / "tools" / "sipp"
PCAP = Path("/usr/share/sip-tester")

pytestmark = pytest.mark.slow


def sipp(target: str, scenario: str, cwd: Path, *extra: str,
         timeout: float = 40) -> subprocess.CompletedProcess[str]:
    command = [shutil.which("sipp") or "sipp", target, "-sf", str(SIPP / scenario), "-s", "ivr",
               "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()),
               "-mp", str(media_port()), "-nostdin", "-timeout", "30", "-timeout_error",
               "-trace_err", *extra]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_sipp_presses_two_branch_sends_sms_ivr_hangs_up(start_ivr: Callable[..., Ivr],
                                                         tmp_path: Path) -> None:
    ivr = start_ivr()
    result = sipp(f"127.0.0.1:{ivr.port}", "uac_digit.xml", tmp_path,
                  "-key", "pcap", str(PCAP / "dtmf_2833_2.pcap"), "-d", "2500")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert wait_until(lambda: len(ivr.messages()) == 1)
    [message] = ivr.messages()
    assert (message.recipient, message.body) == (  # type: ignore[attr-defined]
        "+3612345678", "Caller 15550001111 pressed two")
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [])


def test_caller_hears_prompt_paced_at_20ms_and_fast_answer(start_ivr: Callable[..., Ivr]) -> None:
    ivr = start_ivr()
    result = place_call(f"127.0.0.1:{ivr.port}", digits=[(3.5, "1")], duration=15)
    assert result.status == 200
    assert result.answer_ms < 100
    assert result.bye_from_ivr
    mean, p99 = result.gap_stats()
    assert 19.0 <= mean <= 22.0 and p99 <= 30.0, (mean, p99)
    assert {pt for _, pt, _ in result.packets} == {0}           # PCMU only
    assert all(len(p) == 160 for _, _, p in result.packets)
    assert result.speech_seconds >= 1.5                          # the welcome prompt
    assert ivr.messages() == []                                  # digit 1: no SMS


def test_digit_during_prompt_stops_it(start_ivr: Callable[..., Ivr]) -> None:
    ivr = start_ivr()
    result = place_call(f"127.0.0.1:{ivr.port}", digits=[(0.8, "2")], duration=15)
    assert result.bye_from_ivr
    # the ~3 s welcome prompt was cut at 0.8 s; "You pressed two" (~1.2 s) follows
    assert result.ended_at < 3.5, result.ended_at
    assert wait_until(lambda: len(ivr.messages()) == 1)


def test_cancel_before_answer_gets_487_and_script_never_runs(
        start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    served: list[str] = []

    def slow_app(environ: dict[str, object], start_response: Callable[..., object]) -> object:
        served.append(str(environ["PATH_INFO"]))
        time.sleep(2.0)       # the call rings while the script is fetched
        return Response('<Response><SendSms Recipient="+3699">should not</SendSms>'
                        "</Response>", mimetype="application/xml")(environ, start_response)

    server = make_server("127.0.0.1", 0, slow_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ivr = start_ivr(script=f"http://127.0.0.1:{server.server_port}/ozml")
        result = sipp(f"127.0.0.1:{ivr.port}", "uac_cancel.xml", tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        time.sleep(2.5)
        assert served == ["/ozml"]
        assert ivr.messages() == []
        assert ivr.engine.calls.list_calls() == []
    finally:
        server.shutdown()


def test_caller_hangup_mid_prompt_ends_script_and_frees_call(
        start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    script = tmp_path / "long.xml"
    script.write_text("<Response><Speak>" + "This is a very long prompt. " * 20 +
                      "</Speak><SendSms Recipient=\"+3698\">after</SendSms></Response>")
    ivr = start_ivr(script=str(script))
    free_before = len(ivr.engine.endpoint.ports._free)
    result = sipp(f"127.0.0.1:{ivr.port}", "uac_hangup.xml", tmp_path, "-d", "1000")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
    assert wait_until(lambda: len(ivr.engine.endpoint.ports._free) == free_before, 5)
    time.sleep(0.5)
    assert ivr.messages() == []      # the script stopped; the SMS after the prompt never ran


def test_register_mode_through_kamailio(start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    port = free_port()
    with Kamailio(port, password="secret"):
        ivr = start_ivr(mode="register", server="127.0.0.1", server_port=port,
                        username="ivr", password="secret")
        assert ivr.engine.endpoint.registered
        result = sipp(f"127.0.0.1:{port}", "uac_digit.xml", tmp_path,
                      "-key", "pcap", str(PCAP / "dtmf_2833_2.pcap"), "-d", "2500")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert wait_until(lambda: len(ivr.messages()) == 1)


def test_wrong_registrar_password_is_a_clear_startup_error(
        start_ivr: Callable[..., Ivr]) -> None:
    port = free_port()
    with Kamailio(port, password="secret"):
        with pytest.raises(VoiceError) as info:
            start_ivr(mode="register", server="127.0.0.1", server_port=port,
                      username="ivr", password="wrong")
    message = str(info.value)
    assert f"registration of ivr at 127.0.0.1:{port} failed" in message
    assert "wrong password?" in message


def test_unreachable_registrar_fails_within_seconds(start_ivr: Callable[..., Ivr]) -> None:
    started = time.monotonic()
    with pytest.raises(VoiceError, match="did not answer"):
        start_ivr(mode="register", server="127.0.0.1", server_port=free_port(),
                  username="ivr", password="x")
    assert time.monotonic() - started < 15


def test_record_keeps_caller_audio_until_finish_key(start_ivr: Callable[..., Ivr],
                                                    tmp_path: Path) -> None:
    import wave

    from ivr.voice import audio

    script = tmp_path / "record.xml"
    script.write_text('<Response><Record Duration="20" FinishDigits="#" Format="wav"/>'
                      "<SendSms Recipient=\"+3697\">$recordduration</SendSms></Response>")
    ivr = start_ivr(script=str(script))
    result = place_call(f"127.0.0.1:{ivr.port}", talk=(0.3, 2.0), digits=[(3.0, "#")],
                        duration=10)
    assert result.bye_from_ivr
    [path] = list(Path(ivr.settings.audio.recordings_dir).glob("*.wav"))
    with wave.open(str(path)) as recording:
        assert (recording.getframerate(), recording.getnchannels()) == (8000, 1)
        frames = recording.readframes(recording.getnframes())
    seconds = len(frames) / 2 / 8000
    assert 1.5 <= seconds <= 2.6, seconds                  # the 2 s the caller spoke
    assert audio.rms_u8(audio.wav_to_u8(path.read_bytes())) > 10
    assert wait_until(lambda: len(ivr.messages()) == 1)
    assert 1.5 <= float(ivr.messages()[0].body) <= 2.6  # type: ignore[attr-defined]


def test_200_ok_is_retransmitted_until_the_ack(start_ivr: Callable[..., Ivr]) -> None:
    """RFC 3261 timer G: a caller whose ACK is lost keeps getting the 200 (pyVoIP sent it once)."""
    ivr = start_ivr()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sdp = ("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {free_port()} RTP/AVP 0\r\n")
    headers = (f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKnoack\r\n"
               "From: <sip:a@127.0.0.1>;tag=t1\r\nTo: <sip:ivr@127.0.0.1>\r\n"
               "Call-ID: no-ack-1\r\n")
    invite = (f"INVITE sip:ivr@127.0.0.1:{ivr.port} SIP/2.0\r\n{headers}CSeq: 1 INVITE\r\n"
              f"Contact: <sip:a@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\n"
              f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
    sock.sendto(invite.encode(), ("127.0.0.1", ivr.port))
    sock.settimeout(0.2)
    oks: list[float] = []
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        if data.startswith(b"SIP/2.0 200"):
            oks.append(time.monotonic())
    assert len(oks) >= 3, oks                       # sent at 0 s, +0.5 s, +1.5 s
    assert 0.35 <= oks[1] - oks[0] <= 0.8
    to_tag = [line for line in data.decode().split("\r\n") if line.startswith("To:")][0]
    ack = (f"ACK sip:ivr@127.0.0.1:{ivr.port} SIP/2.0\r\n"
           + headers.replace("To: <sip:ivr@127.0.0.1>", to_tag) + "CSeq: 1 ACK\r\n"
           "Content-Length: 0\r\n\r\n")
    sock.sendto(ack.encode(), ("127.0.0.1", ivr.port))
    time.sleep(0.3)
    while True:  # drain what was in flight before the ACK
        try:
            sock.recv(65535)
        except TimeoutError:
            break
    sock.settimeout(1.5)
    with pytest.raises(TimeoutError):               # no more 200s once ACKed
        while True:
            if sock.recv(65535).startswith(b"SIP/2.0 200"):
                break
    sock.close()


def test_reinvite_keeps_the_call_and_follows_moved_media(
        start_ivr: Callable[..., Ivr], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PBXs re-INVITE running calls (session refresh, hold, media moves): SIPp's re-INVITE
    gets 200 with our PCMU SDP, media follows the new port, an offer without G.711 gets 488,
    and the call goes on until the caller's BYE."""
    script = tmp_path / "long.xml"
    script.write_text("<Response><Speak>" + "This is a very long prompt. " * 20 +
                      "</Speak></Response>")
    ivr = start_ivr(script=str(script))
    sipp_media = media_port()
    caplog.set_level(logging.INFO, logger="ivr.voice.leg")
    result = sipp(f"127.0.0.1:{ivr.port}", "uac_reinvite.xml", tmp_path, "-mp",
                  str(sipp_media))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"media to 127.0.0.1:{sipp_media + 2}" in caplog.text
    assert "re-INVITE refused: no G.711" in caplog.text
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
