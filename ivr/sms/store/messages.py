"""The message log role: reading messages, their parts and history; writing new rows.

The other roles write messages through :class:`DbMessageLog` too (``write``, ``event``,
``load``), inside their own transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.sms.message import Message
from ivr.sms.store.engine import Db, Engine
from ivr.sms.store.roles import MessageQuery
from ivr.sms.store.rows import message_from_row, message_row, ts

__all__ = ["MessageLogSql", "DbMessageLog", "SORTABLE"]

SORTABLE = frozenset({"created_at", "sender", "recipient", "direction", "status", "updated_at"})


@dataclass(frozen=True)
class MessageLogSql:
    insert_message: str         # MESSAGE_COLUMNS + next_attempt_at
    insert_part: str            # message_id, idx, status
    insert_received_part: str   # message_id, provider_id, status, submitted_at, updated_at
    insert_event: str           # message_id, status, at, detail
    select_message: str         # MESSAGE_COLUMNS by id
    select_parts: str
    select_events: str
    filters: Mapping[str, str]  # MessageQuery field -> condition with one parameter
    count: str                  # {where}
    anchor: str                 # {sort}: the paging anchor's sort value and rowid
    after: Mapping[bool, str]   # descending -> condition on ({sort}, rowid)
    page: str                   # {where} {sort} {order}; then limit, offset
    depths: str                 # how many messages are queued, how many being sent


class DbMessageLog:
    def __init__(self, engine: Engine, sql: MessageLogSql) -> None:
        self._engine = engine
        self._sql = sql

    # -- used by the other roles, inside their transactions ------------------------------
    def load(self, db: Db, message_id: str) -> Message | None:
        row = db.execute(self._sql.select_message, (message_id,)).fetchone()
        if row is None:
            return None
        return message_from_row(row, db.execute(self._sql.select_parts, (row[0],)))

    def write(self, db: Db, message: Message, now: float) -> None:
        """The message row and its parts (queued, no provider id yet)."""
        db.execute(self._sql.insert_message, (*message_row(message), now))
        db.executemany(self._sql.insert_part,
                       [(message.id, p.index, p.status.value) for p in message.parts])

    def write_received(self, db: Db, message: Message, provider_id: str, now: float,
                       detail: str) -> None:
        """A received message: its row, its one part (with the peer's id), its event."""
        db.execute(self._sql.insert_message, (*message_row(message), now))
        db.execute(self._sql.insert_received_part,
                   (message.id, provider_id, message.status.value, now, now))
        self.event(db, message.id, message.status.value, now, detail)

    def event(self, db: Db, message_id: str, status: str, now: float, detail: str = "") -> None:
        db.execute(self._sql.insert_event, (message_id, status, now, detail))

    # -- MessageLog ----------------------------------------------------------------------
    def get(self, message_id: str) -> Message | None:
        with self._engine.read() as db:
            return self.load(db, message_id)

    def depths(self) -> tuple[int, int]:
        """(queued, sending) right now, for the queue-depth gauges."""
        with self._engine.read() as db:
            queued, sending = db.execute(self._sql.depths).fetchone()
        return int(queued or 0), int(sending or 0)

    def query(self, q: MessageQuery) -> tuple[list[Message], int]:
        where: list[str] = ["1=1"]
        args: list[object] = []
        for name, value in (("owner", q.owner), ("recipient", q.recipient),
                            ("sender", q.sender), ("status", q.status),
                            ("direction", q.direction),
                            ("created_from", q.created_from and q.created_from.timestamp()),
                            ("created_to", q.created_to and q.created_to.timestamp())):
            if value is not None:
                where.append(self._sql.filters[name])
                args.append(value)
        sort = q.sort if q.sort in SORTABLE else "created_at"
        order = "DESC" if q.descending else "ASC"
        with self._engine.read() as db:
            total = db.execute(self._sql.count.format(where=" AND ".join(where)),
                               args).fetchone()[0]
            if q.after_id:
                anchor = db.execute(self._sql.anchor.format(sort=sort),
                                    (q.after_id,)).fetchone()
                if anchor is not None:
                    where.append(self._sql.after[q.descending].format(sort=sort))
                    args.extend(anchor)
            rows = db.execute(self._sql.page.format(where=" AND ".join(where), sort=sort,
                                                    order=order),
                              [*args, max(0, q.limit), max(0, q.offset)]).fetchall()
            return ([message_from_row(row, db.execute(self._sql.select_parts, (row[0],)))
                     for row in rows], int(total))

    def events(self, message_id: str) -> list[tuple[dt.datetime | None, str, str]]:
        with self._engine.read() as db:
            return [(ts(at), str(status), str(detail))
                    for at, status, detail in db.execute(self._sql.select_events,
                                                         (message_id,))]
