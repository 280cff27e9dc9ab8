"""What the API blueprints need from the composition root: ``ApiServices``.

``ivr.service.Services`` provides it; the blueprints depend on this Protocol only, and reach
calls through :class:`CallCommands` (the call-control seam), never through ``ivr.voice``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ivr.addressbook import AddressBook
    from ivr.api.auth import RateLimiter
    from ivr.config import Settings
    from ivr.sms.submit import SmsService
    from ivr.users import UserStore

__all__ = ["ApiServices", "CallCommands"]


class CallCommands(Protocol):
    """Ozeki's call commands on the calls of this process (``ivr.voice.calls.CallControl``)."""

    def list_calls(self) -> Sequence[Any]: ...
    def originate(self, number: str, script: str, caller_id: str = "") -> str: ...
    def hangup(self, call_id: str) -> bool: ...
    def send_dtmf(self, call_id: str, keys: str) -> bool: ...
    def speak(self, call_id: str, text: str) -> bool: ...
    def play(self, call_id: str, source: str) -> bool: ...


class ApiServices(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def sms(self) -> SmsService: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def rate_limiter(self) -> RateLimiter:
        """One limiter for every dialect: a user's rate applies across all APIs."""
    @property
    def calls(self) -> CallCommands | None:
        """None when the SIP side does not run in this process."""
    @property
    def address_book(self) -> AddressBook | None:
        """Contacts and lists in the message database; None where not built."""
