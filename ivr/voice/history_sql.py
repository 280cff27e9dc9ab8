"""The call history's statements, one set per backend (nothing translates SQL)."""

from __future__ import annotations

from ivr.local_db import POSTGRES, SQLITE
from ivr.voice.history import COLUMNS, HistorySql

__all__ = ["HISTORY_SQL"]

_ORDER = "ORDER BY started_at DESC, call_id"

HISTORY_SQL = {
    SQLITE: HistorySql(
        upsert=f"INSERT OR REPLACE INTO call_history ({COLUMNS}) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        select=f"SELECT {COLUMNS} FROM call_history WHERE call_id = ?",
        filters={"direction": "direction = ?", "caller": "caller = ?", "callee": "callee = ?",
                 "since": "started_at >= ?", "until": "started_at < ?"},
        count="SELECT COUNT(*) FROM call_history WHERE {where}",
        page=f"SELECT {COLUMNS} FROM call_history WHERE {{where}} {_ORDER} LIMIT ? OFFSET ?"),
    POSTGRES: HistorySql(
        # A record is written once, at the call's end; a second write for the same call
        # (a replayed end) replaces it, as SQLite's INSERT OR REPLACE does.
        upsert=f"INSERT INTO call_history ({COLUMNS}) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (call_id) DO "
               "UPDATE SET direction = excluded.direction, caller = excluded.caller, "
               "callee = excluded.callee, script = excluded.script, "
               "started_at = excluded.started_at, answered_at = excluded.answered_at, "
               "ended_at = excluded.ended_at, hangup_cause = excluded.hangup_cause, "
               "recordings = excluded.recordings",
        select=f"SELECT {COLUMNS} FROM call_history WHERE call_id = %s",
        filters={"direction": "direction = %s", "caller": "caller = %s",
                 "callee": "callee = %s", "since": "started_at >= %s",
                 "until": "started_at < %s"},
        count="SELECT COUNT(*) FROM call_history WHERE {where}",
        page=f"SELECT {COLUMNS} FROM call_history WHERE {{where}} {_ORDER} "
             "LIMIT %s OFFSET %s"),
}
