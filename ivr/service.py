"""Composition root: builds every long-lived object from one :class:`~ivr.config.Settings`.

Nothing else wires objects together or reads configuration. ``Services`` is what the HTTP
app (``create_app(settings, services)``), the SIP side and the CLI receive; ``Runtime`` is
what ``ivr serve`` starts and stops, in dependency order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr import metrics
from ivr.clock import Clock, SystemClock
from ivr.config import Settings, database_url
from ivr.keyfile import key_file
from ivr.logsafe import redact_url

if TYPE_CHECKING:
    from ivr.addressbook import AddressBook
    from ivr.api.auth import RateLimiter
    from ivr.api.notify import Notifier
    from ivr.api.services import CallCommands
    from ivr.mail import MailOutbox
    from ivr.sms.submit import CallbackFormatter, SmsService
    from ivr.sms.transports.base import Transport
    from ivr.users import UserStore
    from ivr.voice.engine import VoiceEngine

__all__ = ["Services", "Runtime", "build_services", "build_sms_service", "build_transport",
           "user_store_path", "private_dir"]

log = logging.getLogger(__name__)


class Services:
    """The long-lived objects every front end shares, all built at construction (the API's
    view of it is ``ivr.api.services.ApiServices``).

    ``rate_limiter`` and ``notifier`` default to the ones ``settings`` describe; ``calls``
    is the call control of the SIP side when it runs in this process, else None.
    """

    def __init__(self, settings: Settings, sms: SmsService, users: UserStore, *,
                 rate_limiter: RateLimiter | None = None, notifier: Notifier | None = None,
                 calls: CallCommands | None = None,
                 address_book: AddressBook | None = None) -> None:
        from ivr.api.auth import RateLimiter
        from ivr.api.notify import Notifier

        self.settings = settings
        self.sms = sms
        self.users = users
        self.rate_limiter: RateLimiter = (
            rate_limiter or RateLimiter(settings.http.rate_limit_per_minute))
        self.notifier: Notifier = notifier or Notifier(settings.http.notification_url)
        self.calls: CallCommands | None = calls
        self.address_book: AddressBook | None = address_book

    def close_address_book(self) -> None:
        """Its connections (a PostgreSQL pool) go with the process's other stores."""
        if self.address_book is not None:
            self.address_book.close()


def user_store_path(data_dir: str) -> Path:
    return Path(data_dir) / "users.db"


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and its parents) readable by this user only (0700) when it does not
    exist yet; an existing directory keeps the mode its operator gave it."""
    directory = Path(path)
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)      # mkdir's mode is filtered by the umask
    return directory


def _callback_formats() -> dict[str, CallbackFormatter]:
    """Dialect name -> CallbackFormatter, for SmsRequest.callback_format."""
    from ivr.api import ozeki, restcomm

    return {"ozeki": ozeki.delivery_report_params,
            "restcomm": restcomm.status_callback_params}


def _sip_message_transport(name: str, url: str) -> Transport:
    """``sip://`` SMS (RFC 3428 MESSAGE) lives on the SIP side; the SMS side knows it only
    through this factory, registered here (sms/ never imports voice/)."""
    from ivr.voice.sip_message import from_url

    return from_url(name, url)


def build_transport(name: str, url: str, public_url: str = "",
                    dlr_token: str = "") -> Transport:
    """An SMS transport from its URL: the SMS side's own schemes plus ``sip://``."""
    from ivr.sms.transports import build_transport as build

    return build(name, url, public_url, dlr_token, extra={"sip": _sip_message_transport})


def _callback_key(settings: Settings) -> bytes:
    if settings.sms.callback_hmac_key:
        return settings.sms.callback_hmac_key.encode()
    return key_file(private_dir(settings.ivr.data_dir) / "callback.key")


def build_sms_service(settings: Settings,
                      callback_formats: Mapping[str, CallbackFormatter] | None = None,
                      extra_transports: Mapping[str, Transport] | None = None,
                      wake: Callable[[str], None] | None = None,
                      clock: Clock | None = None) -> SmsService:
    """The SMS service: its transports, its store (``[sms] database_url``, by default
    ``ivr.db`` in ``[ivr] data_dir``) and its callback key. No thread is started.
    ``wake``: told after each commit that gives the SMS core work, when the core runs in
    another process (ivr.roles.wake). ``clock``: the one time source of the SMS side (the
    system clock; tests pass a manual one to step through backoff and leases)."""
    from ivr.errors import SmsError
    from ivr.sms.callbacks import webhook_token
    from ivr.sms.store import open_store
    from ivr.sms.submit import SmsService

    private_dir(settings.ivr.data_dir)     # 0700 before anything creates files in it
    metrics.setup(settings.ivr.data_dir)   # every process with an SMS service records
    key = _callback_key(settings)
    transports: dict[str, Transport] = {
        name: build_transport(name, url, settings.http.public_base_url, webhook_token(key, name))
        for name, url in settings.sms.transports.items()}
    transports.update(extra_transports or {})
    if not transports:
        raise SmsError("no SMS transport configured ([sms.transports])")
    url = database_url(settings)
    log.info("SMS message store: %s", redact_url(url))
    clock = clock or SystemClock()
    store = open_store(url, settings.sms.database_pool_size, clock.now)
    return SmsService(settings.sms, store, transports, clock=clock,
                      callback_formats=callback_formats, callback_key=key, wake=wake)


def build_services(settings: Settings, *, wake: Callable[[str], None] | None = None,
                   calls: CallCommands | None = None, address_book: bool = True) -> Services:
    """The SMS service, the user store, the rate limiter and the notifier (no threads
    started yet: the roles start them). ``wake``: see :func:`build_sms_service`; ``calls``:
    the call control of a voice process elsewhere (ivr.roles.control.RemoteCalls);
    ``address_book``: False for the SMS core, which resolves no names (names are expanded
    where a request or a script is accepted), so it holds no connection for the book."""
    from ivr.addressbook import open_address_book
    from ivr.api.notify import Notifier
    from ivr.users import UserStore

    private_dir(settings.ivr.data_dir)
    if settings.sip.enabled:
        private_dir(settings.audio.recordings_dir)   # callers' voices: this user's only
    sms = build_sms_service(settings, callback_formats=_callback_formats(), wake=wake)
    notifier = Notifier(settings.http.notification_url)
    if settings.http.notification_url:
        sms.final_listeners.append(notifier.sms_final)
    users = UserStore(user_store_path(settings.ivr.data_dir))
    return Services(settings, sms, users, notifier=notifier, calls=calls,
                    address_book=open_address_book(database_url(settings)) if address_book
                    else None)


def build_mail_outbox(settings: Settings) -> MailOutbox | None:
    """The [email] relay's durable outbox for <SendEmail> (started), or None when no relay
    is set."""
    email = settings.email
    if not email.relay_host:
        return None
    from ivr.mail import MailOutbox

    path = email.outbox or str(Path(settings.ivr.data_dir) / "mail.sqlite")
    return MailOutbox(path, email).start()


def build_voice(settings: Settings, services: Services,
                mail: MailOutbox | None) -> VoiceEngine:
    """The SIP engine (not started) and the interpreter its calls run: SMS through
    ``services.sms``, <SendEmail> through ``mail``, every fetch through the outbound policy,
    file commands confined to the recordings and sounds directories."""
    from ivr.ozml.interpreter import Interpreter
    from ivr.voice.engine import VoiceEngine
    from ivr.voice.history import open_call_history

    policy = services.sms.callbacks.policy     # the one outbound policy (docs/security.md)
    interpreter = Interpreter(
        settings.ozml, services.sms, base_dir=".", email=mail, url_policy=policy,
        file_roots=(settings.audio.recordings_dir, settings.audio.sounds_dir),
        address_book=services.address_book)
    engine = VoiceEngine(settings, interpreter, notify=services.notifier.notify,
                         history=open_call_history(database_url(settings)), url_policy=policy)
    interpreter.originator = engine   # <Call> dials through the engine running it
    return engine


class Runtime:
    """Every role in this one process, on threads (tests, embedding); ``ivr serve`` runs
    them as processes instead (ivr.roles.supervisor)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = build_services(settings)
        self._voice: Any = None
        self._http: Any = None
        self._mail: MailOutbox | None = None

    def start(self) -> None:
        from ivr.roles.roles import start_voice

        settings, services = self.settings, self.services
        services.notifier.start()
        services.sms.start()
        if settings.sip.enabled:
            self._mail = build_mail_outbox(settings)
            self._voice = start_voice(settings, services, self._mail)
        if settings.http.enabled:
            from ivr.api.app import create_app, serve_http

            app = create_app(settings, services)
            self._http = serve_http(app, settings.http.host, settings.http.port,
                                    settings.http.threads)

    def stop(self) -> None:
        """Stop accepting work first (HTTP, SIP), then drain the SMS workers."""
        for name, part in (("http", self._http), ("sip", self._voice)):
            if part is None:
                continue
            try:
                part.stop()
            except Exception:  # shutting down: log and keep stopping the rest
                log.exception("error while stopping %s", name)
        self.services.sms.stop()
        self.services.close_address_book()
        if self._mail is not None:
            self._mail.close()
        self.services.notifier.stop()
