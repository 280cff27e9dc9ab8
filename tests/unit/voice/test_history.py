"""The call history on a real SQLite file and a real PostgreSQL database: written at a
call's end, paged newest first with every filter, and still there after reopening (the
tables are created only where missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.call_history import CallQuery, CallRecord
from ivr.voice.history import open_call_history

T0 = 1_790_000_000.25       # sub-second precision must survive (PostgreSQL: 8-byte floats)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return f"sqlite:///{tmp_path}/history.db"


def _record(n: int, direction: str = "inbound") -> CallRecord:
    return CallRecord(f"call-{n}", direction, f"55500{n}", "100", "menu.xml", T0 + n * 60,
                      T0 + n * 60 + 1.5 if n % 2 == 0 else 0.0, T0 + n * 60 + 7.75,
                      "caller hung up", (f"/rec/{n}.wav",) if n == 2 else ())


def test_pages_filters_and_a_reopened_database(database_url: str) -> None:
    history = open_call_history(database_url)
    for n in range(5):
        history.add(_record(n, "outbound" if n == 4 else "inbound"))
    history.add(_record(3))                          # a replayed end replaces, never doubles
    history.close()
    history = open_call_history(database_url)        # a restart: nothing kept in memory
    try:
        page, total = history.query(CallQuery(limit=2, offset=2))
        assert total == 5 and [r.call_id for r in page] == ["call-2", "call-1"]
        assert page[0] == _record(2) and page[0].duration == pytest.approx(6.25)
        assert page[1].duration == 0.0                # never answered
        assert history.query(CallQuery(direction="outbound"))[1] == 1
        assert [r.call_id for r in history.query(CallQuery(caller="555003"))[0]] == ["call-3"]
        assert history.query(CallQuery(callee="999"))[1] == 0
        window = CallQuery(since=T0 + 60, until=T0 + 180)      # call-1 and call-2
        assert [r.call_id for r in history.query(window)[0]] == ["call-2", "call-1"]
        assert history.get("call-2") == _record(2) and history.get("nope") is None
    finally:
        history.close()
