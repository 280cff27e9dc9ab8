"""Time seam: code that waits or timestamps takes a ``Clock`` so tests can control it.

Waiting is part of the seam, not only reading the time: a worker that sleeps on a
``threading.Event`` with a real timeout would still take 600 s of real time for a 600 s
backoff however the test moved the clock. ``wait`` and ``wait_notified`` measure their
timeout on the clock they belong to; the events and conditions stay real, so a wake-up by
another thread is as immediate as before.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "utcnow"]


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (timestamps that are stored)."""

    def monotonic(self) -> float:
        """Seconds for measuring intervals and deadlines."""

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until ``event`` is set or ``timeout`` seconds of this clock have passed;
        True when the event is set."""

    def wait_notified(self, condition: threading.Condition, timeout: float) -> bool:
        """``condition.wait`` (the caller holds it) with the timeout on this clock; True when
        notified."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))

    def wait_notified(self, condition: threading.Condition, timeout: float) -> bool:
        return condition.wait(max(0.0, timeout))


def utcnow() -> _dt.datetime:
    """Timezone-aware UTC now (naive datetimes are never stored)."""
    return _dt.datetime.now(_dt.UTC)
