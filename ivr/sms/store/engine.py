"""The engine seam: transactions, the read side and the clock, whatever the backend.

A backend's engine owns its connections (SQLite: one writer with group commit and a read
connection; PostgreSQL: a pool). The roles run their own SQL through it; they never see a
connection object of a driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

__all__ = ["Cursor", "Db", "Engine", "each"]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """One connection inside a transaction (or on the read side)."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> object: ...


class Engine(Protocol):
    def tx(self) -> AbstractContextManager[Db]:
        """One atomic operation, durable when the block exits; nested calls of one thread
        join the outer operation."""

    def read(self) -> AbstractContextManager[Db]:
        """A connection that sees committed (durable) data only."""

    def now(self) -> float: ...
    def close(self) -> None: ...


@contextmanager
def each(db: Db) -> Iterator[None]:
    """One item of a batch inside the caller's transaction: if it fails, only its own
    writes are undone (a savepoint, same syntax on SQLite and PostgreSQL) and the error
    goes on to the caller, which records it for that item and carries on with the rest."""
    db.execute("SAVEPOINT item")
    try:
        yield
    except BaseException as exc:
        try:
            db.execute("ROLLBACK TO SAVEPOINT item")
            db.execute("RELEASE SAVEPOINT item")
        except Exception:       # the whole transaction is gone (I/O error): the caller's
            raise exc from None  # tx() sees that and fails every item of it
        raise
    db.execute("RELEASE SAVEPOINT item")
