"""Call history (issue 15 item 4): every call, incoming or placed, written durably when it
ends, behind the small :class:`~ivr.call_history.CallHistory` protocol.

Its table, ``call_history``, lives in the message database (``[sms] database_url``), SQLite
or PostgreSQL, declared once here and opened through :mod:`ivr.local_db` (the SMS store's
engines; its schema and code stay untouched). Each backend writes its own statements
(``history_sql.py``). A record is committed (fsynced on SQLite, COMMIT on PostgreSQL)
before the call's end is announced, and every process reading the database (the HTTP
workers, ``ivr calls``) sees it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

from ivr import local_db
from ivr.call_history import CallHistory, CallQuery, CallRecord
from ivr.sms.store.schema import Column, Index, Table

__all__ = ["CallRecord", "CallQuery", "CallHistory", "HistorySql", "DbCallHistory",
           "TABLES", "INDEXES", "open_call_history"]

log = logging.getLogger(__name__)

_NN = "NOT NULL"
TABLES = (Table("call_history", (
    Column("call_id", "text", "PRIMARY KEY"), Column("direction", "text", _NN),
    Column("caller", "text", _NN), Column("callee", "text", _NN),
    Column("script", "text", _NN), Column("started_at", "time", _NN),
    Column("answered_at", "time", _NN), Column("ended_at", "time", _NN),
    Column("hangup_cause", "text", _NN),
    Column("recordings", "text", _NN))),)          # a JSON list of file names
INDEXES = (Index("call_history_started", "call_history", ("started_at",)),)
COLUMNS = ", ".join(c.name for c in TABLES[0].columns)


@dataclass(frozen=True)
class HistorySql:
    """Every statement of one backend. ``filters``: CallQuery field -> condition on one
    parameter; ``count`` and ``page`` take the joined conditions as ``{where}``."""

    upsert: str
    select: str
    filters: dict[str, str]
    count: str
    page: str


class DbCallHistory:
    def __init__(self, database: local_db.Database, sql: HistorySql) -> None:
        self._engine = database.engine
        self._database = database
        self._sql = sql

    def add(self, record: CallRecord) -> None:
        values = dataclasses.astuple(record)[:-1] + (json.dumps(list(record.recordings)),)
        with self._engine.tx() as db:
            db.execute(self._sql.upsert, values)

    def query(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        where, args = ["1=1"], []
        for name in ("direction", "caller", "callee", "since", "until"):
            value = getattr(query, name)
            if value:
                where.append(self._sql.filters[name])
                args.append(value)
        clause = " AND ".join(where)
        with self._engine.read() as db:
            total = db.execute(self._sql.count.format(where=clause), args).fetchone()[0]
            rows = db.execute(self._sql.page.format(where=clause),
                              [*args, max(0, query.limit), max(0, query.offset)]).fetchall()
        return [_record(row) for row in rows], int(total)

    def get(self, call_id: str) -> CallRecord | None:
        with self._engine.read() as db:
            row = db.execute(self._sql.select, (call_id,)).fetchone()
        return _record(row) if row else None

    def close(self) -> None:
        self._database.close()


def _record(row: tuple[object, ...]) -> CallRecord:
    (call_id, direction, caller, callee, script, started, answered, ended, cause,
     recordings) = row
    return CallRecord(str(call_id), str(direction), str(caller), str(callee), str(script),
                      float(started), float(answered), float(ended),  # type: ignore[arg-type]
                      str(cause), tuple(json.loads(str(recordings))))


def open_call_history(database_url: str) -> DbCallHistory:
    """The history in the message database, its table created where missing."""
    from ivr.voice.history_sql import HISTORY_SQL

    database = local_db.open_database(database_url, TABLES, INDEXES)
    log.info("call history: %s backend", database.backend)
    return DbCallHistory(database, HISTORY_SQL[database.backend])
