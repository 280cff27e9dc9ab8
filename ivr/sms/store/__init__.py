"""The durable message store, by role (see ``roles.py``), on SQLite or PostgreSQL.

| module | job |
|---|---|
| ``roles.py`` | the role Protocols (``Outbox``, ``Reports``, ``Inbound``, ``CallbackQueue``, ``MessageLog``, ``Store``) and their values |
| ``engine.py`` | the engine seam: transactions, the read side, the clock |
| ``schema.py`` | the tables, declared once; each backend renders them in its own types |
| ``rows.py`` | pure: message <-> row, status aggregation, matching windows |
| ``messages.py`` · ``outbox.py`` · ``reports.py`` · ``inbound.py`` · ``callbacks.py`` | one role each, running its backend's statements through an engine |
| ``sqlite.py`` + ``sqlite_sql.py`` | SQLite: group commit, a read connection; its statements |
| ``postgres.py`` + ``postgres_sql.py`` | PostgreSQL: a pool; its statements (``FOR UPDATE SKIP LOCKED``, advisory locks) |
| ``combined.py`` | one backend's roles on one engine (``MessageStore``) |
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ivr.errors import ConfigError
from ivr.sms.ids import canonical_ids
from ivr.sms.store.combined import MessageStore
from ivr.sms.store.roles import (
    Applied,
    CallbackJob,
    CallbackOutcome,
    CallbackQueue,
    ChangeHook,
    Inbound,
    MessageLog,
    MessageQuery,
    Outbox,
    Reports,
    Sent,
    Store,
)
from ivr.sms.store.rows import EARLY_REPORT_GRACE, REPORT_MATCH_WINDOW
from ivr.sms.store.schema import ADDED_COLUMNS
from ivr.sms.store.sqlite import SqliteStore

__all__ = ["ADDED_COLUMNS", "Applied", "CallbackJob", "CallbackOutcome", "CallbackQueue", "ChangeHook", "EARLY_REPORT_GRACE",
           "Inbound", "MessageLog", "MessageQuery", "MessageStore", "Outbox",
           "REPORT_MATCH_WINDOW", "Reports", "Sent", "SqliteStore", "Store", "canonical_ids",
           "open_store"]


def open_store(database_url: str, pool_size: int = 8,
               clock: Callable[[], float] = time.time) -> MessageStore:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``postgresql://...``
    (``pool_size`` connections per process); ``clock`` stamps what is stored (the service's
    ``Clock.now``, so store and service agree on the time)."""
    if database_url.startswith(("postgresql://", "postgres://")):
        from ivr.sms.store.postgres import PostgresStore  # psycopg only when configured

        return PostgresStore(database_url, clock, pool_size=pool_size)
    if database_url.startswith("sqlite:///"):
        return SqliteStore(database_url[len("sqlite:///"):], clock)
    raise ConfigError(f"[sms] database_url {database_url!r}: use sqlite:///PATH or "
                      "postgresql://user:password@host/dbname")
