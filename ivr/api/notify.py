"""Ozeki-style event notifications: CallConnected, CallEnded, SmsDelivered.

Like Ozeki Phone System's notifications, each event is an HTTP POST, form-encoded, always
carrying ``NotificationName``, to ``[http] notification_url`` (empty = off). Events are queued
in memory and sent by one thread with a bounded retry (3 attempts, 1 s / 2 s apart); they are
informational — the durable, per-message delivery report is the DeliveryReportURL.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Mapping

import requests

from ivr.sms.message import Message, Status

__all__ = ["Notifier", "sms_delivered_params"]

log = logging.getLogger(__name__)
_FINAL = {Status.DELIVERED: "Delivered", Status.UNDELIVERED: "Undelivered",
          Status.FAILED: "Failed"}


def sms_delivered_params(message: Message) -> dict[str, str]:
    when = message.delivered_at or message.updated_at
    return {"SmsId": message.id, "Recipient": message.recipient, "Sender": message.sender,
            "DeliveryStatus": _FINAL.get(message.status, message.status.value),
            "DeliveryTime": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if when else "", "ErrorCode": str(message.error_code or "")}


class Notifier:
    def __init__(self, url: str, timeout: float = 5.0, attempts: int = 3,
                 max_queue: int = 10000) -> None:
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self._queue: queue.Queue[dict[str, str] | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def notify(self, name: str, params: Mapping[str, str]) -> None:
        if not self.url:
            return
        try:
            self._queue.put_nowait({"NotificationName": name, **params})
        except queue.Full:
            log.warning("notification queue full; %s dropped", name)

    def sms_final(self, message: Message) -> None:
        """SmsService listener: SmsDelivered once a message reaches a final status."""
        if message.status in _FINAL:
            self.notify("SmsDelivered", sms_delivered_params(message))

    def start(self) -> Notifier:
        if self.url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notifications",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._stop.set()
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        session = requests.Session()
        while True:
            form = self._queue.get()
            if form is None:
                return
            for attempt in range(self.attempts):
                try:
                    response = session.post(self.url, data=form, timeout=self.timeout)
                    if 200 <= response.status_code < 300:
                        break
                    error = f"HTTP {response.status_code}"
                except requests.RequestException as exc:
                    error = exc.__class__.__name__
                if attempt + 1 < self.attempts and not self._stop.wait(2.0 ** attempt):
                    continue
                log.warning("notification %s to %s not delivered: %s",
                            form["NotificationName"], self.url, error)
                break
