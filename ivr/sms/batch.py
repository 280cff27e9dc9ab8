"""A collecting queue: items put by any thread are handled in batches by one thread.

Why: each store transaction costs a commit (an fsync) and, on SQLite, the one write lock
every process shares. SMPP receipts and callback outcomes arrive one at a time from
threads that should not wait for a commit each; the :class:`Batcher` gathers what arrived
meanwhile, and the first item waits at most ``linger`` seconds for company, so one
transaction covers many of them. Under load nothing lingers: items pile up while the
previous batch commits and the next batch takes them all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Batcher"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, name: str, handle: Callable[[list[T]], None], *,
                 max_items: int = 256, linger: float = 0.002) -> None:
        self.name = name
        self._handle = handle
        self.max_items = max(1, max_items)
        self.linger = linger
        self._items: list[T] = []
        self._changed = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._changed:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            if len(self._items) == 1 or len(self._items) >= self.max_items:
                self._changed.notify()

    def pending(self) -> int:
        with self._changed:
            return len(self._items)

    def stop(self, timeout: float = 10.0) -> None:
        """Handle what was put so far, then end the thread."""
        with self._changed:
            self._running = False
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _take(self) -> list[T] | None:
        """The next batch, or None once stopped and empty."""
        with self._changed:
            while self._running and not self._items:
                self._changed.wait(1.0)
            if not self._items:
                return None
            if self._running and self.linger > 0 and len(self._items) < self.max_items:
                end = time.monotonic() + self.linger
                while self._running and len(self._items) < self.max_items:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            batch, self._items = self._items[:self.max_items], self._items[self.max_items:]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._handle(batch)
            except Exception:     # the handler owns its items' fate; the thread lives on
                log.exception("%s: batch of %d not handled", self.name, len(batch))
