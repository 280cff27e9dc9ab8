"""The PostgreSQL backend against a real server (tools/postgres.py): the pipeline end to end,
and two stores (as two ``ivr serve`` processes would) claiming from one queue concurrently."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_sms_service
from ivr.sms.message import Direction, Message, Part, Status
from ivr.sms.store.postgres import PostgresStore


def test_pipeline_on_postgres(make_settings: Callable[..., Settings], postgres_url: str) -> None:
    settings = make_settings(database_url=postgres_url)
    service = build_sms_service(settings)
    assert isinstance(service.store, PostgresStore)
    service.store.reset()
    service.start()
    try:
        ids = [service.submit_sms(SmsRequest(recipient=f"+3630{n:07d}", body="ű" * 150))
               for n in range(10)]
        messages = service.run_until_final(ids, 30)
        assert [m.status for m in messages] == [Status.DELIVERED] * 10
        assert all(len(m.parts) == 3 and all(p.provider_id for p in m.parts) for m in messages)
        events = [status for _, status, _ in service.store.events(ids[0])]
        assert events[0] == "queued" and events[-1] == "delivered" and "sent" in events
    finally:
        service.stop()
        service.store.close()


def test_two_stores_never_claim_the_same_message(postgres_url: str) -> None:
    setup = PostgresStore(postgres_url)
    setup.reset()
    now = dt.datetime.now(dt.UTC)
    total = 200
    for n in range(total):
        setup.insert(Message(id=f"m{n:04d}", direction=Direction.OUTBOUND, sender="",
                             recipient="+3611", body="x", created_at=now, updated_at=now,
                             parts=[Part(0)]))
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        store = PostgresStore(postgres_url)   # its own connection, like another process
        try:
            while True:
                batch = store.claim_due(name, 60, limit=7)
                if not batch:
                    return
                claimed[name].extend(m.id for m in batch)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == total
    setup.close()


def test_concurrent_reports_and_submit_results_all_match(postgres_url: str) -> None:
    """Pooled connections (and processes) write a message's submit result and the reports
    of its parts at the same time, reports often first: every part must still match and
    every message end delivered — no report left unmatched, no aggregation lost."""
    from ivr.sms.transports.base import DeliveryReport

    def no_hook(message: Message, status: Status) -> None:
        return None

    store = PostgresStore(postgres_url, pool_size=8)
    other = PostgresStore(postgres_url, pool_size=4)     # a second process
    store.reset()
    now = dt.datetime.now(dt.UTC)
    count, parts = 24, 3
    for n in range(count):
        store.insert(Message(id=f"c{n}", direction=Direction.OUTBOUND, sender="",
                             recipient=f"+3640{n:06d}", body="x", segments=parts,
                             created_at=now, updated_at=now, transport="smpp",
                             parts=[Part(i) for i in range(parts)]))
    assert len(store.claim_due("w", 60, limit=count)) == count
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:   # surfaced by the assertion below
            errors.append(exc)

    def report(n: int, i: int) -> Callable[[], object]:
        return lambda: other.apply_report(
            DeliveryReport("smpp", Status.DELIVERED, provider_id=f"id-{n}-{i}"), no_hook)

    def result(n: int) -> Callable[[], object]:
        return lambda: store.mark_sent(f"c{n}", "smpp", [f"id-{n}-{i}" for i in range(parts)],
                                       [], no_hook)

    actions = [report(n, i) for n in range(count) for i in range(parts)]
    actions += [result(n) for n in range(count)]
    threads = [threading.Thread(target=run, args=(a,)) for a in actions[::-1]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    statuses = [store.get(f"c{n}").status for n in range(count)]  # type: ignore[union-attr]
    assert statuses == [Status.DELIVERED] * count
    store.close()
    other.close()
