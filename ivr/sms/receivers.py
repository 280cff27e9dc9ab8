"""Which callback receivers are down, so their queued reports wait instead of each failing.

An application whose DeliveryReportURL is down for ten minutes has hundreds of reports due
for it. Attempting each one costs a connection, a signature and a commit, and hammers the
receiver the moment it comes back. Instead the sender keeps, per receiver (scheme, host,
port and owner), the failures in a row: from ``threshold`` on, the receiver is *down* for a backoff
that doubles (``base`` up to ``maximum``), its due reports are moved to the end of it in
one statement, and when it ends a single report goes first as a probe. One success makes the
receiver healthy again. Reports keep their own retry period (24 h): nothing is dropped here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ReceiverHealth", "receiver_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def receiver_of(url: str, owner: str = "") -> str:
    """``scheme://host:port`` of a callback URL, and whose: what is up or down together.

    Per owner too: two tenants whose applications sit behind one host are two receivers, so
    one tenant's broken endpoint never delays the other's reports."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    where = f"{parts.scheme}://{host}:{port or _DEFAULT_PORTS.get(parts.scheme, 0)}"
    return f"{where} (owner {owner})" if owner else where


@dataclass
class _State:
    failures: int = 0
    down_until: float = 0.0
    probe_until: float = 0.0


class ReceiverHealth:
    """Thread-safe failure counts and down periods, in memory (a restart simply probes)."""

    def __init__(self, threshold: int = 3, base: float = 2.0, maximum: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, probe_timeout: float = 30.0,
                 ) -> None:
        self.threshold = max(1, threshold)
        self.base = base
        self.maximum = maximum
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def wait_for(self, receiver: str) -> float:
        """Seconds a report to ``receiver`` must wait; 0 = send it now (healthy, or the one
        probe after a down period: the others wait while it is out)."""
        with self._lock:
            state = self._states.get(receiver)
            if state is None or state.failures < self.threshold:
                return 0.0
            now = self._clock()
            if now < state.down_until:
                return state.down_until - now
            if now < state.probe_until:
                return self.base    # a probe is out: the others look again shortly
            # This one is the probe; if it never reports, the next probes after the timeout.
            state.probe_until = now + self.probe_timeout
            return 0.0

    def succeeded(self, receiver: str) -> bool:
        """Record a 2xx; True when the receiver was down until now."""
        with self._lock:
            state = self._states.pop(receiver, None)
        return state is not None and state.failures >= self.threshold

    def failed(self, receiver: str) -> float:
        """Record a failure; the seconds the receiver is now down for (0 = not down)."""
        with self._lock:
            state = self._states.setdefault(receiver, _State())
            state.failures += 1
            state.probe_until = 0.0
            if state.failures < self.threshold:
                return 0.0
            period = min(self.maximum, self.base * 2 ** (state.failures - self.threshold))
            state.down_until = self._clock() + period
            if len(self._states) > 10_000:     # bounded: forget the healthiest entries
                for key in [k for k, s in self._states.items() if s.failures < self.threshold]:
                    del self._states[key]
            return period
