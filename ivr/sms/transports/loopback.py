"""The reference transport: accepts every message at once and reports it delivered.

``loopback://?delay=0.5&fail=^\\+999&tempfail=^\\+998&log=/path/sent.log``
- ``delay``: seconds before the delivered report (default 0.2); ``0`` reports synchronously,
  inside ``send`` and so *before* the submit result is stored, like a fast SMSC whose
  receipt overtakes its submit_sm_resp: the store keeps it and applies it with the result;
- ``fail`` / ``tempfail``: regular expressions on the recipient that are refused
  permanently (error 30003) or transiently (retried);
- ``undeliver``: recipients accepted but reported undelivered (30005);
- ``log``: a file that gets one line per accepted part, so tests can count what reached
  the "network" (duplicates included).
The default of ``make run``: everything works end to end without a modem or an SMSC.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from urllib.parse import unquote, urlsplit

from ivr.errors import ConfigError, TransportError
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents

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
        self.max_in_flight = max_in_flight
        self.rate_limit = rate_limit
        self._events: TransportEvents | None = None
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._stopped = threading.Event()

    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stopped.clear()

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
        if self.log_path:
            with self._lock, open(self.log_path, "a", encoding="utf-8") as sent:
                sent.writelines(f"{message.id} {i} {pid}\n" for i, pid in enumerate(ids))
        status = Status.UNDELIVERED if self.undeliver and self.undeliver.search(
            message.recipient) else Status.DELIVERED
        if message.request_status_report:
            for pid in ids:
                self._later(DeliveryReport(
                    transport=self.name, status=status, provider_id=pid,
                    recipient=message.recipient,
                    error_code=30005 if status == Status.UNDELIVERED else None,
                    raw=f"loopback {status.value}"))
        log.debug("[sms %s] loopback accepted %d part(s)", message.id, len(ids))
        return SubmitResult(provider_ids=ids)

    def _later(self, report: DeliveryReport) -> None:
        if self.delay <= 0:
            if self._events is not None:
                self._events.on_delivery_report(report)
            return
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            if self._events is not None and not self._stopped.is_set():
                self._events.on_delivery_report(report)

        timer = threading.Timer(self.delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()


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
