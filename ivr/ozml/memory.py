"""An in-memory SmsSubmitter for the console simulator and tests without the SMS pipeline."""

from __future__ import annotations

import threading
import uuid

from ivr.call import SmsRequest

__all__ = ["InMemorySmsSubmitter"]


class InMemorySmsSubmitter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted: list[tuple[str, SmsRequest]] = []

    def submit_sms(self, request: SmsRequest) -> str:
        sms_id = str(uuid.uuid4())
        with self._lock:
            self.submitted.append((sms_id, request))
        return sms_id
