"""The collecting queue (ivr/sms/batch.py): items from many threads handled in batches, in
the order each thread put them, each exactly once, the rest handled on stop."""

from __future__ import annotations

import threading
import time

from ivr.sms.batch import Batcher


def test_items_from_many_threads_are_handled_once_in_order_in_batches() -> None:
    handled: list[list[tuple[int, int]]] = []

    def handle(batch: list[tuple[int, int]]) -> None:
        time.sleep(0.002)                # a commit: items pile up meanwhile
        handled.append(batch)

    batcher: Batcher[tuple[int, int]] = Batcher("test", handle, max_items=50, linger=0.001)
    batcher.start()

    def put(thread: int) -> None:
        for n in range(500):
            batcher.put((thread, n))

    threads = [threading.Thread(target=put, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    items = [item for batch in handled for item in batch]
    assert sorted(items) == [(k, n) for k in range(4) for n in range(500)]
    for k in range(4):
        assert [n for t, n in items if t == k] == list(range(500))
    assert len(handled) < 2000 / 5 and max(len(b) for b in handled) <= 50


def test_a_lone_item_waits_at_most_the_linger() -> None:
    done = threading.Event()
    batcher: Batcher[int] = Batcher("test", lambda batch: done.set(), linger=0.005)
    batcher.start()
    began = time.monotonic()
    batcher.put(1)
    assert done.wait(2.0)
    assert time.monotonic() - began < 0.5
    batcher.stop()


def test_a_failing_batch_does_not_stop_the_thread() -> None:
    seen: list[int] = []

    def handle(batch: list[int]) -> None:
        if 1 in batch:
            raise RuntimeError("boom")
        seen.extend(batch)

    batcher: Batcher[int] = Batcher("test", handle, linger=0)
    batcher.start()
    batcher.put(1)
    time.sleep(0.05)
    batcher.put(2)
    batcher.stop()
    assert seen == [2]
