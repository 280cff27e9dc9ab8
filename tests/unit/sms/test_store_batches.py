"""The store's batch operations on both backends: submit results, delivery reports and
callback outcomes many to a transaction, without losing the per-message guarantees (one
failing item undoes only itself, reports keep their order, a crash mid-batch is adopted
rather than resent)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ivr.sms.message import Message, Status
from ivr.sms.store import CallbackOutcome, Sent, SqliteStore
from ivr.sms.transports.base import DeliveryReport
from tests.unit.sms.conftest import Clock
from tests.unit.sms.test_store import message, no_callbacks

URL = "http://app.example/dlr"


def callbacks(message: Message, status: Status) -> tuple[str, str, dict[str, str]]:
    return URL, "POST", {"Status": status.value}


def failing_for(bad: str):  # type: ignore[no-untyped-def]
    """A change hook that raises for one message (a formatter bug, a bad row)."""
    def hook(message: Message, status: Status) -> tuple[str, str, dict[str, str]]:
        if message.id == bad:
            raise RuntimeError(f"cannot format {bad}")
        return callbacks(message, status)
    return hook


def queued(store: SqliteStore, *ids: str) -> list[Message]:
    for n, mid in enumerate(ids):
        store.insert(message(mid, recipient=f"+3611{n:04d}", callback_url=URL))
    claimed = store.claim_due("w", 60, limit=len(ids))
    assert sorted(m.id for m in claimed) == sorted(ids)
    return claimed


def report(pid: str, status: Status = Status.DELIVERED, recipient: str = "") -> DeliveryReport:
    return DeliveryReport("t", status, provider_id=pid, recipient=recipient)


def statuses(store: SqliteStore, mid: str) -> list[str]:
    return [s for s, _, _ in store.callback_states(mid)]


def test_a_batch_records_every_result_but_the_one_that_fails(store: SqliteStore) -> None:
    queued(store, "m1", "m2", "m3")
    out = store.mark_sent_many([Sent("m1", "t", ["a1"], []), Sent("m2", "t", ["a2"], []),
                                Sent("m3", "t", ["a3"], [])], failing_for("m2"))
    assert out[0] == [] and out[2] == []
    assert isinstance(out[1], RuntimeError)
    assert store.get("m1").status == store.get("m3").status == Status.SENT  # type: ignore[union-attr]
    # Nothing of m2's record survived: still claimed, no provider id, no event, no callback;
    # its lease lapses and the lease keeper holds it for the peer's report.
    m2 = store.get("m2")
    assert m2 is not None and m2.status == Status.SENDING and m2.parts[0].provider_id == ""
    assert [s for _, s, _ in store.events("m2")] == ["queued", "sending"]
    assert statuses(store, "m2") == [] and statuses(store, "m1") == ["sent"]


def test_reports_of_a_batch_that_overtake_its_submit_results(store: SqliteStore) -> None:
    queued(store, "m1", "m2")
    applied = store.apply_reports([report("a1"), report("a2")], callbacks)
    assert [a.message_id for a in applied] == [None, None]         # kept, unmatched
    out = store.mark_sent_many([Sent("m1", "t", ["a1"], []), Sent("m2", "t", ["a2"], [])],
                               callbacks)
    assert [[r.provider_id for r in early] for early in out] == [["a1"], ["a2"]]  # type: ignore[union-attr]
    for mid in ("m1", "m2"):
        assert store.get(mid).status == Status.DELIVERED  # type: ignore[union-attr]
        assert statuses(store, mid) == ["sent", "delivered"]          # the order they happened


def test_reports_of_one_message_in_one_batch_apply_in_arrival_order(store: SqliteStore) -> None:
    queued(store, "m1", "m2")
    store.mark_sent_many([Sent("m1", "t", ["a1"], []), Sent("m2", "t", ["b1"], [])],
                         no_callbacks)
    applied = store.apply_reports(
        [report("a1", Status.SENT), report("b1", Status.UNDELIVERED), report("a1"),
         report("b1"), report("a1")], callbacks)
    assert [a.message_id for a in applied] == ["m1", "m2", "m1", "m2", "m1"]
    # Only the report that made a message final hands it back.
    assert [a.final.status if a.final else None for a in applied] == \
        [None, Status.UNDELIVERED, Status.DELIVERED, None, None]
    assert store.get("m1").status == Status.DELIVERED  # type: ignore[union-attr]
    # The first final report wins; the later contradicting one is a repeat.
    assert store.get("m2").status == Status.UNDELIVERED  # type: ignore[union-attr]
    assert statuses(store, "m1") == ["delivered"] and statuses(store, "m2") == ["undelivered"]
    details = [d for _, s, d in store.events("m2") if s == "delivered"]
    assert details and "repeated report ignored" in details[0]


def test_one_report_that_cannot_be_stored_is_refused_alone(store: SqliteStore) -> None:
    queued(store, "m1", "m2", "m3")
    store.mark_sent_many([Sent(m, "t", [f"{m}-id"], []) for m in ("m1", "m2", "m3")],
                         no_callbacks)
    applied = store.apply_reports([report("m1-id"), report("m2-id"), report("m3-id")],
                                  failing_for("m2"))
    assert [a.error is None for a in applied] == [True, False, True]
    assert [store.get(m).status for m in ("m1", "m2", "m3")] == [  # type: ignore[union-attr]
        Status.DELIVERED, Status.SENT, Status.DELIVERED]
    # The peer sends it again (its deliver_sm was answered "resend later"): now it applies.
    [again] = store.apply_reports([report("m2-id")], callbacks)
    assert again.error is None and store.get("m2").status == Status.DELIVERED  # type: ignore[union-attr]


def test_a_crash_mid_batch_is_adopted_not_sent_again(store: SqliteStore, clock: Clock) -> None:
    """The peer accepted a whole batch, the worker recorded half of it and died. The peer's
    receipts for all of it arrive after the restart: the recorded half matches, the other
    half waits unmatched and is adopted when its hold ends — none is sent a second time."""
    ids = ["m1", "m2", "m3", "m4"]
    claimed = queued(store, *ids)
    recipients = {m.id: m.recipient for m in claimed}
    store.mark_sent_many([Sent(m, "t", [f"{m}-id"], []) for m in ids[:2]], callbacks)
    applied = store.apply_reports([report(f"{m}-id", recipient=recipients[m]) for m in ids],
                                  callbacks)
    assert [a.message_id for a in applied] == ["m1", "m2", None, None]
    clock.t += 61                                   # the dead worker's lease lapses
    assert store.hold_interrupted(5.0) == 2
    assert store.claim_due("w2", 60, limit=10, hook=callbacks) == []   # held, not resent
    clock.t += 6
    adopted = store.claim_due("w2", 60, limit=10, hook=callbacks)
    assert sorted(m.id for m in adopted) == ["m3", "m4"]
    assert all(m.status == Status.DELIVERED for m in adopted)    # not SENDING: not sent
    for mid in ids:
        assert statuses(store, mid) == ["sent", "delivered"]
    assert store.get("m3").parts[0].provider_id == "m3-id"  # type: ignore[union-attr]


def test_callback_outcomes_of_a_batch_in_one_transaction(store: SqliteStore) -> None:
    queued(store, "m1", "m2")
    store.mark_sent_many([Sent("m1", "t", ["a1"], []), Sent("m2", "t", ["a2"], [])],
                         callbacks)
    jobs = {j.message_id: j for j in store.callbacks_due(10)}
    store.callbacks_finish([CallbackOutcome(jobs["m1"].id, "done", attempt="HTTP 200"),
                            CallbackOutcome(jobs["m2"].id, "retry", "HTTP 503", delay=30)])
    assert store.callback_states("m1") == [("sent", "done", 1)]
    assert store.callback_states("m2") == [("sent", "pending", 1)]
    assert [r for _, _, r in store.callback_attempts("m1")] == ["HTTP 200"]
    assert [r for _, _, r in store.callback_attempts("m2")] == ["HTTP 503"]
    assert store.callbacks_due(10) == []            # m2's retry is 30 s out


def test_sqlite_writer_takes_the_lock_as_soon_as_another_process_frees_it(
        tmp_path: Path) -> None:
    """Another connection (another process) holds the write lock: the insert keeps trying
    every millisecond or so instead of sleeping in SQLite's busy handler (up to 100 ms per
    try), so it commits right after the release."""
    store = SqliteStore(tmp_path / "s.db")
    tries: list[str] = []
    store.sqlite._db.set_trace_callback(lambda s: tries.append(s) if s.startswith("BEGIN")
                                        else None)
    import sqlite3

    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = [0.0]

    def release() -> None:
        time.sleep(0.3)
        released[0] = time.monotonic()
        other.execute("COMMIT")

    holder = threading.Thread(target=release)
    holder.start()
    store.insert(message("m1"))
    done = time.monotonic()
    holder.join()
    assert store.get("m1") is not None
    assert len(tries) > 20, "retried by SQLite's busy handler, not by the store"
    assert done - released[0] < 0.1
    other.close()
    store.close()


def test_batch_of_nothing_is_no_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    seen: list[str] = []
    store.sqlite._db.set_trace_callback(seen.append)
    store.callbacks_finish([])
    assert store.mark_sent_many([], callbacks) == []
    assert store.apply_reports([], callbacks) == []
    assert seen == []
    store.close()
