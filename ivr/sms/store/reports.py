"""The delivery-report role: match a report to a part, aggregate the message's status, keep
what matches nothing yet, and find the reports that account for an interrupted send.

Matching on one transport runs one transaction at a time (``lock_matching``): a report and
the submit result it belongs to, written by concurrent transactions, would not see each
other's rows and neither would match. SQLite has one writer, so its statement is empty;
PostgreSQL takes a transaction-level advisory lock (several connections, several processes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.sms.encoding import split_message
from ivr.sms.ids import canonical_ids
from ivr.sms.message import FINAL_STATUSES, Message, Status
from ivr.sms.reconcile import Adoption, Candidate, assign_parts
from ivr.sms.store.callbacks import DbCallbackQueue
from ivr.sms.store.engine import Db, Engine, each
from ivr.sms.store.messages import DbMessageLog
from ivr.sms.store.roles import Applied, ChangeHook
from ivr.sms.store.rows import EARLY_REPORT_GRACE, REPORT_MATCH_WINDOW, aggregate, spellings, ts
from ivr.sms.transports.base import DeliveryReport

__all__ = ["ReportsSql", "DbReports"]


@dataclass(frozen=True)
class ReportsSql:
    lock_matching: str          # transport; "" when the backend has one writer
    match_by_id: str            # {ids}; forms..., transport
    match_by_reference: str     # reference, transport, recipient, since
    keep_unmatched: str         # transport, provider_id, reference, recipient, status,
                                # error_code, error_text, received_at, raw, text
    part_status: str            # message_id, idx
    set_part_status: str        # status, error_code, now, message_id, idx, message_id, idx
    part_statuses: str          # message_id
    message_status: str         # id
    sent_at: str                # id
    settle: str                 # status, now, error_code, delivered_at, id
    recipient: str              # id
    unmatched_by_id: str        # {ids}; transport, forms...
    unmatched_by_reference: str  # transport, reference, recipient spellings
    drop_unmatched: str         # id
    expire: str                 # before
    to_adopt: str               # id: recipient, body, encoding, transport, segments
    adoptable: str              # recipient spellings, since, settled
    marks: Callable[[int], str]


class DbReports:
    def __init__(self, engine: Engine, sql: ReportsSql, log: DbMessageLog,
                 callbacks: DbCallbackQueue) -> None:
        self._engine = engine
        self._sql = sql
        self._log = log
        self._callbacks = callbacks

    def lock_matching(self, db: Db, transport: str) -> None:
        """Make matching on ``transport`` run one transaction at a time (module doc)."""
        if self._sql.lock_matching:
            db.execute(self._sql.lock_matching, (transport,))

    def apply_report(self, report: DeliveryReport, hook: ChangeHook,
                     modem_window: float = REPORT_MATCH_WINDOW) -> Message | None:
        """Match ``report`` to a part and update the message; None if unmatched (kept)."""
        now = self._engine.now()
        with self._engine.tx() as db:
            self.lock_matching(db, report.transport)
            matched = self.apply_locked(db, report, hook, now, now - modem_window)
            if matched is None:
                return None
            return matched[1] or self._log.load(db, matched[0])

    def apply_reports(self, reports: Sequence[DeliveryReport], hook: ChangeHook,
                      modem_window: float = REPORT_MATCH_WINDOW) -> list[Applied]:
        """Apply many reports in one transaction (one commit), in the order given: two
        reports of one message in a batch update it, and queue its callbacks, in the order
        they arrived. Each report is its own savepoint: one that cannot be stored gets its
        error in its slot (its peer should send it again) and the others are applied. A
        failed commit raises, and none of them is stored."""
        out: list[Applied] = []
        if not reports:
            return out
        now = self._engine.now()
        with self._engine.tx() as db:
            locked: set[str] = set()
            for report in reports:
                if report.transport not in locked:
                    self.lock_matching(db, report.transport)
                    locked.add(report.transport)
                try:
                    with each(db):
                        matched = self.apply_locked(db, report, hook, now, now - modem_window)
                except Exception as exc:
                    out.append(Applied(error=exc))
                    continue
                out.append(Applied() if matched is None else Applied(*matched))
        return out

    def apply_locked(self, db: Db, report: DeliveryReport, hook: ChangeHook, now: float,
                     since: float) -> tuple[str, Message | None] | None:
        """Apply ``report`` in the caller's transaction: (message id, the message if the
        report made it final), or None when it matched nothing (kept)."""
        sql = self._sql
        part = self._match(db, report, since)
        if part is None:
            # Kept until matched or older than the matching window (Jasmin keeps 86400 s,
            # gammu pairs within 600 s); expire_unmatched_reports() drops the old ones.
            db.execute(sql.keep_unmatched,
                       (report.transport, canonical_ids(report.provider_id)[0]
                        if report.provider_id else "", report.reference, report.recipient,
                        report.status.value, report.error_code, report.error_text, now,
                        report.raw, report.text))
            return None
        message_id, idx = part
        previous = Status(db.execute(sql.part_status, (message_id, idx)).fetchone()[0])
        if previous in FINAL_STATUSES:
            # A repeated receipt (SMSC retransmission) must not flip a final part.
            self._log.event(db, message_id, report.status.value, now,
                            f"part {idx + 1}: repeated report ignored (already "
                            f"{previous.value})")
            return message_id, None
        # HTTP providers give one id for the whole message, stored on every part: the report
        # then covers each part with that id (SMPP/modem parts have their own ids/references).
        db.execute(sql.set_part_status, (report.status.value, report.error_code, now,
                                         message_id, idx, message_id, idx))
        statuses = [Status(r[0]) for r in db.execute(sql.part_statuses, (message_id,))]
        current = Status(db.execute(sql.message_status, (message_id,)).fetchone()[0])
        new = aggregate(statuses)
        if new != current and current not in FINAL_STATUSES and new in FINAL_STATUSES:
            delivered_at = None
            if new == Status.DELIVERED:
                # The SMSC's "done date" has one-minute resolution and the SMSC's clock; when
                # it lands before our own send time, the time the report arrived is truer.
                sent_at = db.execute(sql.sent_at, (message_id,)).fetchone()[0]
                done = report.done_at.timestamp() if report.done_at else now
                delivered_at = done if sent_at is None or done >= sent_at else now
            error_code = None if new == Status.DELIVERED else (report.error_code or 30008)
            db.execute(sql.settle, (new.value, now, error_code, delivered_at, message_id))
            loaded = self._callbacks.record_change(db, message_id, new, now,
                                                   report.error_text or report.raw[:200], hook)
            return message_id, loaded or self._log.load(db, message_id)
        return message_id, None

    def _match(self, db: Db, report: DeliveryReport, since: float) -> tuple[str, int] | None:
        if report.provider_id:
            forms = canonical_ids(report.provider_id)
            row = db.execute(self._sql.match_by_id.format(ids=self._sql.marks(len(forms))),
                             (*forms, report.transport)).fetchone()
            if row is not None:
                return str(row[0]), int(row[1])
        if report.reference is not None:
            # Modem TP-MR wraps at 255: the newest unfinished part to this recipient wins.
            row = db.execute(self._sql.match_by_reference,
                             (report.reference, report.transport, report.recipient,
                              since)).fetchone()
            if row is not None:
                return str(row[0]), int(row[1])
        return None

    def take_unmatched(self, db: Db, message_id: str, transport: str, provider_id: str,
                       reference: int | None) -> list[DeliveryReport]:
        """Remove and return the stored early reports for one part."""
        rows: list[Any] = []
        if provider_id:
            forms = canonical_ids(provider_id)
            rows = db.execute(self._sql.unmatched_by_id.format(ids=self._sql.marks(len(forms))),
                              (transport, *forms)).fetchall()
        elif reference is not None:
            recipient = db.execute(self._sql.recipient, (message_id,)).fetchone()[0]
            rows = db.execute(self._sql.unmatched_by_reference,
                              (transport, reference, *spellings(recipient))).fetchall()
        for row in rows:
            db.execute(self._sql.drop_unmatched, (row[0],))
        return [DeliveryReport(transport=row[1], provider_id=row[2], reference=row[3],
                               recipient=row[4], status=Status(row[5]), error_code=row[6],
                               error_text=row[7], done_at=ts(row[8]), raw=row[9],
                               text=row[10])
                for row in rows]

    def adoption(self, db: Db, message_id: str, since: float, now: float) -> Adoption | None:
        """The unmatched reports that account for every part of an interrupted send
        (reconcile.py), or None."""
        recipient, body, encoding, transport, segments = db.execute(
            self._sql.to_adopt, (message_id,)).fetchone()
        # Reports younger than this may still be the early reports of a send in progress,
        # about to be taken by its own mark_sent: never adopt another message's report.
        settled = now - EARLY_REPORT_GRACE
        rows = db.execute(self._sql.adoptable,
                          (*spellings(recipient), since, settled)).fetchall()
        if not rows:
            return None
        try:
            texts = split_message(str(body), str(encoding)).parts
        except ValueError:
            return None
        if len(texts) != segments:      # not split the way we split text: cannot tell parts
            return None
        candidates = [Candidate(str(t), str(pid), ref, str(text or ""))
                      for t, pid, ref, text in rows if pid or ref is not None]
        return assign_parts(texts, candidates, str(transport))

    def expire_unmatched_reports(self, before: float) -> int:
        """Drop reports that nothing matched within the window (Jasmin keeps 86400 s)."""
        with self._engine.tx() as db:
            return int(db.execute(self._sql.expire, (before,)).rowcount)
