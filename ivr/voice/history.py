"""Call history (issue 15 item 4): every call, incoming or placed, written durably when it
ends, behind the small :class:`CallHistory` protocol.

The SQLite implementation keeps its own table, ``call_history``, in the message database
(``[sms] database_url``) through its own connection, so it stands apart from the SMS
store's schema. Each record is committed (WAL, ``synchronous=FULL``) before the call's
end is announced. PostgreSQL is not implemented here yet: with a ``postgresql://`` URL,
:func:`open_call_history` says so and the engine runs without history.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from ivr import local_db
from ivr.call_history import CallHistory, CallQuery, CallRecord

__all__ = ["CallRecord", "CallQuery", "CallHistory", "SqliteCallHistory", "open_call_history"]

log = logging.getLogger(__name__)


_COLUMNS = ("call_id", "direction", "caller", "callee", "script", "started_at",
            "answered_at", "ended_at", "hangup_cause", "recordings")


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS call_history (call_id TEXT PRIMARY KEY, "
    "direction TEXT NOT NULL, caller TEXT NOT NULL, callee TEXT NOT NULL, "
    "script TEXT NOT NULL, started_at REAL NOT NULL, answered_at REAL NOT NULL, "
    "ended_at REAL NOT NULL, hangup_cause TEXT NOT NULL, recordings TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS call_history_started ON call_history (started_at)")


class SqliteCallHistory(local_db.Tables):
    def add(self, record: CallRecord) -> None:
        values = dataclasses.astuple(record)[:-1] + (json.dumps(list(record.recordings)),)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO call_history ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)
            self._db.commit()

    def query(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        where, args = ["1=1"], []
        for column in ("direction", "caller", "callee"):
            value = getattr(query, column)
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if query.since:
            where.append("started_at >= ?")
            args.append(query.since)
        if query.until:
            where.append("started_at < ?")
            args.append(query.until)
        clause = " AND ".join(where)
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM call_history WHERE {clause}",
                                     args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM call_history WHERE {clause} "
                "ORDER BY started_at DESC, call_id LIMIT ? OFFSET ?",
                [*args, query.limit, query.offset]).fetchall()
        return [_record(row) for row in rows], int(total)

    def get(self, call_id: str) -> CallRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM call_history "
                                   "WHERE call_id = ?", (call_id,)).fetchone()
        return _record(row) if row else None


def _record(row: tuple[object, ...]) -> CallRecord:
    (call_id, direction, caller, callee, script, started, answered, ended, cause,
     recordings) = row
    return CallRecord(str(call_id), str(direction), str(caller), str(callee), str(script),
                      float(started), float(answered), float(ended),  # type: ignore[arg-type]
                      str(cause), tuple(json.loads(str(recordings))))


def open_call_history(database_url: str) -> CallHistory | None:
    """The history next to the messages; None (logged) where it is not implemented."""
    db = local_db.connect(database_url, *_SCHEMA)
    if db is None:
        log.warning("call history is not implemented on PostgreSQL yet; calls are not "
                    "recorded in ListCallHistory")
        return None
    return SqliteCallHistory(db)
