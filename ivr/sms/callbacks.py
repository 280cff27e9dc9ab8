"""Delivers status callbacks (DeliveryReportURL, StatusCallback) from the durable queue.

Each job is a row written in the same transaction as the status change it reports. A job is
retried with exponential backoff (2 s doubling, capped at 10 min) until
``[sms] callback_retry_period`` (24 h) has passed since it was created, so an application
that is down for ten minutes still receives every report afterwards. Any 2xx is success.

Every request carries ``X-Ivr-Signature: sha256=<hex>``, an HMAC-SHA256 under the callback
key of ``METHOD\\nURL\\nBODY`` (URL including the query for GET), so receivers can verify it
came from us. URLs are checked against the allow/deny policy before each attempt: by
default link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10) are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from ivr.sms.store import CallbackJob, Store

__all__ = ["CallbackSender", "UrlPolicy", "sign", "with_query"]

log = logging.getLogger(__name__)


def with_query(url: str, params: dict[str, str]) -> str:
    """Append ``params`` to ``url``'s existing query string (kept as is, in order)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign(key: bytes, method: str, url: str, body: bytes) -> str:
    digest = hmac.new(key, method.encode() + b"\n" + url.encode() + b"\n" + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class UrlPolicy:
    def __init__(self, allow: list[str], deny: list[str]) -> None:
        self.allow = [self._net(a) for a in allow]
        self.deny = [self._net(d) for d in deny]

    @staticmethod
    def _net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | str:
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError:
            return value.lower()  # a host name

    def check(self, url: str) -> str:
        """'' if ``url`` may be called, else the reason."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"not an http(s) URL: {url!r}"
        host = parts.hostname.lower()
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError as exc:
            return f"cannot resolve {host}: {exc}"
        for rule in self.allow:
            if rule == host or any(not isinstance(rule, str) and
                                   ipaddress.ip_address(a.split("%")[0]) in rule
                                   for a in addresses):
                return ""
        for rule in self.deny:
            if rule == host or any(not isinstance(rule, str) and
                                   ipaddress.ip_address(a.split("%")[0]) in rule
                                   for a in addresses):
                return f"{host} is denied by the callback policy ({rule})"
        return ""


class CallbackSender:
    def __init__(self, store: Store, key: bytes, policy: UrlPolicy, *,
                 retry_period: float = 86400.0, timeout: float = 10.0,
                 base_delay: float = 2.0, max_delay: float = 600.0,
                 now: Callable[[], float] | None = None) -> None:
        import time

        self.store = store
        self.key = key
        self.policy = policy
        self.retry_period = retry_period
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._now = now or time.time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sms-callbacks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self.store.callbacks_due()
                for job in jobs:
                    if self._stop.is_set():
                        return
                    self.deliver(job)
                if jobs:
                    continue
                wait = self.store.next_callback_in()
            except Exception:  # the worker must survive a bad row or a store hiccup
                log.exception("callback worker error")
                wait = 1.0
            self._wake.wait(min(wait if wait is not None else 5.0, 5.0))
            self._wake.clear()

    def deliver(self, job: CallbackJob) -> bool:
        reason = self.policy.check(job.url)
        if reason:
            log.warning("[sms %s] callback to %s refused: %s", job.message_id, job.url, reason)
            self.store.callback_done(job.id, "refused", reason)
            return False
        method = job.method.upper()
        if method == "POST":
            url, body = job.url, urlencode(job.params).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            url, body, headers = with_query(job.url, job.params), b"", {}
        headers["X-Ivr-Signature"] = sign(self.key, method, url, body)
        headers["User-Agent"] = "ivr-callbacks"
        try:
            response = self._session.request(method, url, data=body or None, headers=headers,
                                             timeout=self.timeout, allow_redirects=False)
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
            response.close()
        except requests.RequestException as exc:
            ok, error = False, f"{exc.__class__.__name__}: {exc}"
        if ok:
            log.info("[sms %s] %s callback delivered to %s", job.message_id, job.status, job.url)
            self.store.callback_done(job.id)
            return True
        age = self._now() - job.created_at
        if age >= self.retry_period:
            log.error("[sms %s] giving up the %s callback to %s after %d attempts: %s",
                      job.message_id, job.status, job.url, job.attempts + 1, error)
            self.store.callback_done(job.id, "failed", error)
            return False
        delay = min(self.max_delay, self.base_delay * 2 ** job.attempts)
        log.warning("[sms %s] callback to %s failed (%s); retry in %.0f s", job.message_id,
                    job.url, error, delay)
        self.store.callback_retry(job.id, delay, error)
        return False
