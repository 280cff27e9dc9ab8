"""What each part of the SMS side needs from the store: one small Protocol per role.

The dispatcher takes an :class:`Outbox`, the callback sender a :class:`CallbackQueue`, the
service's report and inbound paths :class:`Reports` and :class:`Inbound`, the API and CLI a
:class:`MessageLog`. :class:`Store` is all of them, what a backend provides
(``SqliteStore``, ``PostgresStore``); the contract tests in ``tests/unit/sms/test_store.py``
run on both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport

__all__ = ["ChangeHook", "MessageQuery", "CallbackJob", "Sent", "Applied", "CallbackOutcome", "MessageLog", "Outbox", "Reports",
           "Inbound", "CallbackQueue", "Store"]

# (message after the change, new status) -> (url, method, params) to call back, or None.
# Called only for messages that have a callback URL (the others cost no Message build).
ChangeHook = Callable[[Message, Status], "tuple[str, str, dict[str, str]] | None"]


@dataclass
class MessageQuery:
    owner: str | None = None
    recipient: str | None = None
    sender: str | None = None
    status: str | None = None
    direction: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sort: str = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int = 50
    after_id: str | None = None


@dataclass(frozen=True)
class CallbackJob:
    id: int
    message_id: str
    status: str
    url: str
    method: str
    params: dict[str, str]
    attempts: int
    created_at: float
    owner: str = ""          # the message's owner: receivers' health is kept per owner


@dataclass(frozen=True)
class Sent:
    """A submit result to record: what the peer accepted for one message."""

    message_id: str
    transport: str
    provider_ids: list[str]
    references: list[int | None]


@dataclass(frozen=True)
class Applied:
    """What one delivery report of a batch did: the message it matched (None: kept
    unmatched until its submit result arrives), whether it made that message final, or
    the error that kept it from being stored (the peer should send it again)."""

    message_id: str | None = None
    final: Message | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    """How one callback attempt ended, to be recorded: ``state`` "done", "failed" or
    "refused" ends the job; "retry" makes it due again ``delay`` seconds later.
    ``attempt`` (else ``error``) is what the attempt got, kept in its history."""

    job_id: int
    state: str
    error: str = ""
    attempt: str = ""
    delay: float = 0.0


class MessageLog(Protocol):
    """Reading messages and their history (API views, ``ivr sms``)."""

    def get(self, message_id: str) -> Message | None: ...
    def query(self, q: MessageQuery) -> tuple[list[Message], int]: ...
    def events(self, message_id: str) -> list[tuple[dt.datetime | None, str, str]]: ...


class Outbox(Protocol):
    """Accepting, claiming, leasing and settling outbound messages (service, dispatcher)."""

    def insert(self, message: Message) -> None: ...
    def claim_due(self, worker: str, lease_seconds: float, limit: int = 1,
                  exclude: Sequence[str] = (), hook: ChangeHook | None = None,
                  look_first: bool = True) -> list[Message]: ...
    def hold_interrupted(self, hold: float) -> int: ...
    def next_due_in(self) -> float | None: ...
    def renew_leases(self, worker: str, message_ids: Sequence[str],
                     lease_seconds: float) -> None: ...
    def mark_sent(self, message_id: str, transport: str, provider_ids: list[str],
                  references: list[int | None], hook: ChangeHook) -> list[DeliveryReport]: ...
    def mark_sent_many(self, results: Sequence[Sent],
                       hook: ChangeHook) -> list[list[DeliveryReport] | Exception]: ...
    def mark_retry(self, message_id: str, delay: float, error: str) -> None: ...
    def hold_in_doubt(self, message_id: str, hold: float, error: str) -> None: ...
    def release(self, message_id: str, delay: float = 0.0, reason: str = "") -> None: ...
    def mark_failed(self, message_id: str, error_code: int, error: str,
                    hook: ChangeHook) -> None: ...


class Reports(Protocol):
    """Delivery reports: matched to a part, or kept until their submit result arrives."""

    def apply_report(self, report: DeliveryReport, hook: ChangeHook,
                     modem_window: float = ...) -> Message | None: ...
    def apply_reports(self, reports: Sequence[DeliveryReport], hook: ChangeHook,
                      modem_window: float = ...) -> list[Applied]: ...
    def expire_unmatched_reports(self, before: float) -> int: ...


class Inbound(Protocol):
    """Received messages, with durable reassembly of concatenated ones."""

    def insert_inbound(self, message: Message, provider_id: str = "") -> bool: ...
    def insert_inbound_part(self, message: Message, reference: int, total: int,
                            sequence: int) -> Message | None: ...
    def flush_inbound_parts(self, before: float,
                            new_id: Callable[[], str]) -> list[Message]: ...


class CallbackQueue(Protocol):
    """The durable queue of status callbacks (the callback sender)."""

    def callbacks_due(self, limit: int = 20) -> list[CallbackJob]: ...
    def next_callback_in(self) -> float | None: ...
    def callback_done(self, job_id: int, state: str = "done", error: str = "",
                      attempt: str = "") -> None: ...
    def callback_retry(self, job_id: int, delay: float, error: str) -> None: ...
    def callbacks_finish(self, outcomes: Sequence[CallbackOutcome]) -> None: ...
    def callbacks_defer(self, job_ids: Sequence[int], delay: float, reason: str) -> None: ...
    def callback_states(self, message_id: str) -> list[tuple[str, str, int]]: ...
    def callback_history(self, message_id: str) -> list[tuple[str, str, int, str]]: ...
    def callback_attempts(self, message_id: str) -> list[tuple[str, float, str]]: ...


class Store(MessageLog, Outbox, Reports, Inbound, CallbackQueue, Protocol):
    """Every role on one database (what ``open_store`` returns)."""

    def depths(self) -> dict[str, int]: ...

    def close(self) -> None: ...
