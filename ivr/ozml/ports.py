"""Seams the interpreter reaches the world through, beyond the Call and the SMS submitter.

Each is a small Protocol passed in by the composition root (``ivr/service.py``, ``ivr
simulate``), so ``ivr.ozml`` imports nothing from ``ivr.mail``, ``ivr.sms`` or ``ivr.voice``:
``ivr.mail.MailOutbox`` is an :class:`EmailSubmitter` and ``ivr.urlpolicy.UrlPolicy`` a
:class:`UrlChecker` by shape alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["EmailRequest", "EmailSubmitter", "UrlChecker", "SqlRunner", "AddressBookNames"]


@dataclass(frozen=True)
class EmailRequest:
    """What ``<SendEmail>`` asks for (Ozeki p_4774: Recipient, Sender, Subject, Message)."""

    recipient: str
    body: str
    subject: str = ""
    sender: str = ""          # "" = the relay's [email] sender
    source: str = ""          # "ozml:<call id>" for logs


class EmailSubmitter(Protocol):
    """Accepts an e-mail durably and returns its id at once; never waits for the relay."""

    def submit_email(self, request: EmailRequest) -> str: ...


class UrlChecker(Protocol):
    """The deployment's outbound URL policy: '' when ``url`` may be requested, else why not.

    ``fresh``: resolve the host again now (used before each request and each redirect hop).
    ``vet`` also gives the addresses it judged: the request must connect to one of them.
    """

    def check(self, url: str, *, fresh: bool = False) -> str: ...
    def vet(self, url: str, *, fresh: bool = True) -> tuple[str, tuple[str, ...]]: ...


class SqlRunner(Protocol):
    """Runs one read-only query with bound parameters; the first column of the first row,
    or None when there is no row (Ozeki's SQL OzML: the result is the next document)."""

    placeholder: str   # the driver's parameter marker: "?" (SQLite) or "%s" (psycopg)

    def query_one(self, sql: str, params: Sequence[str]) -> str | None: ...


class AddressBookNames(Protocol):
    """Contact and list names a script may use as ``<SendSms Recipient>`` or ``<Call>``'s
    number, as the HTTP commands do (``ivr.addressbook.AddressBook`` by shape)."""

    def resolve(self, recipient: str) -> list[str]:
        """A contact's number, a list's members' numbers, or ``[recipient]`` itself."""

    def is_list(self, name: str) -> bool: ...
