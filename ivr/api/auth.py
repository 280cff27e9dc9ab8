"""Per-user request rate limits for every API dialect (a token bucket per user)."""

from __future__ import annotations

import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``per_minute`` requests per key, with bursts up to the same number."""

    def __init__(self, default_per_minute: int) -> None:
        self.default_per_minute = default_per_minute
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, last time)

    def allow(self, key: str, per_minute: int = 0) -> bool:
        limit = per_minute or self.default_per_minute
        if limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * limit / 60.0)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True
