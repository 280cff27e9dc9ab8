"""The engine seam: transactions, the read side and the clock, whatever the backend.

A backend's engine owns its connections (SQLite: one writer with group commit and a read
connection; PostgreSQL: a pool). The roles run their own SQL through it; they never see a
connection object of a driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Cursor", "Db", "Engine"]


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
