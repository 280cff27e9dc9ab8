"""The three kinds of process ``ivr serve`` runs, each a :class:`Role` (start, then stop).

- :class:`HttpRole`: one HTTP worker, the Flask app under granian. It commits every message
  itself (the store's group commit shares one fsync among its concurrent requests), then
  wakes the SMS core; call commands go to the voice process over the control socket.
- :class:`SmsRole`: the SMS core: dispatcher, callback sender, transports, housekeeping,
  woken by the others' commits (ivr.roles.wake).
- :class:`VoiceRole`: SIP and media, and the call-control socket the HTTP workers use.

Roles never share memory: what one accepts is in the store before it says so.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any, Protocol

from ivr.config import Settings
from ivr.roles.control import ControlServer, RemoteCalls, control_socket_path
from ivr.roles.wake import CALLBACK, MESSAGE, WakeListener, WakeSender, build_listener, build_waker

if TYPE_CHECKING:
    from ivr.api.services import CallCommands
    from ivr.mail import MailOutbox
    from ivr.service import Services
    from ivr.voice.engine import VoiceEngine

__all__ = ["Role", "HttpRole", "SmsRole", "VoiceRole", "start_voice",
           "ROLE_NAMES", "DRAIN_ORDER"]

log = logging.getLogger(__name__)

ROLE_NAMES = ("http", "sms", "voice")
# SIGTERM: stop taking requests first, then end calls, then let the SMS core finish its sends.
DRAIN_ORDER = ("http", "voice", "sms")


class Role(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...


def start_voice(settings: Settings, services: Services,
                mail: MailOutbox | None) -> VoiceEngine:
    """The SIP engine, started, its scripts sending SMS through ``services.sms``."""
    from ivr.service import build_voice

    engine = build_voice(settings, services, mail)
    engine.start()
    services.calls = engine.calls      # the engine is built from services: set after
    return engine


def _remote_calls(settings: Settings) -> RemoteCalls | None:
    """The voice process's calls, for an HTTP worker (None without SIP)."""
    if not settings.sip.enabled:
        return None
    from ivr.config import database_url
    from ivr.voice.history import open_call_history

    return RemoteCalls(control_socket_path(settings.ivr.data_dir),
                       history=open_call_history(database_url(settings)))


def _services(settings: Settings, wake: WakeSender | None,
              calls: CallCommands | None = None, *, address_book: bool = True) -> Services:
    from ivr.service import build_services

    return build_services(settings, wake=wake, calls=calls, address_book=address_book)


def _stop_all(name: str, *parts: Any) -> None:
    """Stop each part in order; a failure is logged and the rest still stop."""
    for part in parts:
        if not part:            # None or False: nothing to stop
            continue
        try:
            part()
        except Exception:
            log.exception("%s: error while stopping", name)


class HttpRole:
    name = "http"

    def __init__(self, settings: Settings, listener: socket.socket, index: int = 1) -> None:
        self.settings = settings
        self.listener = listener
        self.index = index
        self.waker = build_waker(settings.sms.database_url, settings.ivr.data_dir)
        self.services = _services(settings, self.waker, _remote_calls(settings))
        self._worker: Any = None

    def start(self) -> None:
        from ivr.api.app import create_app
        from ivr.roles.http import GranianOptions, GranianWorker

        http = self.settings.http
        self.services.notifier.start()
        options = GranianOptions(threads=http.threads, header_timeout=http.header_timeout,
                                 backlog=http.backlog, max_connections=http.max_connections)
        self._worker = GranianWorker(create_app(self.settings, self.services), self.listener,
                                     options, worker_id=self.index)
        self._worker.start()

    def stop(self) -> None:
        worker, notifier = self._worker, self.services.notifier

        def drain() -> None:
            if worker is not None and not worker.stop(self.settings.http.drain_seconds):
                log.warning("HTTP worker %d: requests still running after %.0f s",
                            self.index, self.settings.http.drain_seconds)

        calls = self.services.calls
        _stop_all(f"http-{self.index}", drain, notifier.stop, self.waker.close,
                  self.services.sms.store.close, self.services.close_address_book,
                  isinstance(calls, RemoteCalls) and calls.close)


class SmsRole:
    name = "sms"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # It is the core: woken in-process; it resolves no address-book names.
        self.services = _services(settings, None, address_book=False)
        self._listener: WakeListener | None = None

    def woken(self, kind: str, count: int) -> None:
        """A commit elsewhere: one dispatcher worker per batch of new messages (a worker
        claims up to ``[sms] batch`` at once; up to all of them); the callback sender for a
        new callback."""
        sms = self.services.sms
        if kind == MESSAGE:
            dispatcher = sms.dispatcher
            for _ in range(min(dispatcher.workers, 1 + (max(1, count) - 1) // dispatcher.batch)):
                dispatcher.wake()
        elif kind == CALLBACK:
            sms.callbacks.wake()

    def start(self) -> None:
        self.services.notifier.start()
        self.services.sms.start()
        self._listener = build_listener(self.settings.sms.database_url,
                                        self.settings.ivr.data_dir, self.woken)
        self._listener.start()

    def stop(self) -> None:
        _stop_all("sms", self._listener and self._listener.stop, self.services.sms.stop,
                  self.services.notifier.stop, self.services.sms.store.close,
                  self.services.close_address_book)


class VoiceRole:
    name = "voice"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.waker = build_waker(settings.sms.database_url, settings.ivr.data_dir)
        self.services = _services(settings, self.waker)
        self._engine: VoiceEngine | None = None
        self._control: ControlServer | None = None
        self._mail: MailOutbox | None = None

    def start(self) -> None:
        from ivr.service import build_mail_outbox

        self.services.notifier.start()
        self._mail = build_mail_outbox(self.settings)
        self._engine = start_voice(self.settings, self.services, self._mail)
        control = ControlServer(control_socket_path(self.settings.ivr.data_dir),
                                self._engine.calls)
        try:
            control.start()
        except OSError as exc:   # calls still work; only the HTTP call commands cannot
            log.error("call control unavailable on %s (%s): the HTTP API's call commands "
                      "will find no calls", control.path, exc)
            return
        self._control = control

    def stop(self) -> None:
        control, engine, mail = self._control, self._engine, self._mail
        _stop_all("voice", control and control.stop, engine and engine.stop,
                  mail and mail.close, self.services.notifier.stop, self.waker.close,
                  self.services.sms.store.close, self.services.close_address_book)
