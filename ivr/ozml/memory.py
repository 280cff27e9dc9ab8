"""In-memory SMS and e-mail submitters for the console simulator and tests without the pipelines."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from ivr.call import SmsRequest
from ivr.ozml.ports import EmailRequest

__all__ = ["InMemorySmsSubmitter", "InMemoryEmailSubmitter"]


class InMemorySmsSubmitter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted: list[tuple[str, SmsRequest]] = []

    def submit_sms(self, request: SmsRequest) -> str:
        sms_id = str(uuid.uuid4())
        with self._lock:
            self.submitted.append((sms_id, request))
        return sms_id


class InMemoryEmailSubmitter:
    """Keeps each e-mail a script queues (``ivr simulate`` prints them; tests read them)."""

    def __init__(self, on_submit: Callable[[EmailRequest], None] | None = None) -> None:
        self._lock = threading.Lock()
        self.submitted: list[tuple[str, EmailRequest]] = []
        self._on_submit = on_submit

    def submit_email(self, request: EmailRequest) -> str:
        email_id = str(uuid.uuid4())
        with self._lock:
            self.submitted.append((email_id, request))
        if self._on_submit is not None:
            self._on_submit(request)
        return email_id
