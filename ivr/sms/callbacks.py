"""Delivers status callbacks (DeliveryReportURL, StatusCallback) from the durable queue.

Each job is a row written in the same transaction as the status change it reports. A job is
retried with exponential backoff (2 s doubling, capped at 10 min) until
``[sms] callback_retry_period`` (24 h) has passed since it was created, so an application
that is down for ten minutes still receives every report afterwards. Any 2xx is success.
A receiver that failed three times in a row is *down* (receivers.py): its due reports wait
out a doubling period in one statement instead of each failing on its own, and one probe
goes first when it ends.

Every request carries ``X-Ivr-Signature: sha256=<hex>``, an HMAC-SHA256 under the callback
key of ``METHOD\\nURL\\nBODY`` (URL including the query for GET), so receivers can verify it
came from us. URLs are checked against the allow/deny policy at acceptance and again,
resolving the host afresh, before each attempt: by default link-local and cloud metadata
addresses (169.254.0.0/16, fe80::/10, also as IPv4-mapped IPv6) are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ivr import metrics
from ivr.clock import Clock, SystemClock
from ivr.logsafe import redact_url
from ivr.sms.batch import Batcher
from ivr.sms.receivers import ReceiverHealth, receiver_of
from ivr.sms.store import CallbackJob, CallbackOutcome, CallbackQueue
from ivr.urlpolicy import UrlPolicy, endpoint_of

__all__ = ["CallbackSender", "UrlPolicy", "endpoint_of", "sign", "webhook_token",
           "with_query"]

log = logging.getLogger(__name__)

_SHARE = 4      # jobs a sender thread takes at once when many are due


def with_query(url: str, params: dict[str, str]) -> str:
    """Append ``params`` to ``url``'s existing query string (kept as is, in order)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign(key: bytes, method: str, url: str, body: bytes) -> str:
    digest = hmac.new(key, method.encode() + b"\n" + url.encode() + b"\n" + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_token(key: bytes, transport: str) -> str:
    """The secret a provider's delivery-report webhook URL carries (``?token=``): derived
    from the callback key, so it needs no storage and differs per transport."""
    return hmac.new(key, b"provider-dlr\n" + transport.encode(), hashlib.sha256).hexdigest()[:32]


class CallbackSender:
    """One poller thread hands due jobs to a few sender threads.

    Several senders, so one application whose URL hangs until the timeout does not hold
    back every other application's reports; a job is never in flight twice. Not requests:
    it re-read the proxy environment on every call, which cost more
    than the callback itself); see :class:`_Http`.
    """

    def __init__(self, store: CallbackQueue, key: bytes, policy: UrlPolicy, *,
                 retry_period: float = 86400.0, timeout: float = 10.0,
                 base_delay: float = 2.0, max_delay: float = 600.0, senders: int = 8,
                 clock: Clock | None = None, coalesce: float = 0.01) -> None:
        self.store = store
        self.key = key
        self.policy = policy
        self.retry_period = retry_period
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.senders = max(1, senders)
        self.coalesce = coalesce
        self.clock = clock or SystemClock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[int, str] = {}     # job id -> message id
        self._flight_lock = threading.Lock()
        self._slots = threading.Semaphore(self.senders)
        self._http = _Http(timeout)
        # Outcomes are recorded in batches (one commit for what finished meanwhile).
        self._outcomes: Batcher[CallbackOutcome] = Batcher("sms-callback-outcomes",
                                                           self._record, linger=0.0)
        self.health = ReceiverHealth(base=base_delay, maximum=max_delay,
                                     clock=self.clock.monotonic)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._outcomes.start()
        self._pool = ThreadPoolExecutor(self.senders, "sms-callback")
        self._thread = threading.Thread(target=self._run, name="sms-callbacks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._outcomes.stop(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait: float | None = 5.0
            try:
                with self._flight_lock:
                    busy = set(self._in_flight.values())
                limit = self.senders * 4 + len(busy)
                due = self.store.callbacks_due(limit)
                # One job per message at a time, so its reports keep their order.
                jobs = self._not_for_down_receivers(
                    [j for j in due if j.message_id not in busy])
                for share in self._shares(jobs):
                    self._slots.acquire()
                    if self._stop.is_set() or self._pool is None:
                        self._slots.release()
                        return
                    with self._flight_lock:
                        for job in share:
                            self._in_flight[job.id] = job.message_id
                    self._pool.submit(self._deliver_share, share)
                if len(due) >= limit:
                    continue            # more may be due: look again at once
                if not jobs:
                    wait = self.store.next_callback_in()
                    if busy and (wait is None or wait <= 0):
                        wait = 0.05     # what is due is in flight: look again shortly
                # else each job that finishes wakes us, and we look again then
            except Exception:  # the worker must survive a bad row or a store hiccup
                log.exception("callback worker error")
                wait = 1.0
            if self.clock.wait(self._wake, min(wait if wait is not None else 5.0, 5.0)):
                # Every new report and every finished job wakes us: let a burst of them
                # become one look at the queue instead of one each.
                self.clock.wait(self._stop, self.coalesce)
            self._wake.clear()

    def _not_for_down_receivers(self, jobs: list[CallbackJob]) -> list[CallbackJob]:
        """The jobs to attempt now; those of down receivers are moved to the end of the
        down period, one statement per receiver."""
        ready: list[CallbackJob] = []
        waiting: dict[str, tuple[float, list[int]]] = {}
        for job in jobs:
            receiver = receiver_of(job.url, job.owner)
            wait = self.health.wait_for(receiver)
            if wait > 0:
                waiting.setdefault(receiver, (wait, []))[1].append(job.id)
            else:
                ready.append(job)
        for receiver, (wait, ids) in waiting.items():
            self.store.callbacks_defer(ids, wait, f"receiver {receiver} is down; its reports "
                                                  f"wait {wait:.0f} s")
        return ready

    def _shares(self, jobs: list[CallbackJob]) -> list[list[CallbackJob]]:
        """The jobs as the sender threads' tasks: each task one receiver's, at least
        ``_SHARE`` jobs unless fewer are due, at most ``senders`` tasks per receiver. A
        thread wakes once for several attempts on its kept-alive connection instead of once
        each (the hand-offs cost as much as the attempts), one receiver's jobs still go out
        on several connections at once, and a receiver that hangs holds up only its own."""
        by_receiver: dict[str, list[CallbackJob]] = {}
        for job in jobs:
            by_receiver.setdefault(receiver_of(job.url, job.owner), []).append(job)
        shares: list[list[CallbackJob]] = []
        for mine in by_receiver.values():
            count = max(1, min(self.senders, len(mine) // _SHARE))
            shares.extend(mine[k::count] for k in range(count))
        return shares

    def _deliver_share(self, jobs: list[CallbackJob]) -> None:
        try:
            for job in jobs:
                self._deliver_once(job)
        finally:
            self._slots.release()

    def _deliver_once(self, job: CallbackJob) -> None:
        outcome: CallbackOutcome | None = None
        try:
            outcome = self.attempt(job)
        except Exception:
            log.exception("[sms %s] callback job %d: unexpected error", job.message_id, job.id)
        finally:
            if outcome is not None:
                # Still in flight until its outcome is stored: the message's next report
                # must not overtake it.
                self._outcomes.put(outcome)
            else:
                self._landed([job.id])

    def _record(self, outcomes: list[CallbackOutcome]) -> None:
        """The outcomes of a moment's attempts, in one transaction."""
        try:
            self.store.callbacks_finish(outcomes)
        except Exception:    # still pending in the store: attempted again (at least once)
            log.exception("cannot record the outcome of %d callback attempt(s)", len(outcomes))
        finally:
            self._landed([o.job_id for o in outcomes])

    def _landed(self, job_ids: list[int]) -> None:
        with self._flight_lock:
            for job_id in job_ids:
                self._in_flight.pop(job_id, None)
        self._wake.set()

    def deliver(self, job: CallbackJob) -> bool:
        """Attempt ``job`` once and record the outcome; True when it was delivered."""
        outcome = self.attempt(job)
        self.store.callbacks_finish([outcome])
        return outcome.state == "done"

    def attempt(self, job: CallbackJob) -> CallbackOutcome:
        """Attempt ``job`` once: the outcome to record (not recorded here)."""
        # Denied addresses end the job; a name that does not resolve right now is an
        # attempt that failed, retried like any other (a DNS hiccup must not lose reports).
        # Whatever else goes wrong while attempting is a failed attempt with backoff too: an
        # exception that left the job due would make it due again at once, for ever.
        try:
            vetted = self.policy.vet(job.url, fresh=True)
            if vetted.reason:
                log.warning("[sms %s] callback to %s refused: %s", job.message_id,
                            redact_url(job.url), vetted.reason)
                metrics.callback_result("refused")
                return CallbackOutcome(job.id, "refused", vetted.reason)
            ok, error = self._attempt(job, vetted.addresses)
        except Exception as exc:
            log.exception("[sms %s] callback job %d to %s: unexpected error", job.message_id,
                          job.id, redact_url(job.url))
            ok, error = False, f"{exc.__class__.__name__}: {exc}"
        receiver = receiver_of(job.url, job.owner)
        if ok:
            log.info("[sms %s] %s callback delivered to %s", job.message_id, job.status,
                     redact_url(job.url))
            metrics.callback_result("delivered")
            if self.health.succeeded(receiver):
                log.info("callback receiver %s answers again", receiver)
            return CallbackOutcome(job.id, "done", attempt=error)     # "HTTP 200"
        down_for = self.health.failed(receiver)
        if down_for:
            log.warning("callback receiver %s is down (%s): its reports wait %.0f s, then one "
                        "goes first as a probe", receiver, error, down_for)
        age = self.clock.now() - job.created_at
        if age >= self.retry_period:
            log.error("[sms %s] giving up the %s callback to %s after %d attempts: %s",
                      job.message_id, job.status, redact_url(job.url), job.attempts + 1, error)
            metrics.callback_result("failed")
            return CallbackOutcome(job.id, "failed", error)
        delay = min(self.max_delay, self.base_delay * 2 ** job.attempts)
        log.warning("[sms %s] callback to %s failed (%s); retry in %.0f s", job.message_id,
                    redact_url(job.url), error, delay)
        metrics.callback_result("retry")
        return CallbackOutcome(job.id, "retry", error, delay=delay)

    def _attempt(self, job: CallbackJob, addresses: tuple[str, ...]) -> tuple[bool, str]:
        method = job.method.upper()
        if method == "POST":
            url, body = job.url, urlencode(job.params).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            url, body, headers = with_query(job.url, job.params), b"", {}
        headers["X-Ivr-Signature"] = sign(self.key, method, url, body)
        headers["User-Agent"] = "ivr-callbacks"
        return self._http.request(method, url, body, headers, addresses)


# no_proxy matching, given the proxies read at start (not in typeshed's stubs).
_bypass: Callable[[str, dict[str, str]], bool] = \
    urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


class _Http:
    """Keep-alive HTTP(S) on the standard library, one connection per thread and peer.

    Not urllib3: it re-parses and re-encodes the URL character by character, which cost
    more than the rest of a callback with Ozeki's twenty report parameters; our URLs are
    already encoded. The proxy environment (http_proxy, https_proxy, no_proxy) is read once.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._proxies = urllib.request.getproxies_environment()
        self._local = threading.local()
        self._tls = ssl.create_default_context()

    def request(self, method: str, url: str, body: bytes, headers: dict[str, str],
                addresses: tuple[str, ...]) -> tuple[bool, str]:
        """(2xx?, what happened) — never raises for network trouble.

        ``addresses`` are the ones the URL policy judged: the connection goes to one of them
        (the first that accepts), never to a fresh resolution of the name. Through a proxy
        the proxy resolves the name, and its own policy applies."""
        parts = urlsplit(url)
        try:
            host, port = endpoint_of(parts)
        except ValueError as exc:
            return False, f"bad URL: {exc}"
        proxy = self._proxies.get(parts.scheme, "")
        if proxy and _bypass(host, self._proxies):
            proxy = ""
        target = url if proxy and parts.scheme == "http" else \
            urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if not proxy and not addresses:
            return False, f"{host} does not resolve"
        outcome = (False, "unreachable")
        for address in (("",) if proxy else addresses):
            for attempt in (1, 2):      # a kept-alive connection the peer closed: once more
                fresh, conn = self._connection(parts.scheme, host, port, proxy, address)
                try:
                    conn.request(method, target, body=body or None, headers=headers)
                    response = conn.getresponse()
                    response.read(64 * 1024)
                    if response.will_close:
                        self._drop(conn)
                    return 200 <= response.status < 300, f"HTTP {response.status}"
                except (OSError, http.client.HTTPException) as exc:
                    self._drop(conn)
                    outcome = (False, f"{exc.__class__.__name__}: {exc}")
                    if fresh or attempt == 2:
                        break
        return outcome

    def _connection(self, scheme: str, host: str, port: int, proxy: str,
                    address: str) -> tuple[bool, http.client.HTTPConnection]:
        cache: dict[tuple[str, str, int, str, str], http.client.HTTPConnection] = \
            self._local.__dict__.setdefault("connections", {})
        key = (scheme, host, port, proxy, address)
        if key in cache:
            return False, cache[key]
        conn: http.client.HTTPConnection
        if proxy:
            via = urlsplit(proxy)
            if scheme == "https":    # CONNECT through the proxy, then TLS with the peer
                conn = http.client.HTTPSConnection(via.hostname or "", via.port or 80,
                                                   timeout=self._timeout, context=self._tls)
                conn.set_tunnel(host, port)
            else:                    # absolute URI to the proxy
                conn = http.client.HTTPConnection(via.hostname or "", via.port or 80,
                                                  timeout=self._timeout)
        elif scheme == "https":
            conn = _PinnedHTTPSConnection(host, port, address, timeout=self._timeout,
                                          context=self._tls)
        else:
            conn = _PinnedHTTPConnection(host, port, address, timeout=self._timeout)
        cache[key] = conn
        return True, conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        cache = self._local.__dict__.get("connections", {})
        for key in [k for k, c in cache.items() if c is conn]:
            del cache[key]
        conn.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to ``address``, with ``host`` in the Host header: the address the URL policy
    judged, not another resolution of the name (DNS rebinding)."""

    def __init__(self, host: str, port: int, address: str, *, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address``; the certificate is checked against ``host`` (SNI too)."""

    def __init__(self, host: str, port: int, address: str, *, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)
