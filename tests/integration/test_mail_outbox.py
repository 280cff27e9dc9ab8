"""The e-mail outbox against a real SMTP server (aiosmtpd on 127.0.0.1): delivery, the relay
down and back, permanent refusals, durability across a restart, and <SendEmail> on a call."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ivr.errors import ValidationError
from ivr.mail import EmailSettings, MailOutbox
from ivr.ozml.fetch import Fetched
from ivr.ozml.interpreter import Interpreter
from ivr.ozml.memory import InMemorySmsSubmitter
from ivr.ozml.ports import EmailRequest
from ivr.ozml.settings import OzmlSettings
from tests.unit.ozml.recording_call import RecordingCall


class Inbox:
    """An aiosmtpd handler that keeps every message, or refuses them with ``refuse``."""

    def __init__(self, refuse: str = "") -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smtp(handler: Inbox, port: int) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def outbox(tmp_path: Path, port: int) -> Iterator[MailOutbox]:
    box = MailOutbox(str(tmp_path / "mail.sqlite"), EmailSettings(
        relay_host="127.0.0.1", relay_port=port, sender="ivr@example.org", timeout=2.0,
        retry_base=0.2, retry_max=0.5, retry_period=60.0)).start()
    yield box
    box.close()


def test_sends_through_the_relay(outbox: MailOutbox, port: int) -> None:
    inbox = Inbox()
    server = smtp(inbox, port)
    try:
        email_id = outbox.submit_email(EmailRequest("ops@example.org", "Line 1\nLine 2",
                                                    "Alarm\r\nBcc: evil@example.org"))
        wait_for(lambda: inbox.messages)
        mail_from, rcpt, content = inbox.messages[0]
        assert (mail_from, rcpt) == ("ivr@example.org", ["ops@example.org"])
        parsed = message_from_bytes(content)
        assert parsed["Subject"] == "Alarm Bcc: evil@example.org"   # stayed in the subject
        assert parsed["Bcc"] is None
        assert "Line 1\r\nLine 2" in parsed.get_payload()   # SMTP line endings
        wait_for(lambda: (row := outbox.get(email_id)) is not None and row.status == "sent")
    finally:
        server.stop()


def test_relay_down_then_back_delivers_once(outbox: MailOutbox, port: int) -> None:
    email_id = outbox.submit_email(EmailRequest("ops@example.org", "hello", "down"))
    wait_for(lambda: (row := outbox.get(email_id)) is not None and row.attempts >= 2)
    row = outbox.get(email_id)
    assert row is not None and row.status == "queued"
    assert "Connection refused" in row.last_error or "Errno" in row.last_error
    inbox = Inbox()
    server = smtp(inbox, port)
    try:
        wait_for(lambda: inbox.messages)
        wait_for(lambda: (row := outbox.get(email_id)) is not None and row.status == "sent")
        time.sleep(0.8)                 # a few more worker rounds: still exactly one copy
        assert len(inbox.messages) == 1
    finally:
        server.stop()


def test_permanent_refusal_fails_at_once(outbox: MailOutbox, port: int) -> None:
    server = smtp(Inbox(refuse="550 mailbox unavailable"), port)
    try:
        email_id = outbox.submit_email(EmailRequest("nobody@example.org", "x"))
        wait_for(lambda: (row := outbox.get(email_id)) is not None and row.status == "failed")
        row = outbox.get(email_id)
        assert row is not None and row.attempts == 1 and row.last_error.startswith("550")
    finally:
        server.stop()


def test_bad_addresses_are_refused_before_commit(outbox: MailOutbox) -> None:
    for bad in ("not-an-address", "a@b\r\nRCPT TO:<x@y>", "two@at@signs", ""):
        with pytest.raises(ValidationError):
            outbox.submit_email(EmailRequest(bad, "x"))


def test_accepted_mail_survives_a_restart(tmp_path: Path, port: int) -> None:
    settings = EmailSettings(relay_host="127.0.0.1", relay_port=port, timeout=1.0,
                             retry_base=0.2, retry_max=0.3)
    first = MailOutbox(str(tmp_path / "mail.sqlite"), settings)   # never started: a crash
    email_id = first.submit_email(EmailRequest("ops@example.org", "before the crash"))
    first.close()
    inbox = Inbox()
    server = smtp(inbox, port)
    second = MailOutbox(str(tmp_path / "mail.sqlite"), settings).start()
    try:
        wait_for(lambda: inbox.messages)
        assert b"before the crash" in inbox.messages[0][2]
        assert second.get(email_id) is not None
    finally:
        second.close()
        server.stop()


class OneDocument:
    def __init__(self, body: str) -> None:
        self.body = body

    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched:
        return Fetched(self.body.encode(), location)


def test_send_email_on_a_call_does_not_wait_for_the_relay(outbox: MailOutbox,
                                                          port: int) -> None:
    """Ozeki's ReceiveAlarmNotification example (p_5556) mails the alarm: the relay is down,
    the call goes on at once, and the mail arrives when the relay is back."""
    script = ('<Response><Speak>Sending</Speak><SendEmail Recipient="ops@example.org" '
              'Subject="Call from $caller">Caller $caller pressed $digits</SendEmail>'
              "<Speak>Sent</Speak></Response>")
    call = RecordingCall()
    started = time.monotonic()
    Interpreter(OzmlSettings(), InMemorySmsSubmitter(), fetcher=OneDocument(script),
                email=outbox).run(call, "http://app/x")
    assert time.monotonic() - started < 1.0
    assert call.spoken() == ["Sending", "Sent"]
    inbox = Inbox()
    server = smtp(inbox, port)
    try:
        wait_for(lambda: inbox.messages)
        parsed = message_from_bytes(inbox.messages[0][2])
        assert parsed["Subject"] == "Call from +15550001111"
    finally:
        server.stop()
