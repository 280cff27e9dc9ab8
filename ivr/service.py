"""Composition root: builds every long-lived object from one :class:`~ivr.config.Settings`.

Nothing else wires objects together or reads configuration. ``Services`` is what the HTTP
app (``create_app(settings, services)``), the SIP side and the CLI receive; ``Runtime`` is
what ``ivr serve`` starts and stops, in dependency order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.config import Settings

if TYPE_CHECKING:
    from ivr.sms.submit import SmsService
    from ivr.users import UserStore

__all__ = ["Services", "Runtime", "build_services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    sms: SmsService
    users: UserStore
    calls: Any = None      # ivr.voice.calls.CallControl when the SIP side runs, else None
    notifier: Any = None   # ivr.api notifications (CallConnected/CallEnded/SmsDelivered)
    rate_limiter: Any = None  # ivr.api.auth.RateLimiter shared by every dialect
    extras: dict[str, Any] = field(default_factory=dict)


def _callback_formats() -> dict[str, Any]:
    """Dialect name -> CallbackFormatter, for SmsRequest.callback_format."""
    from ivr.api import ozeki, restcomm

    return {"ozeki": ozeki.delivery_report_params,
            "restcomm": restcomm.status_callback_params}


def build_services(settings: Settings) -> Services:
    """Build the SMS service and the user store (no threads started yet)."""
    from ivr.commands.user import user_store_path
    from ivr.sms.submit import build_sms_service
    from ivr.users import UserStore

    Path(settings.ivr.data_dir).mkdir(parents=True, exist_ok=True)
    sms = build_sms_service(settings, callback_formats=_callback_formats())
    users = UserStore(user_store_path(settings.ivr.data_dir))
    return Services(settings=settings, sms=sms, users=users)


class Runtime:
    """Everything ``ivr serve`` runs: SMS workers, the SIP engine and the HTTP API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = build_services(settings)
        self._voice: Any = None
        self._http: Any = None

    def start(self) -> None:
        from ivr.api.notify import Notifier

        settings, services = self.settings, self.services
        notifier = Notifier(settings.http.notification_url).start()
        services.notifier = notifier
        if settings.http.notification_url:
            services.sms.final_listeners.append(notifier.sms_final)
        services.sms.start()
        if settings.sip.enabled:
            from ivr.ozml.interpreter import Interpreter
            from ivr.voice.engine import VoiceEngine
            from ivr.voice.history import open_call_history

            interpreter = Interpreter(settings.ozml, services.sms, base_dir=".")
            self._voice = VoiceEngine(settings, interpreter, notify=notifier.notify,
                                      history=open_call_history(settings.sms.database_url))
            interpreter.originator = self._voice   # <Call> dials through the engine running it
            self._voice.start()
            services.calls = self._voice.calls
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
        if self.services.notifier is not None:
            self.services.notifier.stop()
