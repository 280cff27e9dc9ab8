"""A token bucket: at most ``rate`` operations per second, bursts of up to ``max(1, rate)``.

Shared by the dispatcher (per-transport ``rate_limit``) and the SMPP transport
(``throughput``); ``rate <= 0`` means unlimited.
"""

from __future__ import annotations

import threading

from ivr.clock import Clock, SystemClock

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(self, rate: float, clock: Clock | None = None) -> None:
        self.rate = rate
        self.tokens = 1.0
        self._clock = clock or SystemClock()
        self._monotonic = self._clock.monotonic
        self.last = self._monotonic()
        self.lock = threading.Lock()

    def time_to_token(self) -> float:
        """Seconds until a token is available (0 = now); does not take it."""
        if self.rate <= 0:
            return 0.0
        with self.lock:
            tokens = min(max(1.0, self.rate),
                         self.tokens + (self._monotonic() - self.last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def wait(self, stop: threading.Event) -> None:
        if self.rate <= 0:
            return
        while not stop.is_set():
            with self.lock:
                now = self._monotonic()
                self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                need = (1.0 - self.tokens) / self.rate
            self._clock.wait(stop, need)
