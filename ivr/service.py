"""Composition root: builds every long-lived object from one :class:`~ivr.config.Settings`.

Nothing else wires objects together or reads configuration. ``Services`` is what the HTTP
app (``create_app(settings, services)``), the SIP side and the CLI receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivr.config import Settings

if TYPE_CHECKING:
    from ivr.sms.submit import SmsService
    from ivr.users import UserStore

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    sms: SmsService
    users: UserStore
    calls: Any = None   # ivr.voice.calls.CallControl when the SIP side runs, else None
