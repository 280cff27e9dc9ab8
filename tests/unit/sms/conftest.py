"""Fixtures of the store contract tests: a clock the test moves, and the store on each
backend (a real SQLite file, a real PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.sms.store import SqliteStore
from ivr.sms.store.postgres import PostgresStore


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SqliteStore]:
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "s.db", clock=clock)
    else:
        backend = PostgresStore(request.getfixturevalue("postgres_url"), clock=clock)
        backend.reset()
    yield backend
    backend.close()
