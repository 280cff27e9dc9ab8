"""Time seam: code that waits or timestamps takes a ``Clock`` so tests can control it."""

from __future__ import annotations

import datetime as _dt
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


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def utcnow() -> _dt.datetime:
    """Timezone-aware UTC now (naive datetimes are never stored)."""
    return _dt.datetime.now(_dt.UTC)
