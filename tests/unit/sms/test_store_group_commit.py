"""Group commit in the SQLite store: concurrent operations share one COMMIT (one fsync),
each is durable when it returns, and a failing operation or COMMIT loses nobody else's
work silently."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ivr.errors import StoreError
from ivr.sms.store import SqliteStore
from tests.unit.sms.test_store import message


def trace_statements(store: SqliteStore) -> list[str]:
    seen: list[str] = []
    store.sqlite._db.set_trace_callback(seen.append)
    return seen


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_concurrent_inserts_share_commits_and_are_durable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    statements = trace_statements(store)
    count = 200

    def insert(start: int) -> None:
        for n in range(start, count, 8):
            store.insert(message(f"m{n}"))

    threads = [threading.Thread(target=insert, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    commits = sum(s == "COMMIT" for s in statements)
    assert 0 < commits < count
    # Another connection (another process, after a crash) sees every one of them.
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == count
    store.close()


def test_a_failing_operation_undoes_only_itself(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.insert(message("kept"))
    with pytest.raises(StoreError):
        store.insert(message("kept"))           # primary key: this operation fails
    store.insert(message("after"))
    assert store.get("kept") is not None and store.get("after") is not None
    store.close()


def test_reads_see_only_durable_operations(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.sqlite._commits.acquire()                    # hold every commit back
    writer = threading.Thread(target=store.insert, args=(message("pending"),))
    writer.start()
    try:
        wait_for(lambda: store.sqlite._db.in_transaction)
        assert store.get("pending") is None     # written, not yet committed
        assert writer.is_alive()                # and the writer has not returned
    finally:
        store.sqlite._commits.release()
    writer.join(5)
    assert store.get("pending") is not None
    store.close()


def test_a_failed_commit_fails_every_operation_in_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    # A deferred foreign key is checked at COMMIT: this makes the shared COMMIT fail.
    store.sqlite._db.execute("CREATE TABLE probe (ref TEXT REFERENCES messages(id) "
                      "DEFERRABLE INITIALLY DEFERRED)")
    statements = trace_statements(store)
    errors: list[BaseException] = []

    def run(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except StoreError as exc:
            errors.append(exc)

    def bad() -> None:
        with store.sqlite.tx() as db:
            db.execute("INSERT INTO probe VALUES ('nowhere')")

    store.sqlite._commits.acquire()                    # both operations land in one batch
    threads = [threading.Thread(target=run, args=(bad,)),
               threading.Thread(target=run, args=(lambda: store.insert(message("m1")),))]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: statements.count("RELEASE operation") == 2)
    finally:
        store.sqlite._commits.release()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 2 and all("could not commit" in str(e) for e in errors)
    assert store.get("m1") is None              # reported failed, and indeed not stored
    store.insert(message("m2"))                 # the store carries on
    assert store.get("m2") is not None
    store.close()
