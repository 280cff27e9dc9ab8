"""The embedded backend: one SQLite file in WAL mode, ``synchronous=FULL``.

Writes go through one connection under a lock, with group commit (see
:meth:`SqliteEngine.tx`); reads use a second connection, so they never wait for a commit's
fsync and never see an operation that is not yet durable.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ivr.errors import StoreError
from ivr.sms.store.combined import MessageStore
from ivr.sms.store.schema import ADDED_COLUMNS, render, render_column
from ivr.sms.store.sqlite_sql import SQLITE_SQL, TYPES

__all__ = ["SqliteEngine", "SqliteStore"]

log = logging.getLogger(__name__)

BUSY_WAIT = 30.0        # seconds a write waits for another process's lock before failing


class SqliteEngine:
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.now = clock
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._commits = threading.Condition()
        self._batch = 0              # the transaction that new operations join
        self._durable = -1           # the newest batch whose COMMIT has returned
        self._committing = False
        self._failed: dict[int, str] = {}   # batch -> why its COMMIT failed
        self._nesting = threading.local()
        try:
            self._create_private()
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            for _, statement in render(TYPES):
                self._db.execute(statement)
            self._add_columns(self._db)
            # From here the writer waits for another process's write lock itself
            # (_begin): SQLite's busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries,
            # so an HTTP worker's insert stalled up to 100 ms behind one commit of the SMS
            # core that took 2 ms (p99 0.3-1.1 s under load).
            self._db.execute("PRAGMA busy_timeout = 0")
            self._reader = sqlite3.connect(self.path, check_same_thread=False,
                                           isolation_level=None, timeout=30)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the message store {self.path}: {exc}") from None

    def _create_private(self) -> None:
        """A new database and a new directory for it are this user's only (0600, 0700):
        messages are personal data. SQLite gives the -wal and -shm files the database
        file's mode."""
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.parent.chmod(0o700)       # mkdir's mode is filtered by the umask
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        """Bring a database made by an older release up to :data:`ADDED_COLUMNS`."""
        for table, _, column in ADDED_COLUMNS:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column.name not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {render_column(column, TYPES)}")
                log.info("message store: added column %s.%s", table, column.name)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection that sees committed data only."""
        with self._read_lock:
            yield self._reader

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic operation, durable (committed and fsynced) when the block exits.

        Group commit: operations from concurrent threads join one open transaction, each in
        its own SAVEPOINT (a failing operation undoes only itself), and the first of them to
        finish commits for all. Under load one fsync covers many API requests, dispatcher
        claims and delivery reports instead of one each, and nobody acts on an operation
        before it is durable, because nobody returns before then.
        """
        if getattr(self._nesting, "active", False):
            yield self._db          # inside another operation of this thread: part of it
            return
        with self._lock:
            self._nesting.active = True
            try:
                if not self._db.in_transaction:
                    self._when_free("BEGIN IMMEDIATE")
                self._db.execute("SAVEPOINT operation")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK TO operation")
                        self._db.execute("RELEASE operation")
                    else:           # SQLite rolled the whole transaction back (I/O error)
                        self._fail_open_batch("the transaction was rolled back")
                    raise
                self._db.execute("RELEASE operation")
                batch = self._batch
            finally:
                self._nesting.active = False
        self._wait_durable(batch)

    def _when_free(self, statement: str) -> None:
        """Run ``statement``, retrying while another process holds the write lock: first
        at once, then after sleeps of 0.1 ms doubling to 1 ms, for up to ``BUSY_WAIT``
        seconds. Another process's transaction lasts a few ms (its fsync), so the lock is
        taken within a fraction of a millisecond of its release, not up to 100 ms later."""
        deadline = 0.0
        pause = 0.0001
        while True:
            try:
                self._db.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + BUSY_WAIT
                elif now >= deadline:
                    raise
            time.sleep(pause)
            pause = min(0.001, pause * 2)

    def _fail_open_batch(self, why: str) -> None:
        with self._commits:
            self._failed[self._batch] = why
            self._batch += 1
            self._commits.notify_all()

    def _wait_durable(self, batch: int) -> None:
        with self._commits:
            while self._durable < batch and batch not in self._failed:
                if not self._committing:
                    self._committing = True
                    break
                self._commits.wait()
            else:
                if batch in self._failed:
                    raise StoreError(f"the message store could not commit: "
                                     f"{self._failed[batch]}")
                return
        error = ""
        with self._lock:
            committing = self._batch
            try:
                if self._db.in_transaction:
                    # A COMMIT that finds the database busy leaves the transaction open
                    # and may be retried (sqlite.org/lang_transaction.html).
                    self._when_free("COMMIT")
            except sqlite3.Error as exc:
                error = str(exc)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            finally:
                with self._commits:
                    self._batch = committing + 1
                    if error:
                        self._failed[committing] = error
                        for old in [b for b in self._failed if b < committing - 1000]:
                            del self._failed[old]
                    else:
                        self._durable = committing
                    self._committing = False
                    self._commits.notify_all()
        if error or batch in self._failed:
            raise StoreError(f"the message store could not commit: "
                             f"{error or self._failed[batch]}")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.close()
            self._reader.close()


class SqliteStore(MessageStore):
    """``sqlite:///path``: the roles on one :class:`SqliteEngine` with SQLite's statements."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.sqlite = SqliteEngine(path, clock)
        self.path = self.sqlite.path
        super().__init__(self.sqlite, SQLITE_SQL)
