"""A durable e-mail outbox: accepted means committed, then sent by a worker with retries.

``submit_email`` validates and commits a row and returns at once, so ``<SendEmail>`` never
holds up a call. One worker thread sends due messages through the configured relay. Like the
SMS callbacks, a message is retried with doubling delays (``retry_base`` .. ``retry_max``)
while the relay is unreachable or answers 4xx, and given up after ``retry_period``; a 5xx
answer (RFC 5321 §4.2.1: permanent) fails it at once. Rows survive restarts: a message
accepted before a crash is sent after it.
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from ivr.errors import ValidationError
from ivr.mail.settings import EmailSettings
from ivr.ozml.ports import EmailRequest

__all__ = ["MailOutbox", "OutboxRow"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS email (
    id TEXT PRIMARY KEY, recipient TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL,
    body TEXT NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, created REAL NOT NULL,
    sent_at REAL, last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS email_due ON email (status, next_attempt);
"""


@dataclass(frozen=True)
class OutboxRow:
    id: str
    recipient: str
    sender: str
    subject: str
    body: str
    status: str          # queued | sent | failed
    attempts: int
    last_error: str


def _address(value: str, param: str) -> str:
    value = value.strip()
    if any(c in value for c in "\r\n\0") or value.count("@") != 1 or " " in value:
        raise ValidationError(param, f"{value!r} is not an e-mail address")
    local, domain = value.split("@")
    if not local or not domain:
        raise ValidationError(param, f"{value!r} is not an e-mail address")
    return value


class MailOutbox:
    def __init__(self, path: str, settings: EmailSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.path = path
        self.clock = clock
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- accepting -----------------------------------------------------------------------
    def submit_email(self, request: EmailRequest) -> str:
        """Validate and commit; the id of the queued message. Raises ValidationError."""
        recipient = _address(request.recipient, "Recipient")
        sender = _address(request.sender or self.settings.sender, "Sender")
        subject = " ".join(request.subject.split())   # no header injection through newlines
        email_id = uuid.uuid4().hex
        now = self.clock()
        with self._lock:
            self._db.execute(
                "INSERT INTO email (id, recipient, sender, subject, body, source, status, "
                "next_attempt, created) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (email_id, recipient, sender, subject, request.body, request.source, now, now))
        log.info("[email %s] accepted from %s for %s", email_id, request.source or "?",
                 recipient)
        self._wake.set()
        return email_id

    def get(self, email_id: str) -> OutboxRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, recipient, sender, subject, body, status, attempts, last_error "
                "FROM email WHERE id = ?", (email_id,)).fetchone()
        return OutboxRow(*row) if row else None

    # -- sending -------------------------------------------------------------------------
    def start(self) -> MailOutbox:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mail-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.send_due()
            except Exception:  # the worker must outlive any one bad row or database hiccup
                log.exception("e-mail worker failure")
                wait = 5.0
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def send_due(self) -> float:
        """Send every due message; seconds until the next one is due (at most 60)."""
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, recipient, sender, subject, body, attempts, created FROM email "
                "WHERE status = 'queued' AND next_attempt <= ? ORDER BY next_attempt LIMIT 50",
                (now,)).fetchall()
        for row in rows:
            if self._stop.is_set():
                break
            self._attempt(*row)
        with self._lock:
            nxt = self._db.execute("SELECT MIN(next_attempt) FROM email WHERE status = "
                                   "'queued'").fetchone()[0]
        return 60.0 if nxt is None else min(60.0, max(0.0, nxt - self.clock()))

    def _attempt(self, email_id: str, recipient: str, sender: str, subject: str, body: str,
                 attempts: int, created: float) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = f"<{email_id}@{sender.split('@')[1]}>"
        message.set_content(body)
        attempts += 1
        try:
            self._deliver(message, sender, recipient)
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            self._failed(email_id, attempts, created, f"{exc.smtp_code} {text}", permanent)
            return
        except (OSError, smtplib.SMTPException) as exc:
            self._failed(email_id, attempts, created, f"{exc.__class__.__name__}: {exc}",
                         False)
            return
        with self._lock:
            self._db.execute("UPDATE email SET status = 'sent', attempts = ?, sent_at = ?, "
                             "last_error = '' WHERE id = ?", (attempts, self.clock(), email_id))
        log.info("[email %s] sent to %s (attempt %d)", email_id, recipient, attempts)

    def _deliver(self, message: EmailMessage, sender: str, recipient: str) -> None:
        s = self.settings
        smtp = smtplib.SMTP_SSL(s.relay_host, s.relay_port, timeout=s.timeout,
                                context=ssl.create_default_context()) \
            if s.security == "tls" else smtplib.SMTP(s.relay_host, s.relay_port,
                                                     timeout=s.timeout)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])

    def _failed(self, email_id: str, attempts: int, created: float, error: str,
                permanent: bool) -> None:
        s = self.settings
        delay = min(s.retry_max, s.retry_base * 2 ** (attempts - 1))
        now = self.clock()
        give_up = permanent or now + delay - created > s.retry_period
        with self._lock:
            self._db.execute("UPDATE email SET status = ?, attempts = ?, next_attempt = ?, "
                             "last_error = ? WHERE id = ?",
                             ("failed" if give_up else "queued", attempts, now + delay,
                              error, email_id))
        if give_up:
            log.error("[email %s] failed after %d attempt(s): %s", email_id, attempts, error)
        else:
            log.warning("[email %s] attempt %d failed (%s); retrying in %.0f s", email_id,
                        attempts, error, delay)
