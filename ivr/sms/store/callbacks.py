"""The callback queue role: durable status callbacks, queued with the change they report.

A status change and the callback it triggers are written in one transaction
(:meth:`DbCallbackQueue.record_change`), so a crash can neither lose a callback nor send one
for a change that was rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.sms.message import Message, Status
from ivr.sms.store.engine import Db, Engine
from ivr.sms.store.messages import DbMessageLog
from ivr.sms.store.roles import CallbackJob, CallbackOutcome, ChangeHook

__all__ = ["CallbackQueueSql", "DbCallbackQueue"]


@dataclass(frozen=True)
class CallbackQueueSql:
    callback_url: str       # the message's callback_url, by id
    enqueue: str            # message_id, status, url, method, params, next_attempt_at, created_at
    due: str                # now, limit: each message's oldest pending job only
    next_due: str
    done: str               # state, error, id
    retry: str              # next_attempt_at, error, id
    defer: str              # {ids}; next_attempt_at, reason, ids...
    states: str
    history: str            # message_id: status, state, attempts, last_error per job
    pending: str            # how many jobs wait
    attempt: str            # callback_id, at, result: one attempt and what it got
    attempts: str           # message_id: status reported, at, result per attempt
    marks: Callable[[int], str]   # n parameters for an IN list


class DbCallbackQueue:
    def __init__(self, engine: Engine, sql: CallbackQueueSql, log: DbMessageLog) -> None:
        self._engine = engine
        self._sql = sql
        self._log = log

    def record_change(self, db: Db, message_id: str, status: Status, now: float, detail: str,
                      hook: ChangeHook) -> Message | None:
        """The event of a status change and, when the message asked for one, its callback,
        in the caller's transaction; the message as loaded for its callback (None when it
        has no callback URL), so the caller need not load it again."""
        self._log.event(db, message_id, status.value, now, detail)
        row = db.execute(self._sql.callback_url, (message_id,)).fetchone()
        if row is None or not row[0]:
            return None
        message = self._log.load(db, message_id)
        callback = hook(message, status) if message is not None else None
        if callback is not None:
            url, method, params = callback
            db.execute(self._sql.enqueue,
                       (message_id, status.value, url, method, json.dumps(params), now, now))
        return message

    def callbacks_due(self, limit: int = 20) -> list[CallbackJob]:
        """Due jobs, each the oldest pending one of its message: an application hears
        "sent" before "delivered" even when "sent" needed retries."""
        now = self._engine.now()
        with self._engine.read() as db:
            rows = db.execute(self._sql.due, (now, limit)).fetchall()
        return [CallbackJob(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8])
                for r in rows]

    def next_callback_in(self) -> float | None:
        with self._engine.read() as db:
            row = db.execute(self._sql.next_due).fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._engine.now())

    def callback_done(self, job_id: int, state: str = "done", error: str = "",
                      attempt: str = "") -> None:
        """The job ends (``state``); ``attempt`` (else ``error``) is what its last attempt
        got, kept in the job's attempt history."""
        self.callbacks_finish([CallbackOutcome(job_id, state, error, attempt)])

    def callback_retry(self, job_id: int, delay: float, error: str) -> None:
        self.callbacks_finish([CallbackOutcome(job_id, "retry", error, delay=delay)])

    def callbacks_finish(self, outcomes: Sequence[CallbackOutcome]) -> None:
        """Record many attempts' outcomes in one transaction (one commit): the callback
        senders' results of a moment, instead of a commit each."""
        if not outcomes:
            return
        now = self._engine.now()
        with self._engine.tx() as db:
            for o in outcomes:
                if o.state == "retry":
                    db.execute(self._sql.retry, (now + o.delay, o.error, o.job_id))
                else:
                    db.execute(self._sql.done, (o.state, o.error, o.job_id))
                db.execute(self._sql.attempt, (o.job_id, now, o.attempt or o.error or o.state))

    def callback_attempts(self, message_id: str) -> list[tuple[str, float, str]]:
        """Every attempt of the message's callbacks, in order: (status reported, at,
        result: "HTTP 200", "ConnectionRefusedError: …", "refused: …")."""
        with self._engine.read() as db:
            return [(str(status), float(at), str(result)) for status, at, result in
                    db.execute(self._sql.attempts, (message_id,))]

    def callbacks_defer(self, job_ids: Sequence[int], delay: float, reason: str) -> None:
        """Move due jobs later without an attempt (their receiver is known to be down), all
        in one statement: cheap, and it keeps them from blocking other receivers' jobs."""
        if not job_ids:
            return
        with self._engine.tx() as db:
            db.execute(self._sql.defer.format(ids=self._sql.marks(len(job_ids))),
                       (self._engine.now() + delay, reason, *job_ids))

    def callback_states(self, message_id: str) -> list[tuple[str, str, int]]:
        with self._engine.read() as db:
            return [(str(s), str(state), int(n))
                    for s, state, n in db.execute(self._sql.states, (message_id,))]

    def callback_history(self, message_id: str) -> list[tuple[str, str, int, str]]:
        """(status reported, state, attempts, last attempt's result) per callback job."""
        with self._engine.read() as db:
            return [(str(s), str(state), int(n), str(error)) for s, state, n, error in
                    db.execute(self._sql.history, (message_id,))]

    def pending_count(self) -> int:
        with self._engine.read() as db:
            return int(db.execute(self._sql.pending).fetchone()[0] or 0)
