"""Admission of API users for every dialect: credentials, permission, request rate.

Each dialect only maps the resulting :class:`~ivr.errors.AuthError` reason onto its own
error shape; the sequence itself lives here once.
"""

from __future__ import annotations

import threading
import time

from ivr.api.client import Client
from ivr.api.services import ApiServices
from ivr.errors import AuthError
from ivr.users import User

__all__ = ["RateLimiter", "admit", "authorize"]


class RateLimiter:
    """Allows ``per_minute`` requests per key, with bursts up to the same number."""

    def __init__(self, default_per_minute: int) -> None:
        self.default_per_minute = default_per_minute
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, last time)

    def allow(self, key: str, per_minute: int = 0, cost: int = 1) -> bool:
        """Take ``cost`` tokens (one per message a request sends), or none if fewer are left."""
        limit = per_minute or self.default_per_minute
        if limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * limit / 60.0)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - cost, now)
            return True


def admit(limiter: RateLimiter, user: User, permission: str, cost: int = 1) -> User:
    """``user`` if it has ``permission`` and budget left for ``cost`` messages, else
    AuthError (``not_permitted`` / ``over_limit``)."""
    if not user.may(permission):
        raise AuthError("not_permitted", f"user lacks the {permission!r} permission")
    if not limiter.allow(user.name, user.rate_limit_per_minute, cost):
        raise AuthError("over_limit", f"{user.name} is over its request rate",
                        limit=user.rate_limit_per_minute or limiter.default_per_minute)
    return user


def authorize(services: ApiServices, limiter: RateLimiter, name: str, password: str,
              client: Client, permission: str, cost: int = 1) -> User:
    """Authenticate ``name``/``password`` (UserStore reasons), then :func:`admit`."""
    user = services.users.authenticate(name, password, client.address, proxied=client.proxied)
    return admit(limiter, user, permission, cost)
