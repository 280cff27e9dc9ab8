"""The store contract on both backends (a real SQLite file, a real PostgreSQL server):
matching, multi-part aggregation, leases, early reports, paging."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.sms.message import Direction, Message, Part, Status
from ivr.sms.store import MessageQuery, SqliteStore, canonical_ids
from ivr.sms.store.postgres import PostgresStore
from ivr.sms.transports.base import DeliveryReport
from tests.unit.sms.conftest import Clock


def no_callbacks(message: Message, status: Status) -> None:
    return None


def message(mid: str, parts: int = 1, recipient: str = "+3611", **kw: object) -> Message:
    now = dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)
    return Message(id=mid, direction=Direction.OUTBOUND, sender="", recipient=recipient,
                   body="x", segments=parts, created_at=now, updated_at=now,
                   parts=[Part(i) for i in range(parts)], **kw)  # type: ignore[arg-type]


def sent(store: SqliteStore, mid: str, ids: list[str], transport: str = "t",
         refs: list[int | None] | None = None) -> list[DeliveryReport]:
    [claimed] = store.claim_due("w", 60)
    assert claimed.id == mid
    return store.mark_sent(mid, transport, ids, refs or [], no_callbacks)


@pytest.mark.parametrize(("raw", "forms"), [
    ("0A1B", ["a1b", "2587"]), ("2587", ["2587", "9607", "a1b"]), ("00042", ["42", "66", "2a"]),
    ("abc-1", ["abc-1"])])
def test_canonical_ids(raw: str, forms: list[str]) -> None:
    assert canonical_ids(raw) == forms


@pytest.mark.parametrize(("stored", "reported"), [
    ("1A2B3C", "1715004"), ("1715004", "1a2b3c"), ("00FF", "255"), ("ff", "0000FF")])
def test_hex_and_decimal_ids_match(store: SqliteStore, stored: str, reported: str) -> None:
    store.insert(message("m1"))
    sent(store, "m1", [stored])
    updated = store.apply_report(DeliveryReport("t", Status.DELIVERED, provider_id=reported),
                                 no_callbacks)
    assert updated is not None and updated.status == Status.DELIVERED


def test_multipart_delivered_only_when_all_parts_are(store: SqliteStore) -> None:
    store.insert(message("m1", parts=3))
    sent(store, "m1", ["a", "b", "c"])
    for pid in ("a", "b"):
        m = store.apply_report(DeliveryReport("t", Status.DELIVERED, provider_id=pid),
                               no_callbacks)
        assert m is not None and m.status == Status.SENT
    m = store.apply_report(DeliveryReport("t", Status.UNDELIVERED, provider_id="c",
                                          error_code=30005), no_callbacks)
    assert m is not None and m.status == Status.UNDELIVERED and m.error_code == 30005
    assert [p.status for p in m.parts] == [Status.DELIVERED, Status.DELIVERED,
                                           Status.UNDELIVERED]


def test_intermediate_report_keeps_sent(store: SqliteStore) -> None:
    store.insert(message("m1"))
    sent(store, "m1", ["a"])
    m = store.apply_report(DeliveryReport("t", Status.SENT, provider_id="a"), no_callbacks)
    assert m is not None and m.status == Status.SENT


def test_report_before_submit_result_is_kept_and_applied(store: SqliteStore) -> None:
    store.insert(message("m1"))
    early = DeliveryReport("t", Status.DELIVERED, provider_id="99")
    assert store.apply_report(early, no_callbacks) is None
    pending = sent(store, "m1", ["63"])  # hex 63 == decimal 99
    assert [r.provider_id for r in pending] == ["99"]
    for report in pending:
        store.apply_report(report, no_callbacks)
    assert store.get("m1").status == Status.DELIVERED  # type: ignore[union-attr]


def test_modem_references_wrap_and_newest_wins(store: SqliteStore, clock: Clock) -> None:
    store.insert(message("old", recipient="+3612"))
    sent(store, "old", [], "gsm", [7])
    clock.t += 60
    store.insert(message("new", recipient="+3612"))
    sent(store, "new", [], "gsm", [7])
    m = store.apply_report(DeliveryReport("gsm", Status.DELIVERED, reference=7,
                                          recipient="+3612"), no_callbacks)
    assert m is not None and m.id == "new"
    other = store.apply_report(DeliveryReport("gsm", Status.DELIVERED, reference=7,
                                              recipient="+3699"), no_callbacks)
    assert other is None


def test_reference_matching_survives_reopen(tmp_path: Path, clock: Clock) -> None:
    first = SqliteStore(tmp_path / "s.db", clock=clock)
    first.insert(message("m1"))
    sent(first, "m1", [], "gsm", [255])
    first.close()
    again = SqliteStore(tmp_path / "s.db", clock=clock)
    m = again.apply_report(DeliveryReport("gsm", Status.DELIVERED, reference=255,
                                          recipient="+3611"), no_callbacks)
    assert m is not None and m.status == Status.DELIVERED


def test_expired_lease_is_held_then_claimed_again(store: SqliteStore, clock: Clock) -> None:
    store.insert(message("m1"))
    assert [m.id for m in store.claim_due("crashed", 30)] == ["m1"]
    assert store.hold_interrupted(20) == 0              # lease still running
    assert store.claim_due("other", 30) == []
    clock.t += 31
    assert store.hold_interrupted(20) == 1
    assert store.hold_interrupted(20) == 0              # once
    assert store.claim_due("other", 30) == []           # waiting for the peer's report
    clock.t += 20
    [again] = store.claim_due("other", 30)
    assert again.id == "m1" and again.attempts == 2


def test_retry_backoff_is_per_message(store: SqliteStore, clock: Clock) -> None:
    store.insert(message("bad"))
    store.insert(message("good"))
    [first] = store.claim_due("w", 30)
    store.mark_retry(first.id, 100, "busy")
    [second] = store.claim_due("w", 30)
    assert second.id != first.id
    store.mark_sent(second.id, "t", ["x"], [], no_callbacks)
    assert store.claim_due("w", 30) == []
    clock.t += 101
    assert [m.id for m in store.claim_due("w", 30)] == [first.id]


def test_callback_is_queued_with_the_change(store: SqliteStore) -> None:
    def hook(m: Message, status: Status) -> tuple[str, str, dict[str, str]]:
        return ("http://app/dlr", "GET", {"s": status.value})

    store.insert(message("m1", callback_url="http://app/dlr"))
    [claimed] = store.claim_due("w", 60)
    store.mark_sent("m1", "t", ["a"], [], hook)
    store.apply_report(DeliveryReport("t", Status.DELIVERED, provider_id="a"), hook)
    [first] = store.callbacks_due()              # one message: its reports in order
    assert (first.status, first.params) == ("sent", {"s": "sent"})
    store.callback_retry(first.id, 0, "down")    # still pending: "delivered" keeps waiting
    assert [j.status for j in store.callbacks_due()] == ["sent"]
    store.callback_done(first.id)
    assert [(j.status, j.params) for j in store.callbacks_due()] == [
        ("delivered", {"s": "delivered"})]


def test_deferred_callbacks_wait_without_an_attempt(store: SqliteStore, clock: Clock) -> None:
    def hook(m: Message, status: Status) -> tuple[str, str, dict[str, str]]:
        return ("http://app/dlr", "GET", {"s": status.value})

    store.insert(message("m1", callback_url="http://app/dlr"))
    store.claim_due("w", 60)
    store.mark_sent("m1", "t", ["a"], [], hook)
    [job] = store.callbacks_due()
    store.callbacks_defer([job.id], 30, "receiver down")
    assert store.callbacks_due() == []
    clock.t += 30
    [again] = store.callbacks_due()
    assert again.id == job.id and again.attempts == 0
    store.callback_done(job.id)
    store.callbacks_defer([job.id], 30, "receiver down")     # a finished job stays done
    assert store.callback_states("m1") == [("sent", "done", 1)]


def test_query_filters_sort_and_paging(store: SqliteStore, clock: Clock) -> None:
    for i in range(5):
        clock.t += 1
        m = message(f"m{i}", recipient=f"+361{i % 2}", owner="alice" if i < 4 else "bob")
        m.created_at = dt.datetime.fromtimestamp(clock.t, dt.UTC)
        store.insert(m)
    page, total = store.query(MessageQuery(owner="alice", limit=2, descending=True))
    assert total == 4 and [m.id for m in page] == ["m3", "m2"]
    rest, _ = store.query(MessageQuery(owner="alice", limit=10, descending=True, after_id="m2"))
    assert [m.id for m in rest] == ["m1", "m0"]
    only, total = store.query(MessageQuery(recipient="+3611"))
    assert total == 2 and {m.id for m in only} == {"m1", "m3"}


def test_repeated_inbound_is_stored_once(store: SqliteStore) -> None:
    def inbound(mid: str) -> Message:
        received = message(mid, parts=0, status=Status.RECEIVED, transport="modem")
        received.direction = Direction.INBOUND
        return received

    assert store.insert_inbound(inbound("in1"), provider_id="00A7")
    assert not store.insert_inbound(inbound("in2"), provider_id="a7")   # same id, respelled
    assert store.insert_inbound(inbound("in3"), provider_id="a8")
    assert store.insert_inbound(inbound("in4"))                          # no id: always kept
    found, total = store.query(MessageQuery(direction="inbound"))
    assert total == 3 and {m.id for m in found} == {"in1", "in3", "in4"}


def inbound_part(body: str, mid: str) -> Message:
    now = dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)
    return Message(id=mid, direction=Direction.INBOUND, sender="+3620", recipient="1234",
                   body=body, status=Status.RECEIVED, created_at=now, updated_at=now,
                   transport="smpp")


def test_inbound_parts_become_one_message(store: SqliteStore) -> None:
    assert store.insert_inbound_part(inbound_part("b", "p2"), 7, 2, 2) is None
    assert store.insert_inbound_part(inbound_part("b", "p2x"), 7, 2, 2) is None   # repeat
    whole = store.insert_inbound_part(inbound_part("a", "p1"), 7, 2, 1)
    assert whole is not None and whole.body == "ab" and whole.segments == 2
    stored = store.get(whole.id)
    assert stored is not None and stored.body == "ab"
    assert store.get("p2") is None                       # parts are not messages
    assert store.flush_inbound_parts(1e12, lambda: "none") == []   # nothing left over


def test_incomplete_inbound_is_flushed_after_the_timeout(store: SqliteStore,
                                                         clock: Clock) -> None:
    store.insert_inbound_part(inbound_part("first ", "p1"), 8, 3, 1)
    store.insert_inbound_part(inbound_part("third", "p3"), 8, 3, 3)
    assert store.flush_inbound_parts(clock.t - 1, lambda: "never") == []   # not old yet
    clock.t += 601
    [message] = store.flush_inbound_parts(clock.t - 600, lambda: "flushed")
    assert message.id == "flushed" and message.body == "first third"
    assert any("part(s) 2 of 3 never arrived" in d for _, _, d in store.events("flushed"))


def test_unmatched_reports_expire_by_sweep(store: SqliteStore, clock: Clock) -> None:
    report = DeliveryReport(transport="t", status=Status.DELIVERED, provider_id="abc")
    assert store.apply_report(report, no_callbacks) is None
    assert store.expire_unmatched_reports(clock.t - 10) == 0
    clock.t += 100
    assert store.expire_unmatched_reports(clock.t - 10) == 1
    store.insert(message("m1"))
    assert sent(store, "m1", ["abc"], transport="t") == []   # the expired one is gone


def test_renewed_lease_keeps_other_workers_off(store: SqliteStore, clock: Clock) -> None:
    store.insert(message("m1"))
    [claimed] = store.claim_due("w1", 60)
    clock.t += 50
    store.renew_leases("w1", ["m1"], 60)
    clock.t += 50                                        # past the first lease
    assert store.hold_interrupted(0) == 0
    store.renew_leases("w2", ["m1"], 600)                # not w2's claim: no effect
    clock.t += 20
    assert store.hold_interrupted(0) == 1
    assert [m.id for m in store.claim_due("w2", 60)] == ["m1"]


def test_reclaim_after_lost_lease_is_marked_possible_duplicate(store: SqliteStore,
                                                               clock: Clock) -> None:
    store.insert(message("m1"))
    store.claim_due("w1", 10)
    clock.t += 11                                   # w1 died mid-send
    store.hold_interrupted(5)
    clock.t += 5                                    # no report came
    [again] = store.claim_due("w2", 10, hook=no_callbacks)
    assert again.attempts == 2
    details = [d for _, s, d in store.events("m1")]
    assert details[1] == "claimed by w1"
    assert "w1 interrupted (its lease ran out)" in details[2]
    assert details[3].startswith("claimed by w2") and "possible duplicate" in details[3]
    clock.t += 1
    store.mark_sent("m1", "t", ["z"], [], no_callbacks)
    store.insert(message("m2"))                     # the flag went with the send
    store.claim_due("w2", 10)
    assert "possible duplicate" not in store.events("m2")[-1][2]


def interrupted(store: SqliteStore, clock: Clock, mid: str, body: str = "x",
                parts: int = 1) -> None:
    """Insert and claim ``mid``, then let its worker die: held 5 s for the peer's report."""
    store.insert(replace(message(mid, parts=parts), body=body))
    store.claim_due("dead", 10)
    clock.t += 1


def recover(store: SqliteStore, clock: Clock) -> list[Message]:
    """The lease runs out, the hold ends: the messages to send (an adopted one comes back
    from claim_due in its new status, not SENDING)."""
    clock.t += 10
    assert store.hold_interrupted(5) >= 1
    clock.t += 5
    return [m for m in store.claim_due("w", 10, hook=no_callbacks)
            if m.status == Status.SENDING]


def test_interrupted_send_adopted_by_its_receipt(store: SqliteStore, clock: Clock) -> None:
    interrupted(store, clock, "m1", body="Your code is 1234, valid 5 minutes")
    # The SMSC took it; its receipt (unknown id) comes after a restart, quoting the text.
    store.apply_report(DeliveryReport("smsc", Status.DELIVERED, provider_id="0A1B",
                                      recipient="3611", text="Your code is 1234, v"),
                       no_callbacks)
    assert recover(store, clock) == []                  # not sent again
    m = store.get("m1")
    assert m is not None and m.status == Status.DELIVERED and m.transport == "smsc"
    assert [p.provider_id for p in m.parts] == ["a1b"]
    assert any("adopted as sent" in d for _, _, d in store.events("m1"))


def test_interrupted_multipart_adopted_part_by_part(store: SqliteStore, clock: Clock) -> None:
    body = "A" * 153 + "B" * 153 + "C" * 10
    interrupted(store, clock, "m1", body=body, parts=3)
    for pid, text in (("p3", "C" * 10), ("p1", "A" * 20), ("p2", "B" * 20)):
        store.apply_report(DeliveryReport("smsc", Status.DELIVERED, provider_id=pid,
                                          recipient="+3611", text=text), no_callbacks)
    assert recover(store, clock) == []
    m = store.get("m1")
    assert m is not None and m.status == Status.DELIVERED
    assert [p.provider_id for p in m.parts] == ["p1", "p2", "p3"]


@pytest.mark.parametrize("report", [
    DeliveryReport("smsc", Status.DELIVERED, provider_id="x", recipient="+3611",
                   text="somebody else's text"),                      # another message's
    DeliveryReport("smsc", Status.DELIVERED, provider_id="x", recipient="+3699"),
])
def test_reports_of_other_messages_are_not_adopted(store: SqliteStore, clock: Clock,
                                                   report: DeliveryReport) -> None:
    interrupted(store, clock, "m1", body="hello")
    store.apply_report(report, no_callbacks)
    [again] = recover(store, clock)                     # sent again, flagged
    assert again.id == "m1"
    assert "possible duplicate" in store.events("m1")[-1][2]


def test_reports_before_the_interrupted_claim_are_not_adopted(store: SqliteStore,
                                                             clock: Clock) -> None:
    store.apply_report(DeliveryReport("smsc", Status.DELIVERED, provider_id="old",
                                      recipient="+3611"), no_callbacks)
    clock.t += 1
    interrupted(store, clock, "m1")
    assert [m.id for m in recover(store, clock)] == ["m1"]


def test_a_fresh_unmatched_report_may_be_an_early_receipt(store: SqliteStore,
                                                         clock: Clock) -> None:
    """Within EARLY_REPORT_GRACE a report may belong to a send being committed now."""
    interrupted(store, clock, "m1")
    clock.t += 10
    store.hold_interrupted(0)
    store.apply_report(DeliveryReport("smsc", Status.DELIVERED, provider_id="b",
                                      recipient="+3611"), no_callbacks)
    [again] = store.claim_due("w", 10, hook=no_callbacks)
    assert again.id == "m1" and again.status == Status.SENDING


def test_modem_status_report_adopts_by_reference(store: SqliteStore, clock: Clock) -> None:
    interrupted(store, clock, "m1")
    store.apply_report(DeliveryReport("gsm", Status.DELIVERED, reference=42,
                                      recipient="+3611"), no_callbacks)
    assert recover(store, clock) == []
    m = store.get("m1")
    assert m is not None and m.status == Status.DELIVERED and m.parts[0].reference == 42


def test_database_of_an_older_release_gets_the_new_columns(
        store: SqliteStore, request: pytest.FixtureRequest, tmp_path: Path,
        clock: Clock) -> None:
    from ivr.sms.store import ADDED_COLUMNS

    with store.engine.tx() as db:
        for table, column, _ in ADDED_COLUMNS:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    store.close()
    reopened = (PostgresStore(request.getfixturevalue("postgres_url"), clock=clock)
                if isinstance(store, PostgresStore) else
                SqliteStore(tmp_path / "s.db", clock=clock))
    try:
        interrupted(reopened, clock, "m1")
        reopened.apply_report(DeliveryReport("t", Status.DELIVERED, provider_id="a",
                                             recipient="+3611", text="x"), no_callbacks)
        assert recover(reopened, clock) == []
    finally:
        reopened.close()
