"""Tables of our own in the message database (``[sms] database_url``), on SQLite or
PostgreSQL: what the call history and the address book share.

They follow the SMS store's conventions without touching its schema or code: each caller
declares its tables once (:class:`~ivr.sms.store.schema.Table`, rendered with each backend's
column types) and writes its SQL per backend; the connections are the store's own engine
classes (:class:`~ivr.sms.store.sqlite.SqliteEngine`: WAL, ``synchronous=FULL``, group
commit; :class:`~ivr.sms.store.postgres.PostgresEngine`: a pool, one transaction per
operation), so a record is durable when ``tx()`` returns on either backend.

Their CREATE statements come from the store's own renderer (``schema.render``), and on
PostgreSQL the store's ``create_missing`` runs them: only missing objects, under the schema
lock (``CREATE INDEX IF NOT EXISTS`` takes a SHARE lock on its table even when the index
exists, which deadlocks with the writes of processes already running).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ivr.errors import ConfigError
from ivr.sms.store.engine import Db, Engine
from ivr.sms.store.schema import Index, Table, render

__all__ = ["SQLITE", "POSTGRES", "Database", "open_database", "backend_of"]

SQLITE, POSTGRES = "sqlite", "postgres"
# A small pool per use: these tables see one write per call and a few reads.
_POOL_SIZE = 2


@dataclass(frozen=True)
class Database:
    """One engine on the message database and which backend it is (to pick the SQL)."""

    engine: Engine
    backend: str                    # SQLITE | POSTGRES

    def close(self) -> None:
        self.engine.close()


def backend_of(database_url: str) -> str:
    if database_url.startswith(("postgresql://", "postgres://")):
        return POSTGRES
    if database_url.startswith("sqlite:///"):
        return SQLITE
    raise ConfigError(f"[sms] database_url {database_url!r}: use sqlite:///PATH or "
                      "postgresql://user:password@host/dbname")


def _types(backend: str) -> dict[str, str]:
    if backend == POSTGRES:
        from ivr.sms.store.postgres_sql import TYPES as POSTGRES_TYPES

        return POSTGRES_TYPES
    from ivr.sms.store.sqlite_sql import TYPES as SQLITE_TYPES

    return SQLITE_TYPES


def open_database(database_url: str, tables: Sequence[Table],
                  indexes: Sequence[Index] = ()) -> Database:
    """An engine on ``database_url`` with ``tables`` and ``indexes`` created where missing.
    StoreError when the database cannot be opened or reached."""
    backend = backend_of(database_url)
    engine: Engine
    if backend == POSTGRES:
        from ivr.sms.store.postgres import PostgresEngine  # psycopg only when configured

        engine = PostgresEngine(database_url, time.time, pool_size=_POOL_SIZE)
    else:
        from ivr.sms.store.sqlite import SqliteEngine

        engine = SqliteEngine(database_url[len("sqlite:///"):], time.time)
    try:
        with engine.tx() as db:
            _create_missing(db, backend, render(_types(backend), tables, indexes))
    except BaseException:
        engine.close()
        raise
    return Database(engine, backend)


def _create_missing(db: Db, backend: str, statements: list[tuple[str, str]]) -> None:
    if backend == POSTGRES:
        from ivr.sms.store.postgres import create_missing  # psycopg only when configured

        create_missing(db, statements)
        return
    for _, statement in statements:     # SQLite has one writer: IF NOT EXISTS is enough
        db.execute(statement)
