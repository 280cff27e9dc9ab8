"""SmsService: the one entrance of the SMS pipeline, for scripts, every API and the CLI.

``submit`` validates and normalises a request, splits the text into parts, and commits the
message before returning it: an id handed out is a message that survives a crash. Workers
(``start``) then dispatch, and delivery reports flow back through ``on_delivery_report``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence

from ivr import metrics
from ivr.call import SmsRequest
from ivr.clock import Clock, SystemClock
from ivr.errors import SmsError, ValidationError
from ivr.sms.callbacks import CallbackSender, UrlPolicy
from ivr.sms.dispatcher import Dispatcher, RetryPolicy
from ivr.sms.encoding import split_message
from ivr.sms.message import Direction, Message, Part, Status, new_message_id
from ivr.sms.numbers import normalize_number, normalize_sender
from ivr.sms.routing import Router
from ivr.sms.settings import SmsSettings
from ivr.sms.store import REPORT_MATCH_WINDOW, MessageQuery, Store
from ivr.sms.transports.base import DeliveryReport, InboundSms, Transport

__all__ = ["SmsService", "MessageQuery", "CallbackFormatter", "default_callback_params"]

log = logging.getLogger(__name__)

CallbackFormatter = Callable[[Message, Status], dict[str, str]]
# C0/C1 controls but TAB, LF, CR: no SMS alphabet carries them, XML 1.0 cannot either, so a
# stored one would break every XML answer quoting the message (refused before the commit).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ADDRESS_PREFIXES = ("client:", "sip:")   # not phone numbers: routed to SIP MESSAGE


def default_callback_params(message: Message, status: Status) -> dict[str, str]:
    """Generic parameters for a status change (used when no dialect formatter matches)."""
    if status in (Status.QUEUED, Status.SENDING):
        return {}
    when = message.delivered_at if status == Status.DELIVERED else message.updated_at
    return {"NotificationName": "SMSDeliveryReport", "SmsId": message.id,
            "Recipient": message.recipient, "Sender": message.sender,
            "Status": status.value, "DeliveryStatus": status.value,
            "DeliveryTime": when.isoformat() if when else "",
            "Segments": str(message.segments), "ErrorCode": str(message.error_code or ""),
            "ErrorMessage": message.error_message if message.error_code else ""}


class SmsService:
    def __init__(self, settings: SmsSettings, store: Store,
                 transports: Mapping[str, Transport], *, clock: Clock | None = None,
                 callback_formats: Mapping[str, CallbackFormatter] | None = None,
                 callback_key: bytes = b"", wake: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        # Told "m" after a message and "c" after a callback job was committed, when the
        # workers that act on them run in another process (ivr.roles.wake); None here.
        self.wake = wake
        self.store = store
        self.transports = dict(transports)
        self.clock = clock or SystemClock()
        self.callback_formats = dict(callback_formats or {})
        self.router = Router(list(self.transports), settings.routes, settings.default_transport)
        self.dispatcher = Dispatcher(
            store, self.transports, self.router, self._callback_for, self._reported,
            workers=settings.workers, lease_seconds=settings.claim_lease_seconds,
            retry=RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds,
                              settings.max_attempts),
            in_doubt_hold=settings.in_doubt_hold_seconds, clock=self.clock,
            batch=settings.batch)
        self.callbacks = CallbackSender(
            store, callback_key or secrets.token_bytes(32),
            UrlPolicy(settings.callback_allow, settings.callback_deny),
            retry_period=settings.callback_retry_period, timeout=settings.callback_timeout,
            base_delay=settings.callback_retry_base, max_delay=settings.callback_retry_max,
            clock=self.clock)
        self._started = False
        self._housekeeping_stop = threading.Event()
        self._housekeeping: threading.Thread | None = None
        # Called with a message when a delivery report made it final (ivr.api.notify).
        self.final_listeners: list[Callable[[Message], None]] = []

    # -- accepting -----------------------------------------------------------------------
    def submit(self, request: SmsRequest, *, log_to: list[str] | None = None) -> Message:
        """Validate and commit; the message returned is durable. The acceptance is logged
        here, or appended to ``log_to`` by a caller that writes it into a line of its own
        (the HTTP API's access line: one line per request)."""
        message = self._validate(request)
        self.store.insert(message)
        metrics.sms_status("queued", message.transport)
        accepted = "[sms %s] accepted from %s%s for %s (%d part(s), %s)", message.id, \
            request.source or "?", f" user {request.owner}" if request.owner else "", \
            message.recipient, message.segments, message.encoding
        if log_to is None:
            log.info(*accepted)
        else:
            log_to.append(accepted[0] % accepted[1:])
        self.dispatcher.wake()
        if self.wake is not None:
            self.wake("m")
        return message

    def submit_sms(self, request: SmsRequest) -> str:
        return self.submit(request).id

    def _validate(self, request: SmsRequest) -> Message:
        raw = request.recipient.strip()
        if raw.lower().startswith(_ADDRESS_PREFIXES):
            recipient = raw
            if len(raw.split(":", 1)[1]) == 0:
                raise ValidationError("Recipient", f"{raw!r} names no client")
        else:
            recipient = normalize_number(raw, "Recipient")
        if not request.body:
            raise ValidationError("Message", "the message text is empty")
        control = _CONTROL.search(request.body)
        if control:
            raise ValidationError("Message", f"the text contains the control character "
                                  f"U+{ord(control.group()):04X} at position "
                                  f"{control.start() + 1}; SMS text cannot carry it")
        sender = normalize_sender(request.sender, "Sender") or self.settings.default_sender
        try:
            segmented = split_message(request.body)
        except ValueError as exc:
            raise ValidationError("Message", str(exc)) from None
        if segmented.count > self.settings.max_segments:
            raise ValidationError("Message", f"needs {segmented.count} parts; the limit is "
                                  f"{self.settings.max_segments} ([sms] max_segments)")
        if request.transport and request.transport not in self.transports:
            raise ValidationError("Transport", f"no transport named {request.transport!r} "
                                  f"(configured: {', '.join(self.transports)})")
        if request.callback_method.upper() not in ("GET", "POST"):
            raise ValidationError("CallbackMethod", "GET or POST")
        if request.callback_url:
            # Refused now rather than accepted and never reported (checked again per try).
            refused = self.callbacks.policy.check(request.callback_url)
            if refused:
                raise ValidationError("CallbackUrl", refused)
        now = self.clock.now()
        created = dt.datetime.fromtimestamp(now, dt.UTC)
        return Message(
            id=new_message_id(), direction=Direction.OUTBOUND, sender=sender,
            recipient=recipient, body=request.body, status=Status.QUEUED,
            encoding=segmented.encoding, segments=segmented.count, created_at=created,
            updated_at=created, owner=request.owner, callback_url=request.callback_url,
            callback_method=request.callback_method.upper(),
            callback_format=request.callback_format, client_ref=request.client_ref,
            transport=self._route(recipient, sender, request.transport),
            request_status_report=request.request_status_report,
            silent=request.silent, content_type=request.content_type,
            disposition_notification=request.disposition_notification,
            source=request.source, parts=[Part(i) for i in range(segmented.count)])

    def _route(self, recipient: str, sender: str, explicit: str) -> str:
        """Route at acceptance, so the stored message names its transport and the
        dispatcher can skip messages of a saturated transport when claiming."""
        try:
            return self.router.route(recipient, sender, explicit)
        except SmsError as exc:
            raise ValidationError("Transport", str(exc)) from None

    # -- reading -------------------------------------------------------------------------
    def get(self, message_id: str) -> Message | None:
        return self.store.get(message_id)

    def query(self, q: MessageQuery) -> tuple[list[Message], int]:
        return self.store.query(q)

    # -- reports (TransportEvents) -------------------------------------------------------
    def on_delivery_report(self, report: DeliveryReport) -> None:
        message = self.store.apply_report(report, self._callback_for)
        if message is None:
            log.info("delivery report from %s for unknown id %r/ref %s kept for matching",
                     report.transport, report.provider_id, report.reference)
            return
        log.info("[sms %s] part report %s -> message %s", message.id, report.status.value,
                 message.status.value)
        self._notify(message)

    def on_delivery_reports(self, reports: Sequence[DeliveryReport]) -> list[bool]:
        """Apply a batch of reports in one transaction, in order (TransportEvents); per
        report, whether it is stored. Raises if the commit fails: none of them is."""
        applied = self.store.apply_reports(reports, self._callback_for)
        matched = False
        for report, outcome in zip(reports, applied, strict=True):
            if outcome.error is not None:
                log.error("delivery report from %s for id %r/ref %s not stored: %s",
                          report.transport, report.provider_id, report.reference,
                          outcome.error)
            elif outcome.message_id is None:
                log.info("delivery report from %s for unknown id %r/ref %s kept for "
                         "matching", report.transport, report.provider_id, report.reference)
            else:
                matched = True
                log.info("[sms %s] part report %s", outcome.message_id, report.status.value)
        if matched:
            self._notify_batch([a.final for a in applied if a.final is not None])
        return [a.error is None for a in applied]

    def _notify_batch(self, final: list[Message]) -> None:
        """As :meth:`_notify`, once for a batch: one wake-up of the callback sender."""
        self.callbacks.wake()
        if self.wake is not None:
            self.wake("c")
        for message in final:
            metrics.sms_final(message)
            for listener in self.final_listeners:
                listener(message)

    def _reported(self, message_id: str, early: list[DeliveryReport]) -> None:
        """Reports the store applied with a submit result (they overtook it), or the ones
        that got an interrupted send adopted: the same notifications as any report."""
        for report in early:
            log.info("[sms %s] early %s report from %s for %r applied", message_id,
                     report.status.value, report.transport,
                     report.provider_id or report.reference)
        message = self.store.get(message_id)
        if message is not None:
            self._notify(message)

    def _notify(self, message: Message) -> None:
        self._notify_batch([message] if message.is_final else [])

    def on_inbound(self, sms: InboundSms) -> None:
        when = sms.received_at or dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)
        message = Message(id=new_message_id(), direction=Direction.INBOUND, sender=sms.sender,
                          recipient=sms.recipient, body=sms.body, status=Status.RECEIVED,
                          created_at=when, updated_at=when, transport=sms.transport,
                          source=f"transport:{sms.transport}")
        if sms.concat is not None and sms.concat.total > 1:
            whole = self.store.insert_inbound_part(message, sms.concat.reference,
                                                   sms.concat.total, sms.concat.sequence)
            if whole is None:
                log.info("part %d of %d (reference %d) from %s via %s kept until the rest "
                         "arrive", sms.concat.sequence, sms.concat.total, sms.concat.reference,
                         sms.sender, sms.transport)
            else:
                log.info("[sms %s] received from %s via %s (%d parts)", whole.id, sms.sender,
                         sms.transport, sms.concat.total)
            return
        if not self.store.insert_inbound(message, sms.provider_id):
            log.info("inbound from %s via %s with provider id %r already stored; repeat "
                     "ignored", sms.sender, sms.transport, sms.provider_id)
            return
        log.info("[sms %s] received from %s via %s", message.id, sms.sender, sms.transport)

    def _callback_for(self, message: Message,
                      status: Status) -> tuple[str, str, dict[str, str]] | None:
        if not message.callback_url:
            return None
        formatter = self.callback_formats.get(message.callback_format, default_callback_params)
        params = formatter(message, status)
        if not params:
            return None
        return message.callback_url, message.callback_method, params

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        for transport in self.transports.values():
            transport.start(self)
        self.dispatcher.start()
        self.callbacks.start()
        self._housekeeping_stop.clear()
        self._housekeeping = threading.Thread(target=self._keep_house, name="sms-housekeeping",
                                              daemon=True)
        self._housekeeping.start()
        self._started = True
        metrics.sms_started(self.transports)

    def _keep_house(self) -> None:
        """Time-driven work no arrival triggers: flush long inbound messages whose missing
        parts never came, and drop delivery reports nothing matched in the window."""
        period = max(0.05, min(60.0, self.settings.inbound_concat_timeout / 4))
        while not self.clock.wait(self._housekeeping_stop, period):
            self.housekeeping()

    def housekeeping(self) -> None:
        now = self.clock.now()
        metrics.transport_health(self.transports)
        try:
            for message in self.store.flush_inbound_parts(
                    now - self.settings.inbound_concat_timeout, new_message_id):
                log.warning("[sms %s] incomplete inbound from %s via %s stored after %.0f s "
                            "without its missing parts", message.id, message.sender,
                            message.transport, self.settings.inbound_concat_timeout)
            dropped = self.store.expire_unmatched_reports(now - REPORT_MATCH_WINDOW)
            if dropped:
                log.warning("dropped %d delivery report(s) that matched no message in %.0f h",
                            dropped, REPORT_MATCH_WINDOW / 3600)
        except Exception:  # retried next period; the data stays in the store
            log.exception("SMS housekeeping failed")

    def stop(self, timeout: float = 10.0) -> None:
        if not self._started:
            return
        self._housekeeping_stop.set()
        if self._housekeeping is not None:
            self._housekeeping.join(timeout)
        self.dispatcher.stop(timeout)
        for transport in self.transports.values():
            try:
                transport.stop()
            except Exception:
                log.exception("error while stopping transport %s", transport.name)
        self.callbacks.stop(timeout)
        self._started = False

    def run_until_final(self, message_ids: list[str], timeout: float) -> list[Message]:
        deadline = self.clock.monotonic() + timeout
        while True:
            messages = [m for m in (self.get(i) for i in message_ids) if m is not None]
            if all(m.is_final for m in messages) or self.clock.monotonic() >= deadline:
                return messages
            self.clock.sleep(0.05)
