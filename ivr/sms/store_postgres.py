"""PostgreSQL backend of the message store (psycopg 3), on the SQLite store's contract.

The SQL of :mod:`ivr.sms.store` is shared; this module only supplies what differs:

* the schema types (``BIGSERIAL`` for the SQLite ``AUTOINCREMENT`` keys, ``DOUBLE PRECISION``
  for epoch timestamps: PostgreSQL's ``REAL`` is 4 bytes and would round them to minutes),
  and an explicit ``rowid`` sequence column, which SQLite has implicitly and the paging
  query uses as a tie-breaker;
* placeholders (``?`` -> ``%s``) and ``MAX(a, b)`` -> ``GREATEST(a, b)``;
* the claim query gets ``FOR UPDATE SKIP LOCKED``, so several ``ivr serve`` processes on one
  database never claim the same message and never wait on each other's rows.

Within one process, transactions run side by side on a connection pool; matching of reports
to submits (and of inbound parts to each other) takes a per-transport advisory lock, so it
is race-free across connections and across processes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ivr.errors import StoreError
from ivr.sms.store import ADDED_COLUMNS, SQLITE_SCHEMA, SqliteStore

__all__ = ["PostgresStore", "translate"]

log = logging.getLogger(__name__)

def _postgres_schema(sqlite_schema: str) -> str:
    """The SQLite schema in PostgreSQL's dialect, so the two can never drift apart: REAL is
    DOUBLE PRECISION, AUTOINCREMENT keys are BIGSERIAL, and messages gets the explicit
    ``rowid`` that SQLite provides implicitly (paging orders by it)."""
    schema = sqlite_schema.replace("id TEXT PRIMARY KEY, direction",
                                   "id TEXT PRIMARY KEY, rowid BIGSERIAL, direction")
    schema = schema.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", schema)


_SCHEMA = _postgres_schema(SQLITE_SCHEMA)

_CLAIM = re.compile(
    r"^SELECT id(, \w+)* FROM messages WHERE \(?status = 'queued'.*LIMIT \?$", re.S)
_MAX = re.compile(r"\bMAX\(([^,()]+(?:\([^()]*\))?[^,()]*),\s*([^()]+)\)")


def translate(sql: str) -> str:
    """The shared SQLite dialect -> PostgreSQL (pure; tested with a table)."""
    if _CLAIM.match(sql.strip()):
        sql = sql.rstrip() + " FOR UPDATE SKIP LOCKED"
    sql = _MAX.sub(r"GREATEST(\1, \2)", sql)
    return sql.replace("?", "%s")


class _Connection:
    """The sqlite3.Connection subset the shared store uses, over one psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(translate(sql), [tuple(r) for r in rows])


class PostgresStore(SqliteStore):
    """``postgresql://user:password@host:5432/dbname`` on the shared store contract.

    A pool of connections (psycopg_pool, ``[sms] database_pool_size``), so API requests,
    dispatcher workers and report handlers run their transactions side by side; each
    connection is checked before use, so a restarted server costs no failed request.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time, *,
                 connect_timeout: int = 10, pool_size: int = 8) -> None:
        # Deliberately not SqliteStore.__init__: no file, no PRAGMAs.
        self.url = url
        self._now = clock
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
        with self._tx() as db:
            # Two processes starting at once must not race on CREATE ... IF NOT EXISTS.
            db.execute("SELECT pg_advisory_xact_lock(4242001)")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            # Databases of older releases. Not ADD COLUMN IF NOT EXISTS on every start: it
            # takes an exclusive lock even when the column exists, and deadlocks with the
            # transactions of processes already running on the database.
            for table, column, kind in ADDED_COLUMNS:
                if db.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = "
                              "current_schema() AND table_name = ? AND column_name = ?",
                              (table, column)).fetchone() is None:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} "
                               f"{_postgres_schema(kind)}")

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        try:
            with self._pool.connection() as conn:
                yield _Connection(conn)
        except PoolTimeout as exc:
            raise StoreError(f"no PostgreSQL store connection available: {exc}") from None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
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
    def _read(self) -> Iterator[Any]:
        with self._connection() as conn:
            yield conn

    def _serialize_matching(self, db: Any, transport: str) -> None:
        db.execute("SELECT pg_advisory_xact_lock(4242002, hashtext(?))", (transport,))

    def close(self) -> None:
        self._pool.close()

    def reset(self) -> None:
        """Empty every table (tests share one database between cases)."""
        with self._tx() as db:
            db.execute("TRUNCATE messages, parts, events, callbacks, unmatched_reports, "
                       "inbound_parts")
