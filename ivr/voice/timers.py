"""One thread for every SIP timer of every call (RFC 3261 timers G and H of our 200 OKs).

A thread per call waiting for its ACK made an INVITE flood cost one thread per INVITE
(issue 17 item 3: 28 → 240 threads); timers on one heap cost one thread in all.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Timers", "Timer"]

log = logging.getLogger(__name__)


class Timer:
    """A scheduled callback; :meth:`cancel` makes it a no-op."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    def __init__(self, name: str = "sip-timers") -> None:
        self._heap: list[tuple[float, int, Timer, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._name = name
        self._thread: threading.Thread | None = None

    def after(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer()
        with self._wake:
            if self._thread is None and not self._stopped:   # started on first use
                self._thread = threading.Thread(target=self._run, name=self._name,
                                                daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), timer,
                                        callback))
            self._wake.notify()
        return timer

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._heap.clear()
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(2)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or
                                             self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, timer, callback = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                callback()
            except Exception:  # one call's timer must not stop every other call's
                log.exception("SIP timer callback failed")
