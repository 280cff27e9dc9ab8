"""Worker threads that move queued messages to their transports.

A worker claims a batch of due messages in one transaction (with a lease; at most
``batch``, and no more than the free window of a transport), routes them, takes the slots
of that transport's window (``max_in_flight``) that are free (waiting for the first only)
and its rate limit (token bucket), hands that chunk to the transport at once
(``send_many``: SMPP keeps all of it outstanding on one bind from this one thread), and
records the chunk's submit results in one transaction. Retryable errors back off per message (exponential with jitter); permanent ones end
the message as failed with its error code; an unhealthy transport (modem re-initialising,
SMSC unbound) delays the message without burning its attempts. On stop, workers finish the
send in hand; claimed-but-unsent messages are released back to the queue.

A claim whose lease ran out belongs to a worker that died mid-send (``kill -9``, power
loss, another process on the same PostgreSQL database). The lease keeper requeues such a
message ``in_doubt_hold`` seconds out instead of resending it at once, so that the peer's
report of the interrupted send can arrive and be adopted (store.claim_due, reconcile.py).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ivr import metrics
from ivr.clock import Clock, SystemClock
from ivr.errors import SmsError, TransportError
from ivr.sms.message import Message, Status
from ivr.sms.ratelimit import TokenBucket
from ivr.sms.routing import Router
from ivr.sms.store import ChangeHook, Outbox, Sent
from ivr.sms.transports.base import DeliveryReport, SubmitResult, Transport, send_all

__all__ = ["Dispatcher", "RetryPolicy"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 2.0
    maximum: float = 600.0
    max_attempts: int = 10

    def delay(self, attempts: int) -> float:
        raw = min(self.maximum, self.base * 2 ** max(0, attempts - 1))
        return raw * random.uniform(0.8, 1.2)


class Dispatcher:
    def __init__(self, store: Outbox, transports: Mapping[str, Transport], router: Router,
                 hook: ChangeHook, on_reported: Callable[[str, list[DeliveryReport]], None], *,
                 workers: int = 4, lease_seconds: float = 120.0,
                 retry: RetryPolicy = RetryPolicy(), in_doubt_hold: float = 60.0,
                 clock: Clock | None = None, batch: int = 64, linger: float = 0.01) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.transports = transports
        self.router = router
        self.hook = hook
        self.on_reported = on_reported   # reports applied outside on_delivery_report
        self.workers = workers
        self.batch = max(1, batch)
        self.linger = linger
        self.lease_seconds = lease_seconds
        self.retry = retry
        self.in_doubt_hold = in_doubt_hold
        self._slots = {name: threading.BoundedSemaphore(max(1, t.max_in_flight))
                       for name, t in transports.items()}
        self._buckets = {name: TokenBucket(t.rate_limit, self.clock)
                         for name, t in transports.items()}
        self._in_flight = dict.fromkeys(transports, 0)
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._pending_wake = False
        self._gather = False
        self._threads: list[threading.Thread] = []
        self._sending: dict[str, str] = {}    # message id -> worker, while its send runs

    def wake(self, everyone: bool = False, gather: bool = True) -> None:
        """One idle worker looks for work (a new message, a free window slot): waking all
        of them would have each run a claim that finds nothing. ``gather``: the wake is an
        arrival, so the worker first lets the ones right behind it arrive (``linger``); a
        freed window slot (``gather=False``) is claimed for at once, while the worker that
        freed it records its results."""
        with self._wake:
            self._pending_wake = True
            self._gather = self._gather or gather
            if everyone:
                self._wake.notify_all()
            else:
                self._wake.notify()

    def start(self) -> None:
        self._stop.clear()
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, args=(f"worker-{n}",),
                                      name=f"sms-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        keeper = threading.Thread(target=self._keep_leases, name="sms-leases", daemon=True)
        keeper.start()
        self._threads.append(keeper)

    def _keep_leases(self) -> None:
        """Renew the claims of sends still running, and requeue those of dead workers, at a
        third of the lease."""
        self._hold_interrupted()
        while not self.clock.wait(self._stop, max(0.05, self.lease_seconds / 3)):
            self._hold_interrupted()
            with self._count_lock:
                by_worker: dict[str, list[str]] = {}
                for message_id, worker in self._sending.items():
                    by_worker.setdefault(worker, []).append(message_id)
            for worker, ids in by_worker.items():
                try:
                    self.store.renew_leases(worker, ids, self.lease_seconds)
                except Exception:
                    log.exception("cannot renew the leases of %s", worker)

    def _hold_interrupted(self) -> None:
        try:
            if self.store.hold_interrupted(self.in_doubt_hold):
                self.wake()
        except Exception:
            log.exception("cannot requeue the messages of interrupted sends")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake(everyone=True)
        deadline = self.clock.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - self.clock.monotonic()))
        self._threads.clear()

    def _saturated(self) -> tuple[list[str], float, int]:
        """Transports that cannot take a message now (window full or no rate token), the
        seconds until the first rate token frees up (a window slot wakes us itself), and
        the most messages one of the others can take now (its free window)."""
        busy: list[str] = []
        soonest = 1.0
        room = 0
        with self._count_lock:
            for name in self.transports:
                free = self._room(name)
                if free <= 0:
                    busy.append(name)
                    continue
                wait = self._buckets[name].time_to_token()
                if wait > 0:
                    busy.append(name)
                    soonest = min(soonest, wait)
                    continue
                room = max(room, free)
        return busy, soonest, room

    def _room(self, name: str) -> int:
        """How many messages ``name`` can take now (the caller holds ``_count_lock``): its
        free window, or one at a time when it is rate-limited (the bucket paces each send).
        0 or less: its window is full."""
        transport = self.transports[name]
        free = max(1, transport.max_in_flight) - self._in_flight[name]
        return min(free, 1) if transport.rate_limit > 0 else free

    def _idle(self, busy: bool, token_in: float) -> None:
        wait = self.store.next_due_in()
        timeout = min(1.0, wait if wait is not None else 1.0)
        if busy:
            # Due messages of saturated transports are waiting: sleep until a token is
            # due or a send finishes (wake()), not in a tight claim loop.
            timeout = max(timeout, min(token_in, 1.0), 0.01)
        with self._wake:
            # stop() sets _stop before its wake-everyone: a worker that comes here after
            # another one took that wake must not wait out its timeout (a full second, or
            # for ever on a clock that stands still).
            woken = self.clock.wait_for(
                self._wake, lambda: self._pending_wake or self._stop.is_set(), timeout)
            gather = woken and self._gather and not self._stop.is_set()
            self._pending_wake = self._gather = False
        if gather and self.linger > 0:
            # Woken by an arrival: give the ones right behind it a moment to arrive too, so
            # that a trickle of single commits becomes one claim, one send and one record.
            # Under load nobody idles and nothing lingers. Real time, not the clock's: it
            # waits for other threads' and processes' arrivals, which a test's clock does
            # not move (a manual clock would hold every claim until the test stepped it).
            self._stop.wait(self.linger)

    def _run(self, worker: str) -> None:
        claimed: list[Message] = []
        while not self._stop.is_set():
            try:
                busy, token_in, room = self._saturated()
                claimed = [] if room <= 0 else self.store.claim_due(
                    worker, self.lease_seconds, min(self.batch, room), busy, self.hook,
                    look_first=not claimed)
            except Exception:
                log.exception("%s: cannot claim messages", worker)
                self.clock.wait(self._stop, 1.0)
                continue
            if not claimed:
                self._idle(bool(busy), token_in)
                continue
            with self._count_lock:
                for message in claimed:
                    self._sending[message.id] = worker
            try:
                self._dispatch_claimed(claimed)
            finally:
                with self._count_lock:
                    for message in claimed:
                        self._sending.pop(message.id, None)

    def _dispatch_claimed(self, claimed: list[Message]) -> None:
        """Route a claimed batch and send each transport's share of it together."""
        groups: dict[str, list[Message]] = {}
        for message in claimed:
            if message.status != Status.SENDING:
                # An interrupted send its peer reported: adopted, not to be sent again.
                self.on_reported(message.id, [])
                continue
            if self._stop.is_set():
                self.store.release(message.id)
                continue
            try:
                name = self._route(message)
            except Exception:  # never lose the message to a bug: back off and retry
                log.exception("[sms %s] unexpected dispatch error", message.id)
                self._settle_after_bug(message)
                continue
            if name is not None:
                groups.setdefault(name, []).append(message)
        for name, messages in self._one_transport(groups).items():
            try:
                self._dispatch(name, messages)      # takes each message from the list as
            except Exception:                       # it goes to the transport
                log.exception("unexpected dispatch error for %d message(s) via %s",
                              len(messages), name)
                for message in messages:            # never sent: back off and retry
                    self._settle_after_bug(message)

    def _one_transport(self, groups: dict[str, list[Message]]) -> dict[str, list[Message]]:
        """Keep the batch's oldest transport's messages, as many as its window and rate
        take now, and give the rest back to the queue at once (another worker claims
        them): a worker sends to one transport at a time, so a modem's slow send never
        holds up SMPP messages that came in the same claim."""
        if not groups:
            return groups
        name = next(iter(groups))
        with self._count_lock:
            room = max(1, self._room(name))
        keep = groups[name][:room]
        back = groups[name][room:] + [m for other, ms in groups.items() if other != name
                                      for m in ms]
        for message in back:
            self.store.release(message.id)
        if back:
            self.wake(gather=False)
        return {name: keep}

    def _settle_after_bug(self, message: Message) -> None:
        try:
            self.store.mark_retry(message.id, self.retry.delay(message.attempts),
                                  "internal error")
        except Exception:   # its lease lapses and the lease keeper holds it
            log.exception("[sms %s] cannot requeue after an internal error", message.id)

    def _route(self, message: Message) -> str | None:
        """The transport's name, or None after recording why the message cannot be sent."""
        try:
            explicit = message.transport
            if explicit and explicit not in self.transports:
                log.warning("[sms %s] transport %r is no longer configured; routing again",
                            message.id, explicit)
                explicit = ""
            return self.router.route(message.recipient, message.sender, explicit)
        except SmsError as exc:
            log.error("[sms %s] %s", message.id, exc)
            self.store.mark_failed(message.id, 30008, str(exc), self.hook)
            return None

    def _dispatch(self, name: str, messages: list[Message]) -> None:
        transport = self.transports[name]
        if not transport.healthy():
            for message in messages:
                self.store.release(message.id, min(30.0, self.retry.base * 2),
                                   f"transport {name} not ready")
            return
        while messages:
            if self._stop.is_set():
                for message in list(messages):
                    self.store.release(message.id)
                    messages.remove(message)
                return
            # As many as the window has room for, waiting only for the first: a worker never
            # holds slots while it waits for more (two batches could each hold half).
            # Counted from here, so at most max_in_flight messages ever wait on one transport.
            with self._count_lock:
                self._in_flight[name] += 1
            metrics.transport_in_flight(name, 1)
            chunk: list[Message] = []
            slot = self._slots[name]
            try:
                self._buckets[name].wait(self._stop)
                slot.acquire()
                chunk.append(messages.pop(0))
                while messages and transport.rate_limit <= 0 and slot.acquire(blocking=False):
                    chunk.append(messages.pop(0))
                    with self._count_lock:
                        self._in_flight[name] += 1
                    metrics.transport_in_flight(name, 1)
                outcomes = self._send(transport, chunk)
            finally:
                for _ in chunk:
                    slot.release()
                taken = max(1, len(chunk))
                with self._count_lock:
                    self._in_flight[name] -= taken
                metrics.transport_in_flight(name, -taken)
                self.wake(gather=False)     # window slots are free: claim for them now
            self._record(name, chunk, outcomes)

    @staticmethod
    def _send(transport: Transport,
              chunk: list[Message]) -> list[SubmitResult | TransportError]:
        try:
            return send_all(transport, chunk)
        except Exception as exc:   # a bug in a transport: back off and retry, as any error
            log.exception("unexpected error sending %d message(s) via %s", len(chunk),
                          transport.name)
            return [TransportError(f"internal error: {exc}", code="INTERNAL", retryable=True)
                    for _ in chunk]

    def _record(self, name: str, chunk: list[Message],
                outcomes: list[SubmitResult | TransportError]) -> None:
        """The submit results of a chunk in one transaction; the failures one by one."""
        sent = [(m, o) for m, o in zip(chunk, outcomes, strict=True)
                if isinstance(o, SubmitResult)]
        for message, outcome in zip(chunk, outcomes, strict=True):
            if isinstance(outcome, TransportError):
                try:
                    self._failed(message, name, outcome)
                except Exception:   # its lease lapses; the lease keeper holds it for doubt
                    log.exception("[sms %s] cannot record its failed send", message.id)
        if not sent:
            return
        try:
            recorded = self.store.mark_sent_many(
                [Sent(m.id, name, r.provider_ids, r.references) for m, r in sent], self.hook)
        except Exception as exc:
            recorded = [exc] * len(sent)
        for (message, _), early in zip(sent, recorded, strict=True):
            if isinstance(early, Exception):
                # The peer has the message; only our record of it failed (a database
                # hiccup). Retrying would send it twice: leave the claim to lapse, so the
                # lease keeper holds it for the peer's report and adopts it (reconcile.py).
                log.error("[sms %s] sent via %s but its result could not be recorded (%s); "
                          "it waits for the peer's report instead of being sent again",
                          message.id, name, early)
                continue
            log.info("[sms %s] sent via %s (%d part(s), attempt %d)", message.id, name,
                     message.segments, message.attempts)
            metrics.sms_status("sent", name)
            if early:
                self.on_reported(message.id, early)

    def _failed(self, message: Message, name: str, exc: TransportError) -> None:
        if exc.retryable and exc.in_doubt:
            log.warning("[sms %s] %s: %s (%s); the peer may have it: held %.0f s for its "
                        "report before it is sent again", message.id, name, exc.message,
                        exc.code, self.in_doubt_hold)
            self.store.hold_in_doubt(message.id, self.in_doubt_hold, f"{exc.code}: {exc.message}")
            return
        if exc.retryable and message.attempts < self.retry.max_attempts:
            delay = self.retry.delay(message.attempts)
            log.warning("[sms %s] %s: %s (%s); retry %d in %.1f s", message.id, name,
                        exc.message, exc.code, message.attempts, delay)
            self.store.mark_retry(message.id, delay, f"{exc.code}: {exc.message}")
            metrics.sms_status("retry", name)
            return
        # Retries exhausted: 30090 when the peer never answered (SMPP submit timeout),
        # else 30008; a permanent error keeps the transport's own code.
        no_answer = exc.error_code == 30090 or "timeout" in exc.message.lower()
        code = exc.error_code if not exc.retryable else (30090 if no_answer else 30008)
        why = exc.message if not exc.retryable else \
            f"gave up after {message.attempts} attempts: {exc.message}"
        log.error("[sms %s] %s: failed permanently: %s (%s)", message.id, name, why, exc.code)
        self.store.mark_failed(message.id, code, why, self.hook)
        metrics.sms_status("failed", name)
