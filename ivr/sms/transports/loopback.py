"""The reference transport: accepts every message at once and reports it delivered.

``loopback://?delay=0.5&fail=^\\+999&tempfail=^\\+998&log=/path/sent.log``
- ``delay``: seconds before the delivered report (default 0.2); ``0`` reports synchronously,
  inside ``send`` and so *before* the submit result is stored, like a fast SMSC whose
  receipt overtakes its submit_sm_resp: the store keeps it and applies it with the result;
- ``fail`` / ``tempfail``: regular expressions on the recipient that are refused
  permanently (error 30003) or transiently (retried);
- ``undeliver``: recipients accepted but reported undelivered (30005);
- ``log``: a file that gets one line per accepted part, so tests can count what reached
  the "network" (duplicates included). It also makes the "network" durable like an SMSC:
  a report counts as acknowledged once the service has stored it (its id goes to
  ``LOG.acked``), and reports never acknowledged (the service died first) are sent again
  when the transport starts, which lets a restarted service recognise a send that was
  interrupted after the peer got it, instead of sending it twice.
The default of ``make run``: everything works end to end without a modem or an SMSC.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

from ivr.errors import ConfigError, TransportError
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents, report_all

__all__ = ["LoopbackTransport", "from_url"]

log = logging.getLogger(__name__)


class LoopbackTransport:
    def __init__(self, name: str = "loopback", *, delay: float = 0.2, fail: str = "",
                 tempfail: str = "", undeliver: str = "", log_path: str = "",
                 max_in_flight: int = 8, rate_limit: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.fail = re.compile(fail) if fail else None
        self.tempfail = re.compile(tempfail) if tempfail else None
        self.undeliver = re.compile(undeliver) if undeliver else None
        self.log_path = log_path
        self._acked_path = log_path + ".acked"     # ids of the reports the service stored
        self.max_in_flight = max_in_flight
        self.rate_limit = rate_limit
        self._events: TransportEvents | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reports = _ReportScheduler(self._deliver)

    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stopped.clear()
        self._reports.start(self.name)
        for report in self._unacknowledged():
            self._reports.at(time.monotonic(), report)

    def _unacknowledged(self) -> list[DeliveryReport]:
        """Reports of parts in the log whose reports the service never acknowledged."""
        if not self.log_path or not os.path.exists(self.log_path):
            return []
        acked: set[str] = set()
        if os.path.exists(self._acked_path):
            with open(self._acked_path, encoding="utf-8") as lines:
                acked = {line.strip() for line in lines}
        pending: list[DeliveryReport] = []
        with open(self.log_path, encoding="utf-8") as lines:
            for line in lines:
                fields = line.split()
                if len(fields) == 5 and fields[4] != "-" and fields[2] not in acked:
                    pending.append(self._report(fields[2], fields[3], Status(fields[4])))
        if pending:
            log.info("loopback %s: re-sending %d unacknowledged report(s)", self.name,
                     len(pending))
        return pending

    def _report(self, provider_id: str, recipient: str, status: Status) -> DeliveryReport:
        return DeliveryReport(
            transport=self.name, status=status, provider_id=provider_id, recipient=recipient,
            error_code=30005 if status == Status.UNDELIVERED else None,
            raw=f"loopback {status.value}")

    def healthy(self) -> bool:
        return not self._stopped.is_set()

    def send(self, message: Message) -> SubmitResult:
        if self._stopped.is_set():
            raise TransportError("loopback transport stopped", code="STOPPED", retryable=True)
        if self.fail and self.fail.search(message.recipient):
            raise TransportError(f"{message.recipient} refused (loopback fail pattern)",
                                 code="FAIL", retryable=False, error_code=30003)
        if self.tempfail and self.tempfail.search(message.recipient):
            raise TransportError(f"{message.recipient} temporarily refused (loopback)",
                                 code="TEMPFAIL", retryable=True, error_code=30008)
        ids = [uuid.uuid4().hex for _ in range(max(1, message.segments))]
        status = Status.UNDELIVERED if self.undeliver and self.undeliver.search(
            message.recipient) else Status.DELIVERED
        if self.log_path:
            reported = status.value if message.request_status_report else "-"
            with self._lock, open(self.log_path, "a", encoding="utf-8") as sent:
                sent.writelines(f"{message.id} {i} {pid} {message.recipient} {reported}\n"
                                for i, pid in enumerate(ids))
        if message.request_status_report:
            for pid in ids:
                self._later(self._report(pid, message.recipient, status))
        log.debug("[sms %s] loopback accepted %d part(s)", message.id, len(ids))
        return SubmitResult(provider_ids=ids)

    def _later(self, report: DeliveryReport) -> None:
        if self.delay <= 0:
            self._deliver([report])
        else:
            self._reports.at(time.monotonic() + self.delay, report)

    def _deliver(self, reports: list[DeliveryReport]) -> None:
        if self._events is not None and not self._stopped.is_set():
            # Returns once the reports are stored; those that are not are sent again when
            # the transport starts next (never acknowledged).
            stored = report_all(self._events, reports)
            if self.log_path:
                with self._lock, open(self._acked_path, "a", encoding="utf-8") as ack:
                    ack.writelines(r.provider_id + "\n"
                                   for r, ok in zip(reports, stored, strict=True) if ok)

    def stop(self) -> None:
        self._stopped.set()
        self._reports.stop()


class _ReportScheduler:
    """Delivers reports when they fall due: one timer thread for all of them (a thread per
    report cost more than the messages at a thousand a second), and a few threads that hand
    them to the service, every report due at one moment in one batch (one transaction)."""

    BATCH = 256

    def __init__(self, deliver: Callable[[list[DeliveryReport]], None],
                 threads: int = 4) -> None:
        self._deliver = deliver
        self._threads = threads
        self._due: list[tuple[float, int, DeliveryReport]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._running = False
        self._pool: ThreadPoolExecutor | None = None

    def start(self, name: str) -> None:
        with self._changed:
            if self._running:
                return
            self._running = True
            self._pool = ThreadPoolExecutor(self._threads, f"{name}-reports")
        threading.Thread(target=self._run, name=f"{name}-report-clock", daemon=True).start()

    def at(self, when: float, report: DeliveryReport) -> None:
        with self._changed:
            heapq.heappush(self._due, (when, next(self._order), report))
            if self._due[0][2] is report:
                self._changed.notify()

    def stop(self) -> None:
        """Drop the reports not yet due, as a network does when we disconnect."""
        with self._changed:
            self._running = False
            self._due.clear()
            pool, self._pool = self._pool, None
            self._changed.notify()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._running and (not self._due or self._due[0][0] > time.monotonic()):
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if not self._running or self._pool is None:
                    return
                now = time.monotonic()
                batch: list[DeliveryReport] = []
                while self._due and self._due[0][0] <= now:
                    batch.append(heapq.heappop(self._due)[2])
                    if len(batch) == self.BATCH:
                        self._pool.submit(self._safely, batch)
                        batch = []
                if batch:
                    self._pool.submit(self._safely, batch)

    def _safely(self, reports: list[DeliveryReport]) -> None:
        try:
            self._deliver(reports)
        except Exception:   # the service logs store errors; a report is not worth a thread
            log.exception("loopback: could not deliver %d report(s)", len(reports))


def from_url(name: str, url: str) -> LoopbackTransport:
    parts = urlsplit(url)
    # Not parse_qs: it turns "+" into a space, and these values are phone-number patterns.
    params = {unquote(k): unquote(v) for k, _, v in
              (item.partition("=") for item in parts.query.split("&") if item)}
    known = {"delay", "fail", "tempfail", "undeliver", "log", "window", "rate"}
    unknown = set(params) - known
    if unknown:
        raise ConfigError(f"transport {name}: unknown loopback parameter(s) "
                          f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    try:
        return LoopbackTransport(name, delay=float(params.get("delay", "0.2")),
                                 fail=params.get("fail", ""),
                                 tempfail=params.get("tempfail", ""),
                                 undeliver=params.get("undeliver", ""),
                                 log_path=params.get("log", ""),
                                 max_in_flight=int(params.get("window", "8")),
                                 rate_limit=float(params.get("rate", "0")))
    except (ValueError, re.error) as exc:
        raise ConfigError(f"transport {name}: {exc}") from None
