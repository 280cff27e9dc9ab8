"""The inbound role: received messages, once each, and durable reassembly of long ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ivr.errors import StoreError
from ivr.sms.ids import canonical_ids
from ivr.sms.message import Direction, Message, Status
from ivr.sms.store.engine import Engine
from ivr.sms.store.messages import DbMessageLog
from ivr.sms.store.reports import DbReports
from ivr.sms.store.rows import ts

__all__ = ["InboundSql", "DbInbound"]


@dataclass(frozen=True)
class InboundSql:
    seen: str           # transport, provider_id: an inbound message already stored
    has_part: str       # transport, sender, reference, total, sequence
    keep_part: str      # transport, sender, recipient, reference, total, sequence, body, now
    set_parts: str      # transport, sender, reference, total: sequence, body, received_at,
                        # recipient, by sequence
    drop_set: str       # transport, sender, reference, total
    stale_sets: str     # before: transport, sender, reference, total


class DbInbound:
    def __init__(self, engine: Engine, sql: InboundSql, log: DbMessageLog,
                 reports: DbReports) -> None:
        self._engine = engine
        self._sql = sql
        self._log = log
        self._reports = reports

    def insert_inbound(self, message: Message, provider_id: str = "") -> bool:
        """Store a received message; ``False`` (nothing stored) for a repeat of one already
        stored with the same transport and provider id — a modem re-delivers +CMT when our
        +CNMA was late, an SMSC re-sends deliver_sm after a lost deliver_sm_resp (§7 #7)."""
        key = canonical_ids(provider_id)[0] if provider_id else ""
        try:
            with self._engine.tx() as db:
                self._reports.lock_matching(db, message.transport)
                if key and db.execute(self._sql.seen,
                                      (message.transport, key)).fetchone() is not None:
                    return False
                self._log.write_received(db, message, key, self._engine.now(),
                                         f"received via {message.transport}")
        except StoreError:
            raise
        except Exception as exc:       # the driver's error, whichever backend
            raise StoreError(f"cannot store inbound message {message.id}: {exc}") from None
        return True

    def insert_inbound_part(self, message: Message, reference: int, total: int,
                            sequence: int) -> Message | None:
        """Keep one part of a concatenated inbound message, durably (the peer was already
        told we have it). The part that completes the set turns them into one stored
        message, in the same transaction, and gets it back; a repeated part changes
        nothing."""
        now = self._engine.now()
        key = (message.transport, message.sender, reference, total)
        try:
            with self._engine.tx() as db:
                self._reports.lock_matching(db, message.transport)
                if db.execute(self._sql.has_part, (*key, sequence)).fetchone() is None:
                    db.execute(self._sql.keep_part,
                               (message.transport, message.sender, message.recipient,
                                reference, total, sequence, message.body, now))
                rows = db.execute(self._sql.set_parts, key).fetchall()
                if len(rows) < total:
                    return None
                db.execute(self._sql.drop_set, key)
                whole = replace(message, body="".join(r[1] for r in rows), segments=total,
                                created_at=ts(rows[0][2]), updated_at=ts(now))
                self._log.write_received(db, whole, "", now,
                                         f"received via {message.transport} in {total} parts "
                                         f"(reference {reference})")
                return whole
        except StoreError:
            raise
        except Exception as exc:       # the driver's error, whichever backend
            raise StoreError(f"cannot store part {sequence}/{total} of an inbound message "
                             f"from {message.sender}: {exc}") from None

    def flush_inbound_parts(self, before: float,
                            new_id: Callable[[], str]) -> list[Message]:
        """Sets still incomplete after the timeout become messages with the parts that did
        arrive, so one lost part never holds the rest back for ever (as on the modem
        path); the message's event names the missing parts."""
        flushed: list[Message] = []
        now = self._engine.now()
        with self._engine.tx() as db:
            for transport, sender, reference, total in db.execute(
                    self._sql.stale_sets, (before,)).fetchall():
                key = (transport, sender, reference, total)
                rows = db.execute(self._sql.set_parts, key).fetchall()
                db.execute(self._sql.drop_set, key)
                missing = sorted(set(range(1, total + 1)) - {r[0] for r in rows})
                when = ts(rows[0][2])
                message = Message(id=new_id(), direction=Direction.INBOUND, sender=sender,
                                  recipient=rows[0][3], body="".join(r[1] for r in rows),
                                  status=Status.RECEIVED, segments=total, created_at=when,
                                  updated_at=when, transport=transport,
                                  source=f"transport:{transport}")
                self._log.write_received(
                    db, message, "", now, f"received via {transport} INCOMPLETE: part(s) "
                    f"{', '.join(map(str, missing))} of {total} never arrived "
                    f"(reference {reference})")
                flushed.append(message)
        return flushed
