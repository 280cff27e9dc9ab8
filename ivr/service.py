"""Composition root: builds every long-lived object from one :class:`~ivr.config.Settings`.

Nothing else wires objects together or reads configuration. ``Services`` is what the HTTP
app (``create_app(settings, services)``), the SIP side and the CLI receive; ``Runtime`` is
what ``ivr serve`` starts and stops, in dependency order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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


def build_services(settings: Settings, *,
                   wake: Callable[[str], None] | None = None) -> Services:
    """Build the SMS service and the user store (no threads started yet). ``wake``: told
    after each commit that gives the SMS core work, when it runs in another process."""
    from ivr.commands.user import user_store_path
    from ivr.sms.submit import build_sms_service
    from ivr.users import UserStore

    Path(settings.ivr.data_dir).mkdir(parents=True, exist_ok=True)
    sms = build_sms_service(settings, callback_formats=_callback_formats(), wake=wake)
    users = UserStore(user_store_path(settings.ivr.data_dir))
    return Services(settings=settings, sms=sms, users=users)


class Runtime:
    """Every role in this one process, on threads (tests, embedding); ``ivr serve`` runs
    them as processes instead (ivr.roles.supervisor)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = build_services(settings)
        self._voice: Any = None
        self._http: Any = None

    def start(self) -> None:
        from ivr.roles.roles import start_notifier, start_voice

        settings, services = self.settings, self.services
        notifier = start_notifier(settings, services)
        services.sms.start()
        if settings.sip.enabled:
            self._voice = start_voice(settings, services, notifier)
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
