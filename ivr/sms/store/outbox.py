"""The outbox role: accept, claim with a lease, renew, and settle outbound messages.

"Accepted" means committed: callers get a message id only after :meth:`DbOutbox.insert`
returned. Claims carry a lease: a worker that dies leaves ``lease_until`` in the past and
the message is claimed again, so nothing is stuck until a restart. Each message has its
own ``next_attempt_at``, so one failing number backs off alone, never head-of-line.

The claim statement is the backend's own: PostgreSQL's ends in ``FOR UPDATE SKIP LOCKED``,
so processes sharing the database never claim the same message and never wait on each
other's rows (``tests/integration/test_postgres_store.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.errors import StoreError
from ivr.sms.ids import canonical_ids
from ivr.sms.message import Message, Status
from ivr.sms.store.callbacks import DbCallbackQueue
from ivr.sms.store.engine import Db, Engine, each
from ivr.sms.store.messages import DbMessageLog
from ivr.sms.store.reports import DbReports
from ivr.sms.store.roles import ChangeHook, Sent
from ivr.sms.store.rows import REPORT_MATCH_WINDOW
from ivr.sms.transports.base import DeliveryReport

__all__ = ["OutboxSql", "DbOutbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSql:
    any_due: str            # {excluded}; now, excluded...: 1 row if anything is due
    claim: str              # {excluded}; now, excluded..., limit: id, in_doubt_since
    excluded: str           # {ids}: the condition added for saturated transports
    lease: str              # worker, lease_until, now, id
    expired: str            # now: id, claimed_by, updated_at of lapsed leases
    hold: str               # next_attempt_at, now, in_doubt_since, id, now
    next_due: str
    renew: str              # {ids}; lease_until, worker, ids...
    part_sent: str          # provider_id, reference, now, now, message_id, idx
    rest_sent: str          # now, now, message_id
    message_sent: str       # transport, now, now, id
    retry: str              # next_attempt_at, now, error, id
    hold_in_doubt: str      # next_attempt_at, now, error, id (a send of unknown outcome)
    release: str            # next_attempt_at, id (gives the attempt back)
    parts_failed: str       # error_code, now, message_id
    message_failed: str     # error_code, error, now, id
    marks: Callable[[int], str]


def _no_callback(message: Message, status: Status) -> None:
    return None


class DbOutbox:
    def __init__(self, engine: Engine, sql: OutboxSql, log: DbMessageLog,
                 reports: DbReports, callbacks: DbCallbackQueue) -> None:
        self._engine = engine
        self._sql = sql
        self._log = log
        self._reports = reports
        self._callbacks = callbacks

    def insert(self, message: Message) -> None:
        now = self._engine.now()
        try:
            with self._engine.tx() as db:
                self._log.write(db, message, now)
                self._log.event(db, message.id, message.status.value, now)
        except StoreError:
            raise
        except Exception as exc:       # the driver's error, whichever backend
            raise StoreError(f"cannot store message {message.id}: {exc}") from None

    def claim_due(self, worker: str, lease_seconds: float, limit: int = 1,
                  exclude: Sequence[str] = (), hook: ChangeHook | None = None,
                  look_first: bool = True) -> list[Message]:
        """Queued messages that are due, marked SENDING and leased to ``worker``.

        ``exclude`` names transports that are saturated right now (window full, rate limit
        reached): their messages stay queued, so a slow modem never ties up the workers
        that could serve an SMPP link (no head-of-line blocking across transports).

        A message whose earlier send was interrupted (see :meth:`hold_interrupted`) is
        first checked against the reports that arrived since: if they account for every
        part it is adopted as sent with their ids (``hook`` queues its callbacks) and
        returned in its new status (SENT or final), which tells the caller not to send it;
        otherwise it is sent again and its history says it may be a duplicate.

        ``look_first``: check on the read connection whether anything is due before taking
        the write lock; a worker whose last claim found work skips it (there is usually
        more, and the check would only add a query).
        """
        now = self._engine.now()
        sql = self._sql
        excluded = sql.excluded.format(ids=sql.marks(len(exclude))) if exclude else ""
        if look_first:
            with self._engine.read() as db:
                # Most claims of idle workers find nothing: find that out without taking
                # the write lock and a commit (a message becomes visible here once it is
                # durable, and whoever made it due wakes the dispatcher after that).
                if db.execute(sql.any_due.format(excluded=excluded),
                              (now, *exclude)).fetchone() is None:
                    return []
        with self._engine.tx() as db:
            rows = db.execute(sql.claim.format(excluded=excluded),
                              (now, *exclude, limit)).fetchall()
            ids: list[str] = []
            for mid, in_doubt_since in rows:
                db.execute(sql.lease, (worker, now + lease_seconds, now, mid))
                detail = f"claimed by {worker}"
                ids.append(mid)
                if in_doubt_since is not None:
                    if self._adopt(db, mid, in_doubt_since, now, hook):
                        continue
                    detail += (": no report accounts for the interrupted send, so it is sent "
                               "again; the peer may already have it (possible duplicate)")
                    log.warning("[sms %s] %s", mid, detail)
                self._log.event(db, mid, "sending", now, detail)
            return [m for m in (self._log.load(db, mid) for mid in ids) if m is not None]

    def _adopt(self, db: Db, message_id: str, since: float, now: float,
               hook: ChangeHook | None) -> bool:
        """Mark an interrupted message sent with the ids of the unmatched reports that
        account for it, in the caller's transaction; False if they do not."""
        adoption = self._reports.adoption(db, message_id, since, now)
        if adoption is None:
            return False
        self._log.event(db, message_id, "sending", now, "the peer reported the interrupted "
                        f"send ({', '.join(p.key for p in adoption.parts)}): adopted as sent, "
                        "not sent again")
        log.info("[sms %s] interrupted send found at %s by its report(s): not sent again",
                 message_id, adoption.transport)
        self._sent(db, Sent(message_id, adoption.transport,
                            [p.provider_id for p in adoption.parts],
                            [p.reference for p in adoption.parts]), hook or _no_callback, now)
        return True

    def hold_interrupted(self, hold: float) -> int:
        """Requeue the messages of workers that died mid-send (their lease ran out), each
        ``hold`` seconds out, and remember when the interrupted send began.

        Whether the peer got such a message is unknown. Sending it at once would duplicate
        every one it did get; instead the peer gets ``hold`` seconds to report it (an SMSC
        re-sends unacknowledged receipts to the next bind), and :meth:`claim_due` adopts
        the message if those reports account for it.
        """
        now = self._engine.now()
        held = 0
        with self._engine.tx() as db:
            for mid, previous, claimed_at in db.execute(self._sql.expired, (now,)).fetchall():
                changed = db.execute(self._sql.hold,
                                     (now + hold, now, claimed_at, mid, now)).rowcount
                if not changed:
                    continue            # another process got there first
                detail = (f"send by {previous} interrupted (its lease ran out): the peer may "
                          f"already have it, so it waits {hold:.0f} s for the peer's report "
                          "before it is sent again")
                self._log.event(db, mid, "queued", now, detail)
                log.warning("[sms %s] %s", mid, detail)
                held += 1
        return held

    def next_due_in(self) -> float | None:
        """Seconds until the next queued message is due (None when nothing waits)."""
        with self._engine.read() as db:
            row = db.execute(self._sql.next_due).fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._engine.now())

    def renew_leases(self, worker: str, message_ids: Sequence[str],
                     lease_seconds: float) -> None:
        """Keep claims alive while their sends still run (a modem sending ten parts, an
        SMSC throttling us): an expired lease would let another worker send the same
        message again."""
        if not message_ids:
            return
        with self._engine.tx() as db:
            db.execute(self._sql.renew.format(ids=self._sql.marks(len(message_ids))),
                       (self._engine.now() + lease_seconds, worker, *message_ids))

    def mark_sent(self, message_id: str, transport: str, provider_ids: list[str],
                  references: list[int | None], hook: ChangeHook) -> list[DeliveryReport]:
        """Record the peer's acceptance; returns reports that had arrived before it."""
        now = self._engine.now()
        with self._engine.tx() as db:
            return self._sent(db, Sent(message_id, transport, provider_ids, references),
                              hook, now)

    def mark_sent_many(self, results: Sequence[Sent],
                       hook: ChangeHook) -> list[list[DeliveryReport] | Exception]:
        """Record many submit results in one transaction (one commit, one fsync).

        Each result is its own savepoint: one that cannot be recorded (its row is gone, a
        constraint) gets its exception in its slot and the others are recorded; the caller
        treats that one as a send whose record failed. If the commit itself fails, this
        raises and none of them is recorded."""
        out: list[list[DeliveryReport] | Exception] = []
        if not results:
            return out
        now = self._engine.now()
        with self._engine.tx() as db:
            for result in results:
                try:
                    with each(db):
                        out.append(self._sent(db, result, hook, now))
                except Exception as exc:
                    log.error("[sms %s] cannot record its submit result: %s",
                              result.message_id, exc)
                    out.append(exc)
        return out

    def _sent(self, db: Db, result: Sent, hook: ChangeHook, now: float) -> list[DeliveryReport]:
        sql = self._sql
        message_id, transport = result.message_id, result.transport
        provider_ids, references = result.provider_ids, result.references
        count = max(len(provider_ids), len(references))
        self._reports.lock_matching(db, transport)
        for idx in range(count):
            given = provider_ids[idx] if idx < len(provider_ids) else ""
            ref = references[idx] if idx < len(references) else None
            db.execute(sql.part_sent, (canonical_ids(given)[0] if given else "", ref, now,
                                       now, message_id, idx))
        db.execute(sql.rest_sent, (now, now, message_id))
        db.execute(sql.message_sent, (transport, now, now, message_id))
        self._callbacks.record_change(db, message_id, Status.SENT, now,
                                      f"accepted by {transport}", hook)
        # Reports that arrived before this commit (fast SMSC, synchronous loopback) are
        # applied in this same transaction: deleting them here and applying them later
        # would lose them to a crash in between.
        early: list[DeliveryReport] = []
        for idx in range(count):
            pid = provider_ids[idx] if idx < len(provider_ids) else ""
            ref = references[idx] if idx < len(references) else None
            early.extend(self._reports.take_unmatched(db, message_id, transport, pid, ref))
        for report in early:
            self._reports.apply_locked(db, report, hook, now, now - REPORT_MATCH_WINDOW)
        return early

    def mark_retry(self, message_id: str, delay: float, error: str) -> None:
        now = self._engine.now()
        with self._engine.tx() as db:
            db.execute(self._sql.retry, (now + delay, now, error, message_id))
            self._log.event(db, message_id, "queued", now, f"retry in {delay:.1f} s: {error}")

    def hold_in_doubt(self, message_id: str, hold: float, error: str) -> None:
        """Requeue a send whose outcome is unknown ``hold`` seconds out, remembering when it
        began, exactly as :meth:`hold_interrupted` does for a dead worker's claim: the
        peer's report then gets the chance to be adopted before anything is resent."""
        now = self._engine.now()
        with self._engine.tx() as db:
            if db.execute(self._sql.hold_in_doubt, (now + hold, now, error, message_id)).rowcount:
                self._log.event(db, message_id, "queued", now,
                                f"outcome unknown ({error}): waits {hold:.0f} s for the "
                                "peer's report before it is sent again")

    def release(self, message_id: str, delay: float = 0.0, reason: str = "") -> None:
        """Give a claimed message back without counting an attempt (graceful shutdown, or
        a transport that is not ready: a modem re-initialising must not use up retries)."""
        now = self._engine.now()
        with self._engine.tx() as db:
            db.execute(self._sql.release, (now + delay, message_id))
            if reason:
                self._log.event(db, message_id, "queued", now,
                                f"released for {delay:.1f} s: {reason}")

    def mark_failed(self, message_id: str, error_code: int, error: str,
                    hook: ChangeHook) -> None:
        now = self._engine.now()
        with self._engine.tx() as db:
            db.execute(self._sql.parts_failed, (error_code, now, message_id))
            db.execute(self._sql.message_failed, (error_code, error, now, message_id))
            self._callbacks.record_change(db, message_id, Status.FAILED, now, error, hook)
