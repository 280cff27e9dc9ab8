"""Ozeki's published OzML examples for the verbs of issue 14 on real SIP calls (SIPp on
127.0.0.1): the engine runs each script on the call, a transcript of what the caller was
played is taken at the Call seam, and side effects land on real peers (aiosmtpd, the disk)."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from callback_receiver import CallbackReceiver

from ivr.call import Call, PlayOutcome, Prompt
from ivr.config import Settings
from ivr.mail import EmailSettings, MailOutbox
from ivr.ozml import alarm
from ivr.ozml.interpreter import Interpreter
from ivr.service import build_sms_service
from ivr.voice.engine import VoiceEngine
from tests.integration.test_mail_outbox import Inbox, wait_for
from tests.integration.voice_peers import free_port, media_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SIPP = ROOT / "tools" / "sipp"
PCAP = Path("/usr/share/sip-tester")
_rtp = itertools.count(7)

pytestmark = pytest.mark.slow


class Transcript:
    """Wraps the SIP call: everything the caller is played, in order (the call itself is real)."""

    def __init__(self, call: Call, lines: list[str]) -> None:
        self._call, self.lines = call, lines

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        self.lines.append(f"{prompt.kind}: {prompt.text or prompt.source or prompt.seconds}")
        return self._call.play(prompt, barge_in=barge_in)

    def hangup(self) -> None:
        self.lines.append("hangup")
        self._call.hangup()


class TranscribingInterpreter(Interpreter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transcript: list[str] = []

    def run(self, call: Call, script: str, notification: str = "IncomingCall") -> None:
        super().run(Transcript(call, self.transcript), script, notification)  # type: ignore[arg-type]


@pytest.fixture
def smtp_port() -> int:
    return free_port(socket.SOCK_STREAM)


@pytest.fixture
def engine(make_settings: Callable[..., Settings], tmp_path: Path,
           smtp_port: int) -> Iterator[Callable[[str], TranscribingInterpreter]]:
    parts: list[Any] = []

    def start(script_text: str) -> TranscribingInterpreter:
        script = tmp_path / f"script{len(parts)}.xml"
        script.write_text(script_text)
        settings = make_settings()
        settings.sip.bind_port = free_port()
        low = 36000 + 400 * (next(_rtp) % 20)
        settings.sip.rtp_port_low, settings.sip.rtp_port_high = low, low + 200
        settings.sip.default_script = str(script)
        settings.audio.cache_dir = str(tmp_path / "cache")
        settings.audio.recordings_dir = str(tmp_path / "recordings")
        settings.audio.sounds_dir = str(tmp_path / "sounds")
        service = build_sms_service(settings)
        service.start()
        outbox = MailOutbox(str(tmp_path / "mail.sqlite"), EmailSettings(
            relay_host="127.0.0.1", relay_port=smtp_port, retry_base=0.2, retry_max=0.5)).start()
        interpreter = TranscribingInterpreter(
            settings.ozml, service, email=outbox,
            file_roots=(settings.audio.recordings_dir, settings.audio.sounds_dir))
        voice = VoiceEngine(settings, interpreter)
        interpreter.originator = voice
        voice.start()
        parts.extend([voice, outbox, service])
        interpreter.port = settings.sip.bind_port  # type: ignore[attr-defined]
        return interpreter

    yield start
    for part in parts:
        part.stop()


def sipp(port: int, scenario: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [shutil.which("sipp") or "sipp", f"127.0.0.1:{port}", "-sf", str(SIPP / scenario),
               "-s", "ivr", "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()),
               "-mp", str(media_port()), "-nostdin", "-timeout", "40", "-timeout_error",
               "-trace_err", *extra]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_array_foreach_example_on_a_call(engine: Callable[[str], Any], tmp_path: Path) -> None:
    """p_7650: "iterate through these items with a Foreach loop, and read them out"."""
    ivr = engine((ROOT / "ozml_scripts" / "array.xml").read_text())
    result = sipp(ivr.port, "uac_digit.xml", tmp_path, "-key", "pcap",
                  str(PCAP / "dtmf_2833_1.pcap"), "-d", "200")
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    assert wait_until(lambda: "hangup" in ivr.transcript)
    assert ivr.transcript == ["speak: Hello", "speak: Welcome", "hangup"]


def test_receive_alarm_notification_example_on_a_call(engine: Callable[[str], Any],
                                                      tmp_path: Path, smtp_port: int) -> None:
    """p_5556: a Contact ID alarm received on the call is e-mailed with its fields."""
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    server.start()
    try:
        ivr = engine((ROOT / "ozml_scripts" / "alarm.xml").read_text())
        keys = alarm.encode("1234", "1", "130", "01", "015")       # 123418113001015*
        names = {"*": "star", "#": "pound"}
        pcaps = [arg for n, key in enumerate(keys, 1) for arg in
                 ("-key", f"k{n}", str(PCAP / f"dtmf_2833_{names.get(key, key)}.pcap"))]
        result = sipp(ivr.port, "uac_keys.xml", tmp_path, *pcaps, "-d", "1000")
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
        assert ivr.transcript == [f"play: {alarm.handshake_tone()}",
                                  f"play: {alarm.kissoff_tone()}", "hangup"]
        wait_for(lambda: inbox.messages)
        mail = message_from_bytes(inbox.messages[0][2])
        assert mail["Subject"] == "alarmTest" and inbox.messages[0][1] == ["recepient@mail.com"]
        assert "Account 1234, Event name Burglary, Zone 015" in mail.get_payload()
    finally:
        server.stop()


@pytest.mark.parametrize("example", [
    # p_4594 / p_7658 (Route) and p_7666 (CallSetup)
    '<Response><Route RingTime="30" Destination="1000"/><Speak>after</Speak></Response>',
    "<Response><CallSetup Caller='101' Callee='102'/><Speak>after</Speak></Response>",
], ids=["Route", "CallSetup"])
def test_unsupported_examples_never_kill_the_call(engine: Callable[[str], Any], tmp_path: Path,
                                                  example: str) -> None:
    ivr = engine(example)
    result = sipp(ivr.port, "uac_digit.xml", tmp_path, "-key", "pcap",
                  str(PCAP / "dtmf_2833_1.pcap"), "-d", "200")
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    assert wait_until(lambda: "hangup" in ivr.transcript)
    assert ivr.transcript == ["speak: after", "hangup"]


def test_menu_hash_key_delay_time_and_mp3_voicemail_on_a_call(
        engine: Callable[[str], Any], tmp_path: Path) -> None:
    """Ozeki menus: '#' is an ordinary key; <Delay Time>; Record defaults to mp3, no beep;
    MoveFile files it under recordings_dir."""
    ivr = engine('<Response><UserInput Timeout="10"><InitialCommands><Speak>Press hash'
                 '</Speak></InitialCommands><Inputs><Input Key="#"><Speak>hash pressed</Speak>'
                 '<Delay Time="0.5"/><Record Duration="2"/><MoveFile Source="$recordurl" '
                 'Destination="voicemail/$caller.mp3"/></Input></Inputs></UserInput>'
                 "</Response>")
    result = sipp(ivr.port, "uac_digit.xml", tmp_path, "-key", "pcap",
                  str(PCAP / "dtmf_2833_pound.pcap"), "-d", "300")
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    assert wait_until(lambda: "hangup" in ivr.transcript)
    assert ivr.transcript == ["speak: Press hash", "speak: hash pressed", "silence: 0.5",
                              "hangup"]                       # no beep before Record
    mp3 = tmp_path / "recordings" / "voicemail" / "15550001111.mp3"
    assert mp3.exists(), list((tmp_path / "recordings").rglob("*"))


def test_send_alarm_notification_reaches_a_receiving_ivr(
        engine: Callable[[str], Any], tmp_path: Path, smtp_port: int,
        receiver: CallbackReceiver) -> None:
    """p_5554's example, sent to a second ivr that runs p_5556's receiving example: the
    Contact ID keys cross a real SIP call (RFC 4733), the receiver e-mails the alarm, and
    ResultUrl hears Sent. A SIPp call to the first ivr starts it."""
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    server.start()
    try:
        panel_receiver = engine((ROOT / "ozml_scripts" / "alarm.xml").read_text())
        sender = engine(
            f"<Response><SendAlarmNotification PhoneNumber='sip:alarm@127.0.0.1:"
            f"{panel_receiver.port}' AccountNumber='1234' EventCode='110' PartitionNumber='1' "
            f"ZoneNumber='10' ResultUrl='{receiver.url}/alarmnotification.php'/>"
            "<Speak>Alarm sent</Speak></Response>")
        result = sipp(sender.port, "uac_digit.xml", tmp_path, "-key", "pcap",
                      str(PCAP / "dtmf_2833_1.pcap"), "-d", "200")
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
        wait_for(lambda: inbox.messages, timeout=30)
        mail = message_from_bytes(inbox.messages[0][2])
        assert "Account 1234, Event name Fire, Zone 010" in mail.get_payload()
        [hit] = receiver.wait_for(1, timeout=20)
        assert (hit.form["NotificationName"], hit.form["Result"]) == (
            "SendAlarmNotification", "Sent")
        assert panel_receiver.transcript[:2] == [f"play: {alarm.handshake_tone()}",
                                                 f"play: {alarm.kissoff_tone()}"]
    finally:
        server.stop()
