"""The claim contract on both backends, with real processes: two processes claiming from one
queue at the same time never get the same message, and between them they get every one.

SQLite serialises writers (``BEGIN IMMEDIATE``); PostgreSQL relies on the claim statement's
``FOR UPDATE SKIP LOCKED`` (``ivr/sms/store/postgres_sql.py``). Without that clause this test
fails on PostgreSQL: both processes read the same due rows before either updates them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.sms.message import Direction, Message, Part
from ivr.sms.store import open_store
from ivr.sms.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 300

# One claiming process: says it is ready, waits for the go file, then claims in small
# batches until nothing is due, printing each claimed id, as a dispatcher worker would.
CLAIMER = """
import sys, time
from pathlib import Path
from ivr.sms.store import open_store
url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = open_store(url, pool_size=2)
(go.parent / name).touch()
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
try:
    while time.monotonic() < deadline:
        batch = store.claim_due(name, 60, limit=3, look_first=False)
        if not batch:
            break
        for message in batch:
            print(message.id, flush=True)
        time.sleep(0.002)           # "sending" (a SQLite writer in a tight loop starves others)
finally:
    store.close()
"""


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/claims.db"
    url: str = request.getfixturevalue("postgres_url")
    PostgresStore(url).reset()
    return url


def test_two_processes_never_claim_the_same_message(database_url: str, tmp_path: Path) -> None:
    store = open_store(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        for n in range(TOTAL):
            store.insert(Message(id=f"m{n:04d}", direction=Direction.OUTBOUND, sender="",
                                 recipient="+3611", body="x", created_at=now, updated_at=now,
                                 parts=[Part(0)]))
    finally:
        store.close()
    go = tmp_path / "go"
    claimers = [subprocess.Popen([sys.executable, "-c", CLAIMER, database_url, name, str(go)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for name in ("a", "b")]
    deadline = time.monotonic() + 30
    while not all((tmp_path / name).exists() for name in ("a", "b")):
        assert time.monotonic() < deadline, "the claiming processes did not start"
        time.sleep(0.01)
    go.touch()
    outputs = [claimer.communicate(timeout=60) for claimer in claimers]
    assert [claimer.returncode for claimer in claimers] == [0, 0], [err for _, err in outputs]
    a, b = (out.split() for out, _ in outputs)
    assert len(a) == len(set(a)) and len(b) == len(set(b))
    assert not set(a) & set(b), "a message was claimed by both processes"
    assert len(a) + len(b) == TOTAL
    assert a and b, "one process claimed nothing: the claims did not run concurrently"
