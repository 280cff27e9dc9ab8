"""A clock that moves only when a test moves it, for the SMS core's worker threads.

Backoff, leases and receiver probes are measured on the ``Clock`` the composition root
hands the SMS side (ivr/clock.py). With this clock a test steps through a 600 s backoff in
milliseconds of real time, and asserts the gaps the store recorded, instead of shortening
every delay to fractions of a second and sleeping through them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["ManualClock", "drive", "pass_time"]

_POLL = 0.002   # real seconds between looks at an Event: an Event cannot notify a clock


class ManualClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._t = start
        self._moved = threading.Condition()

    def now(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._t += seconds
            self._moved.notify_all()

    def sleep(self, seconds: float) -> None:
        """Only the test's own thread sleeps on this clock (``run_until_final``): its sleep is
        time passing, so it moves the clock."""
        self.advance(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        deadline = self._t + max(0.0, timeout)
        with self._moved:
            while not event.is_set() and self._t < deadline:
                self._moved.wait(_POLL)
        return event.is_set()

    def wait_notified(self, condition: threading.Condition, timeout: float) -> bool:
        deadline = self._t + max(0.0, timeout)
        while self._t < deadline:
            if condition.wait(_POLL):
                return True
        return False


def drive(clock: ManualClock, done: Callable[[], bool], *, step: float = 1.0,
          limit: float = 3600.0, real_timeout: float = 20.0) -> float:
    """Move ``clock`` on by ``step`` until ``done()``, giving the workers a moment of real time
    after each step; returns the clock seconds it took. Bounded in both clocks."""
    started, real_deadline = clock.now(), time.monotonic() + real_timeout
    while not done():
        assert clock.now() - started < limit, f"not done after {limit} s of clock time"
        assert time.monotonic() < real_deadline, f"not done after {real_timeout} s real time"
        clock.advance(step)
        time.sleep(0.005)
    return clock.now() - started


def pass_time(clock: ManualClock, seconds: float, *, step: float = 1.0) -> None:
    """Let ``seconds`` of clock time pass in steps, with the workers running between them."""
    end = clock.now() + seconds
    drive(clock, lambda: clock.now() >= end, step=step, limit=seconds + step)
