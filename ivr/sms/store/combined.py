"""One backend's roles on one engine: what ``open_store`` returns (the :class:`Store`).

Each role is its own object (``outbox``, ``reports``, ``inbound``, ``callbacks``,
``messages``); a part of the SMS side is handed the role it uses. The methods here only
forward, so the service, the CLI and the contract tests can hold one object for one
database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.sms.message import Message
from ivr.sms.store.callbacks import CallbackQueueSql, DbCallbackQueue
from ivr.sms.store.engine import Engine
from ivr.sms.store.inbound import DbInbound, InboundSql
from ivr.sms.store.messages import DbMessageLog, MessageLogSql
from ivr.sms.store.outbox import DbOutbox, OutboxSql
from ivr.sms.store.reports import DbReports, ReportsSql
from ivr.sms.store.roles import (
    Applied,
    CallbackJob,
    CallbackOutcome,
    ChangeHook,
    MessageQuery,
    Sent,
)
from ivr.sms.store.rows import REPORT_MATCH_WINDOW
from ivr.sms.transports.base import DeliveryReport

__all__ = ["BackendSql", "MessageStore"]


@dataclass(frozen=True)
class BackendSql:
    """Every statement of one backend, by role."""

    log: MessageLogSql
    callbacks: CallbackQueueSql
    reports: ReportsSql
    outbox: OutboxSql
    inbound: InboundSql


class MessageStore:
    def __init__(self, engine: Engine, sql: BackendSql) -> None:
        self.engine = engine
        self.messages = DbMessageLog(engine, sql.log)
        self.callbacks = DbCallbackQueue(engine, sql.callbacks, self.messages)
        self.reports = DbReports(engine, sql.reports, self.messages, self.callbacks)
        self.outbox = DbOutbox(engine, sql.outbox, self.messages, self.reports, self.callbacks)
        self.inbound = DbInbound(engine, sql.inbound, self.messages, self.reports)

    def close(self) -> None:
        self.engine.close()

    # -- MessageLog ----------------------------------------------------------------------
    def get(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    def query(self, q: MessageQuery) -> tuple[list[Message], int]:
        return self.messages.query(q)

    def events(self, message_id: str) -> list[tuple[dt.datetime | None, str, str]]:
        return self.messages.events(message_id)

    # -- Outbox --------------------------------------------------------------------------
    def insert(self, message: Message) -> None:
        self.outbox.insert(message)

    def claim_due(self, worker: str, lease_seconds: float, limit: int = 1,
                  exclude: Sequence[str] = (), hook: ChangeHook | None = None,
                  look_first: bool = True) -> list[Message]:
        return self.outbox.claim_due(worker, lease_seconds, limit, exclude, hook, look_first)

    def hold_interrupted(self, hold: float) -> int:
        return self.outbox.hold_interrupted(hold)

    def next_due_in(self) -> float | None:
        return self.outbox.next_due_in()

    def renew_leases(self, worker: str, message_ids: Sequence[str],
                     lease_seconds: float) -> None:
        self.outbox.renew_leases(worker, message_ids, lease_seconds)

    def mark_sent(self, message_id: str, transport: str, provider_ids: list[str],
                  references: list[int | None], hook: ChangeHook) -> list[DeliveryReport]:
        return self.outbox.mark_sent(message_id, transport, provider_ids, references, hook)

    def mark_sent_many(self, results: Sequence[Sent],
                       hook: ChangeHook) -> list[list[DeliveryReport] | Exception]:
        return self.outbox.mark_sent_many(results, hook)

    def hold_in_doubt(self, message_id: str, hold: float, error: str) -> None:
        self.outbox.hold_in_doubt(message_id, hold, error)

    def mark_retry(self, message_id: str, delay: float, error: str) -> None:
        self.outbox.mark_retry(message_id, delay, error)

    def release(self, message_id: str, delay: float = 0.0, reason: str = "") -> None:
        self.outbox.release(message_id, delay, reason)

    def mark_failed(self, message_id: str, error_code: int, error: str,
                    hook: ChangeHook) -> None:
        self.outbox.mark_failed(message_id, error_code, error, hook)

    # -- Reports -------------------------------------------------------------------------
    def apply_report(self, report: DeliveryReport, hook: ChangeHook,
                     modem_window: float = REPORT_MATCH_WINDOW) -> Message | None:
        return self.reports.apply_report(report, hook, modem_window)

    def apply_reports(self, reports: Sequence[DeliveryReport], hook: ChangeHook,
                      modem_window: float = REPORT_MATCH_WINDOW) -> list[Applied]:
        return self.reports.apply_reports(reports, hook, modem_window)

    def expire_unmatched_reports(self, before: float) -> int:
        return self.reports.expire_unmatched_reports(before)

    # -- Inbound -------------------------------------------------------------------------
    def insert_inbound(self, message: Message, provider_id: str = "") -> bool:
        return self.inbound.insert_inbound(message, provider_id)

    def insert_inbound_part(self, message: Message, reference: int, total: int,
                            sequence: int) -> Message | None:
        return self.inbound.insert_inbound_part(message, reference, total, sequence)

    def flush_inbound_parts(self, before: float,
                            new_id: Callable[[], str]) -> list[Message]:
        return self.inbound.flush_inbound_parts(before, new_id)

    # -- CallbackQueue -------------------------------------------------------------------
    def callbacks_due(self, limit: int = 20) -> list[CallbackJob]:
        return self.callbacks.callbacks_due(limit)

    def next_callback_in(self) -> float | None:
        return self.callbacks.next_callback_in()

    def callback_done(self, job_id: int, state: str = "done", error: str = "",
                      attempt: str = "") -> None:
        self.callbacks.callback_done(job_id, state, error, attempt)

    def callbacks_finish(self, outcomes: Sequence[CallbackOutcome]) -> None:
        self.callbacks.callbacks_finish(outcomes)

    def callback_attempts(self, message_id: str) -> list[tuple[str, float, str]]:
        return self.callbacks.callback_attempts(message_id)

    def callback_retry(self, job_id: int, delay: float, error: str) -> None:
        self.callbacks.callback_retry(job_id, delay, error)

    def callbacks_defer(self, job_ids: Sequence[int], delay: float, reason: str) -> None:
        self.callbacks.callbacks_defer(job_ids, delay, reason)

    def callback_history(self, message_id: str) -> list[tuple[str, str, int, str]]:
        return self.callbacks.callback_history(message_id)

    def depths(self) -> dict[str, int]:
        """Queue depths for /metrics: messages waiting or being sent, callbacks pending."""
        queued, sending = self.messages.depths()
        return {"ivr_store_queued_messages": queued, "ivr_store_sending_messages": sending,
                "ivr_callbacks_pending": self.callbacks.pending_count()}

    def callback_states(self, message_id: str) -> list[tuple[str, str, int]]:
        return self.callbacks.callback_states(message_id)
