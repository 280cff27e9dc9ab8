"""The PostgreSQL backend (psycopg 3): a pool of connections, each operation one transaction.

API requests, dispatcher workers and report handlers run their transactions side by side on
the pool (``[sms] database_pool_size``); each connection is checked before use, so a
restarted server costs no failed request. The statements are this backend's own
(``postgres_sql.py``): the claim's ``FOR UPDATE SKIP LOCKED`` and the advisory locks are
written in them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ivr.errors import StoreError
from ivr.sms.store.combined import MessageStore
from ivr.sms.store.engine import Db
from ivr.sms.store.postgres_sql import POSTGRES_SQL, SCHEMA_LOCK, TYPES
from ivr.sms.store.schema import ADDED_COLUMNS, render, render_column

__all__ = ["PostgresEngine", "PostgresStore", "create_missing"]

log = logging.getLogger(__name__)


class _Connection:
    """One pooled psycopg connection as the store's :class:`~ivr.sms.store.engine.Db`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])


def create_missing(db: Db, statements: Iterable[tuple[str, str]]) -> None:
    """Run the (name, CREATE ... IF NOT EXISTS) ``statements`` whose object does not exist
    yet, under the schema lock (two processes starting at once must not race). Only what is
    missing: CREATE INDEX IF NOT EXISTS takes a SHARE lock on its table even when the index
    exists, which deadlocks with the writes of the processes already running (a role
    restarted under load); to_regclass takes no lock."""
    db.execute(SCHEMA_LOCK)
    for name, statement in statements:
        found = db.execute("SELECT to_regclass(%s)", (name,)).fetchone()
        if found is None or found[0] is None:
            db.execute(statement)


class PostgresEngine:
    def __init__(self, url: str, clock: Callable[[], float] = time.time, *,
                 connect_timeout: int = 10, pool_size: int = 8) -> None:
        self.url = url
        self.now = clock
        self._nesting = threading.local()
        try:
            self._pool = ConnectionPool(url, min_size=1, max_size=max(1, pool_size),
                                        kwargs={"autocommit": True,
                                                "connect_timeout": connect_timeout},
                                        check=ConnectionPool.check_connection,
                                        timeout=connect_timeout, open=False,
                                        name="ivr-store")
            self._pool.open(wait=True, timeout=connect_timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"cannot connect to the PostgreSQL message store: {exc}") from None
        with self.tx() as db:
            create_missing(db, render(TYPES))
            # Databases of older releases. Not ADD COLUMN IF NOT EXISTS on every start: it
            # takes an exclusive lock even when the column exists, and deadlocks with the
            # transactions of processes already running on the database.
            for table, _, column in ADDED_COLUMNS:
                if db.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = "
                              "current_schema() AND table_name = %s AND column_name = %s",
                              (table, column.name)).fetchone() is None:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {render_column(column, TYPES)}")

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        try:
            with self._pool.connection() as conn:
                yield _Connection(conn)
        except PoolTimeout as exc:
            raise StoreError(f"no PostgreSQL store connection available: {exc}") from None

    @contextmanager
    def tx(self) -> Iterator[_Connection]:
        current: _Connection | None = getattr(self._nesting, "connection", None)
        if current is not None:
            yield current           # inside another operation of this thread: part of it
            return
        with self._connection() as conn:
            self._nesting.connection = conn
            try:
                conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if not conn.conn.closed and conn.conn.info.transaction_status != 0:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        log.exception("PostgreSQL store: rollback failed")
                raise
            finally:
                self._nesting.connection = None

    @contextmanager
    def read(self) -> Iterator[_Connection]:
        with self._connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()


class PostgresStore(MessageStore):
    """``postgresql://user:password@host:5432/dbname``: the roles on one
    :class:`PostgresEngine` with PostgreSQL's statements."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time, *,
                 connect_timeout: int = 10, pool_size: int = 8) -> None:
        self.postgres = PostgresEngine(url, clock, connect_timeout=connect_timeout,
                                       pool_size=pool_size)
        self.url = url
        super().__init__(self.postgres, POSTGRES_SQL)

    def reset(self) -> None:
        """Empty every table (tests share one database between cases)."""
        with self.postgres.tx() as db:
            db.execute("TRUNCATE messages, parts, events, callbacks, unmatched_reports, "
                       "inbound_parts")
