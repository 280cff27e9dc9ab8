"""A table set of its own in the message database (``[sms] database_url``), on its own
SQLite connection: what the call history and the address book share.

Each caller keeps its tables to itself, so the SMS store's schema and code stay untouched.
PostgreSQL is not implemented for them yet: :func:`connect` returns None there.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ivr.errors import ConfigError

__all__ = ["connect", "Tables"]


class Tables:
    """Holds one connection and the lock every use of it takes (sqlite3 objects are not
    safe to share between threads unguarded)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def connect(database_url: str, *schema: str) -> sqlite3.Connection | None:
    """WAL, ``synchronous=FULL`` (a commit survives a power cut), ``schema`` applied;
    None for PostgreSQL; ConfigError for anything else."""
    if database_url.startswith(("postgresql://", "postgres://")):
        return None
    if not database_url.startswith("sqlite:///"):
        raise ConfigError(f"[sms] database_url {database_url!r}: use sqlite:///PATH or "
                          "postgresql://…")
    path = database_url[len("sqlite:///"):]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for statement in schema:
        db.execute(statement)
    db.commit()
    return db
