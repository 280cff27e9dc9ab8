"""Runs OzML documents on a :class:`~ivr.call.Call`.

The interpreter knows only the Call and SmsSubmitter seams, a Fetcher for the next documents,
an optional Originator for ``<Call>`` and the small ports of ``ivr.ozml.ports`` (e-mail, SQL,
the outbound URL policy), so one script behaves the same on a SIP call, in ``ivr simulate``
and in tests. Whatever goes wrong in a script — a broken fetched document, a web app that is
down, a GoTo loop — the caller hears an apology and the call is hung up; the call is never
left open and silent. Ozeki's open-ended defaults (a menu without Timeout, Repeat="true",
hold music) are bounded by one limit, ``[ozml] max_call_seconds``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ivr.call import Call, CallEnded, PlayOutcome, Prompt, RecordSpec, SmsRequest, SmsSubmitter
from ivr.errors import IvrError, OzmlError, OzmlFetchError
from ivr.ozml import callverbs
from ivr.ozml import verbs as v
from ivr.ozml.alarm import ContactId, encode, handshake_tone, kissoff_tone
from ivr.ozml.cache import ScriptCache
from ivr.ozml.expand import expand_text, expand_url
from ivr.ozml.fetch import Fetcher, HttpFetcher, is_url, resolve
from ivr.ozml.files import confine
from ivr.ozml.ports import AddressBookNames, EmailRequest, EmailSubmitter, SqlRunner, UrlChecker
from ivr.ozml.settings import OzmlSettings
from ivr.ozml.sql import SqlDatabase, bind

__all__ = ["Interpreter", "Originator"]

log = logging.getLogger(__name__)


class Originator(Protocol):
    """Places an outbound call that runs the OzML at ``url`` once answered (``<Call>``).

    It returns the new call's id at once; ``on_failure(reason)`` is called later if the call
    is refused or not answered (the calling script has moved on by then).
    """

    def originate(self, number: str, url: str, caller_id: str = "",
                  on_failure: Callable[[str], None] | None = None) -> str: ...


class _Hangup(Exception):
    """Hangup/Exit/Reject: stop the script and end the call."""


class _Jump(Exception):
    """GoTo/Request: abandon the current document and continue with ``script``."""

    def __init__(self, script: v.Script) -> None:
        super().__init__(script.source)
        self.script = script


class _Back(Exception):
    """BackKey pressed in a nested menu: re-prompt the enclosing menu."""


class _Limit(Exception):
    """The call reached [ozml] max_call_seconds."""


@dataclass
class _Session:
    call: Call
    location: str
    variables: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hops: int = 0
    deadline: float = float("inf")
    failure: str = ""                   # why the script did not run to its end
    on_end: list[Callable[[str], None]] = field(default_factory=list)   # called with "" or why
    log: logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.LoggerAdapter(log, {}))

    def form(self, notification: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        form = {"NotificationName": notification, "CallId": self.call.call_id,
                "Caller": self.call.caller, "Callee": self.call.callee}
        form.update(extra or {})
        return form


_GENERATED = "ozml:"   # locations of documents the interpreter writes itself
_SENT = "contact_id_sent"


class _AlarmJob:
    """Where a SendAlarmNotification reports: ResultUrl gets Result=Sent or Failed, once."""

    def __init__(self, interpreter: Interpreter, log: logging.LoggerAdapter[logging.Logger],
                 url: str, fields: dict[str, str]) -> None:
        self.interpreter, self.log, self.url, self.fields = interpreter, log, url, fields
        self._done = threading.Event()

    def failed(self, reason: str) -> None:
        self.finished(reason or "failed")

    def finished(self, failure: str) -> None:
        if self._done.is_set():
            return
        self._done.set()
        result = "Failed" if failure else "Sent"
        self.log.info("alarm to %s: %s%s", self.fields["PhoneNumber"], result,
                      f" ({failure})" if failure else "")
        if not self.url:
            return
        form = {"NotificationName": "SendAlarmNotification", "Result": result,
                "ErrorMessage": failure, **self.fields}
        try:
            self.interpreter.fetcher.fetch(self.url, form, "POST")
        except OzmlError as exc:
            self.log.warning("ResultUrl %s failed: %s", self.url, exc)


class _CallLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[call {self.extra['call_id'] if self.extra else '?'}] {msg}", kwargs


class Interpreter:
    """Runs scripts on calls. ``file_roots`` are the directories DeleteFile, MoveFile and
    RecordPath may touch (recordings first: relative names land there); ``clock`` measures
    the call against ``max_call_seconds`` (the simulator passes its simulated clock);
    ``address_book`` resolves contact and list names in SendSms and Call."""

    def __init__(self, settings: OzmlSettings, sms: SmsSubmitter, *,
                 fetcher: Fetcher | None = None, originator: Originator | None = None,
                 base_dir: str = ".", email: EmailSubmitter | None = None,
                 sql: SqlRunner | None = None, url_policy: UrlChecker | None = None,
                 file_roots: Sequence[str] = (), cache: ScriptCache | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 address_book: AddressBookNames | None = None) -> None:
        self.settings = settings
        self.sms = sms
        self.url_policy = url_policy
        self.fetcher = fetcher or HttpFetcher(settings.fetch_connect_timeout,
                                              settings.fetch_total_timeout,
                                              settings.max_document_bytes, policy=url_policy)
        self.originator = originator
        self.base_dir = base_dir
        self.email = email
        self.sql = sql or (SqlDatabase(settings.sql_url, settings.sql_timeout)
                           if settings.sql_url else None)
        self.file_roots = tuple(file_roots)
        self.cache = cache or ScriptCache(settings.cache_entries,
                                          max_document_bytes=settings.max_document_bytes)
        self.clock = clock
        self.address_book = address_book
        # Documents the interpreter writes itself (SendAlarmNotification's outbound call),
        # by location, with the ResultUrl job they report to; taken once when the call runs.
        self._generated: dict[str, tuple[bytes, _AlarmJob]] = {}
        self._generated_lock = threading.Lock()

    # -- entry point ---------------------------------------------------------------------
    def run(self, call: Call, script: str, notification: str = "IncomingCall") -> None:
        """Run ``script`` (file path or URL) on ``call`` until it ends; never raises for
        script problems. ``notification`` names the first request: Ozeki posts
        ``CallConnected`` to the Url of a call it placed, ``IncomingCall`` otherwise."""
        location = script if is_url(script) or script.startswith(_GENERATED) else \
            resolve(script, self.base_dir + "/")
        session = _Session(call=call, location=location,
                           log=_CallLog(log, {"call_id": call.call_id}))
        session.variables.update({k.lower(): str(val) for k, val in call.variables.items()})
        session.variables.update({"caller": call.caller, "callee": call.callee,
                                  "callid": call.call_id, "digits": ""})
        if self.settings.max_call_seconds > 0:
            session.deadline = self.clock() + self.settings.max_call_seconds
        try:
            try:
                current = self._fetch(session, location, notification, first=True)
                assert current is not None  # allow_empty is False
            except OzmlError as exc:
                session.log.error("cannot start script: %s", exc)
                self._apologise(session)
                return
            self._run_documents(session, current)
        except CallEnded:
            session.log.info("caller hung up")
            session.failure = "the far end hung up"
        except _Limit:
            session.log.warning("the call reached [ozml] max_call_seconds (%g s); hanging up",
                                self.settings.max_call_seconds)
            session.failure = "max_call_seconds reached"
        except OzmlError as exc:
            session.log.error("script stopped: %s", exc)
            session.failure = str(exc)
            self._apologise(session)
        except Exception as exc:
            session.log.exception("interpreter failure")
            session.failure = f"interpreter failure: {exc.__class__.__name__}"
            self._apologise(session)
        finally:
            try:
                call.hangup()
            except CallEnded:
                pass
            for done in session.on_end:
                done(session.failure)

    def _run_documents(self, session: _Session, script: v.Script) -> None:
        current: v.Script | None = script
        first = True
        while current is not None:
            commands = current.commands
            if first and commands and isinstance(commands[0], v.Reject):
                session.log.info("rejecting call (script %s)", current.source)
                session.call.reject()
                return
            if first and commands and isinstance(commands[0], v.Forward) and \
                    callverbs.forward_ringing(session.call, expand_text(
                        commands[0].destination, session.variables), session.log):
                return
            first = False
            session.call.answer()
            session.location = current.source
            try:
                self._execute(session, commands, depth=0)
                current = None
            except _Jump as jump:
                current = jump.script
            except _Hangup:
                current = None

    def _apologise(self, session: _Session) -> None:
        try:
            session.call.answer()
            session.call.play(Prompt("speak", text=self.settings.apology_text))
        except CallEnded:
            pass
        except IvrError as exc:
            session.log.error("could not play the apology: %s", exc)

    # -- documents -----------------------------------------------------------------------
    def _fetch(self, session: _Session, location: str, notification: str,
               extra: Mapping[str, str] | None = None, method: str = "POST",
               first: bool = False, allow_empty: bool = False) -> v.Script | None:
        session.hops += 1
        limit = self.settings.fetch_hop_limit
        if session.hops > limit:
            raise OzmlFetchError(f"more than {limit} documents fetched on one call "
                                 f"(a GoTo/Request loop?)", source=location)
        form = session.form(notification, extra)
        try:
            return self._fetch_one(session, location, form, method, allow_empty)
        except OzmlError as exc:
            fallback = self.settings.fallback_url
            if first or not fallback or location == fallback:
                raise
            session.log.warning("%s; trying fallback %s", exc, fallback)
            form = dict(form, ErrorUrl=location, ErrorMessage=str(exc))
            return self._fetch_one(session, fallback, form, "POST", allow_empty)

    def _fetch_one(self, session: _Session, location: str, form: dict[str, str], method: str,
                   allow_empty: bool) -> v.Script | None:
        if location.startswith(_GENERATED):
            return self._generated_script(session, location)
        key = None if is_url(location) else self.cache.file_key(location)
        script = self.cache.cached_file(key) if key is not None else None
        if script is None:
            fetched = self.fetcher.fetch(location, form, method)
            if allow_empty and not fetched.body.strip():
                return None
            script = self.cache.compile(fetched.body, fetched.location)
            if key is not None and fetched.location == location:
                self.cache.store_file(key, script)
        for warning in script.warnings:
            session.log.warning("%s", warning)
        session.log.info("running %s", script.source)
        return script

    def _query(self, session: _Session, command: v.GoTo) -> v.Script:
        """SQL OzML: the first column of the first row is the next document."""
        if self.sql is None:
            raise OzmlError("an SQL query needs [ozml] sql_url (sqlite:///… or "
                            "postgresql://…)", command.line, 0, session.location)
        session.hops += 1
        if session.hops > self.settings.fetch_hop_limit:
            raise OzmlFetchError(f"more than {self.settings.fetch_hop_limit} documents on one "
                                 "call (a GoTo loop?)", source=session.location)
        query, params = bind(command.url, session.variables, self.sql.placeholder)
        session.log.info("line %d: SQL OzML query with %d bound value(s)", command.line,
                         len(params))
        try:
            body = self.sql.query_one(query, params)
        except OzmlError as exc:
            raise OzmlError(exc.message, command.line, 0, session.location) from None
        if not body or not body.strip():
            raise OzmlError("the SQL query returned no document", command.line, 0,
                            session.location)
        return self.cache.compile(body.encode("utf-8"), f"sql:{session.location}:{command.line}")

    # -- commands ------------------------------------------------------------------------
    def _execute(self, s: _Session, commands: Sequence[v.Command], depth: int,
                 barge_in: bool = False) -> bool:
        """Run ``commands``; False if a digit interrupted a prompt (only when barge_in)."""
        for command in commands:
            if not self._command(s, command, depth, barge_in):
                return False
        return True

    def _play(self, s: _Session, prompt: Prompt, barge_in: bool) -> bool:
        return s.call.play(prompt, barge_in=barge_in) is PlayOutcome.COMPLETED

    def _remaining(self, s: _Session) -> float:
        """Seconds left before max_call_seconds; raises _Limit when none are."""
        left = s.deadline - self.clock()
        if left <= 0:
            raise _Limit
        return left

    def _command(self, s: _Session, c: v.Command, depth: int, barge_in: bool) -> bool:
        self._remaining(s)
        text = lambda value: expand_text(value, s.variables)  # noqa: E731
        if isinstance(c, v.Speak):
            return self._play(s, Prompt("speak", text=text(c.text), language=c.language,
                                        voice=c.voice, rate=c.rate), barge_in)
        if isinstance(c, v.Play):
            return self._play_file(s, c, barge_in)
        if isinstance(c, v.Delay):
            return self._play(s, Prompt("silence", seconds=c.seconds), barge_in)
        if isinstance(c, v.Beep):
            return self._play(s, Prompt("beep", seconds=c.seconds), barge_in)
        if isinstance(c, v.Hangup | v.Exit):
            raise _Hangup
        if isinstance(c, v.Reject):
            s.log.warning("line %d: <Reject> after the call was answered acts as <Hangup>",
                          c.line)
            raise _Hangup
        if isinstance(c, v.Var):
            s.variables[c.name.lower()] = text(c.value)
        elif isinstance(c, v.UserInput):
            self._user_input(s, c, depth)
        elif isinstance(c, v.SendSms):
            self._send_sms(s, c)
        elif isinstance(c, v.GoTo):
            if c.sql:
                raise _Jump(self._query(s, c))
            url = resolve(expand_url(c.url, s.variables), s.location)
            script = self._fetch(s, url, c.notification, method=c.method)
            assert script is not None
            raise _Jump(script)
        elif isinstance(c, v.Record):
            self._record(s, c)
        elif isinstance(c, v.BlindTransfer | v.Forward):
            target = text(c.target if isinstance(c, v.BlindTransfer) else c.destination)
            if s.call.transfer(target):
                s.log.info("transferred to %s", target)
                raise _Hangup
            s.log.warning("line %d: transfer to %s failed; continuing", c.line, target)
        elif isinstance(c, v.SendDtmf):
            s.call.send_dtmf(text(c.keys))
        elif isinstance(c, v.CallOut):
            self._call_out(s, c)
        elif isinstance(c, v.SendEmail):
            self._send_email(s, c)
        elif isinstance(c, v.Array):
            s.arrays[c.name.lower()] = tuple(text(item) for item in c.items)
        elif isinstance(c, v.ForEach):
            return self._for_each(s, c, depth, barge_in)
        elif isinstance(c, v.DeleteFile | v.MoveFile):
            self._file_command(s, c)
        elif isinstance(c, v.ReceiveAlarm):
            self._receive_alarm(s, c, depth)
        elif isinstance(c, v.SendAlarm):
            self._send_alarm(s, c)
        elif isinstance(c, v.Unsupported):
            s.log.warning("line %d: Ozeki command %s is not supported by ivr; skipped",
                          c.line, c.name)
        elif isinstance(c, callverbs.CallVerb):
            s.variables.update(callverbs.execute(s.call, c, s.log, text))
        return True

    def _for_each(self, s: _Session, c: v.ForEach, depth: int, barge_in: bool) -> bool:
        items = s.arrays.get(c.source.lower())
        if items is None:
            s.log.warning("line %d: <ForEach Source=%r>: no <Array> with that Id; skipped",
                          c.line, c.source)
            return True
        saved = s.variables.get("item")
        try:
            for item in items:
                s.variables["item"] = item
                if not self._execute(s, c.commands, depth, barge_in):
                    return False
        finally:
            if saved is None:
                s.variables.pop("item", None)
            else:
                s.variables["item"] = saved
        return True

    def _send_email(self, s: _Session, c: v.SendEmail) -> None:
        recipient = expand_text(c.recipient, s.variables)
        if self.email is None:
            s.log.warning("line %d: SendEmail to %s: no [email] relay is configured; skipped",
                          c.line, recipient)
            return
        request = EmailRequest(recipient=recipient, body=expand_text(c.text, s.variables),
                               subject=expand_text(c.subject, s.variables),
                               sender=expand_text(c.sender, s.variables),
                               source=f"ozml:{s.call.call_id}")
        try:
            email_id = self.email.submit_email(request)
        except IvrError as exc:  # a bad address must not end the call
            s.log.warning("line %d: SendEmail to %s not accepted: %s", c.line, recipient, exc)
            return
        s.log.info("e-mail %s to %s queued", email_id, recipient)

    def _file_command(self, s: _Session, c: v.DeleteFile | v.MoveFile) -> None:
        try:
            if isinstance(c, v.DeleteFile):
                path = confine(expand_text(c.path, s.variables), self.file_roots)
                path.unlink()
                s.log.info("line %d: deleted %s", c.line, path)
                return
            source = confine(expand_text(c.source, s.variables), self.file_roots)
            target = confine(expand_text(c.destination, s.variables), self.file_roots)
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
            s.log.info("line %d: moved %s to %s", c.line, source, target)
        except IvrError as exc:
            s.log.error("line %d: <%s> refused: %s", c.line, type(c).__name__, exc)
        except OSError as exc:
            s.log.warning("line %d: <%s> failed: %s", c.line, type(c).__name__,
                          exc.strerror or exc)

    def _send_alarm(self, s: _Session, c: v.SendAlarm) -> None:
        """Ozeki's SendAlarmNotification: a new call to PhoneNumber that sends the Contact ID
        message as DTMF once answered (after 2 s, the time a receiver's handshake takes: ivr
        cannot detect the tone itself) and reports Sent/Failed to ResultUrl."""
        number = expand_text(c.phone_number, s.variables)
        keys = encode(c.account, c.qualifier, c.event_code, c.partition, c.zone)
        job = _AlarmJob(self, s.log, resolve(expand_url(c.result_url, s.variables),
                                             s.location) if c.result_url else "",
                        {"PhoneNumber": number, "AccountNumber": c.account,
                         "EventCode": c.event_code, "PartitionNumber": c.partition,
                         "ZoneNumber": c.zone, "ContactId": keys})
        # After the keys, the receiver plays its kissoff and usually hangs up: from then on
        # the far end hanging up is the success it looks like.
        body = (f'<Response><Delay Time="2"/><SendDTMF Keys="{keys}"/>'
                f'<Var Id="{_SENT}">yes</Var><Delay Time="2"/><Hangup/></Response>').encode()
        location = f"{_GENERATED}alarm/{uuid.uuid4().hex}"
        with self._generated_lock:
            while len(self._generated) >= 64:      # calls that never connected
                self._generated.pop(next(iter(self._generated)))
            self._generated[location] = (body, job)
        try:
            if self.originator is None:
                raise IvrError("outbound calls are not available here")
            call_id = self.originator.originate(number, location, on_failure=job.failed)
        except IvrError as exc:
            with self._generated_lock:
                self._generated.pop(location, None)
            s.log.warning("line %d: SendAlarmNotification to %s failed: %s", c.line, number,
                          exc)
            job.failed(str(exc))
            return
        s.log.info("line %d: alarm call %s to %s (Contact ID %s)", c.line, call_id, number,
                   keys)

    def _generated_script(self, session: _Session, location: str) -> v.Script:
        with self._generated_lock:
            entry = self._generated.pop(location, None)
        if entry is None:
            raise OzmlFetchError(f"{location} was already used or has expired",
                                 source=location)
        body, job = entry
        session.on_end.append(
            lambda failure: job.finished("" if session.variables.get(_SENT) else failure))
        return self.cache.compile(body, location)

    def _receive_alarm(self, s: _Session, c: v.ReceiveAlarm, depth: int) -> None:
        """Ademco Contact ID (SIA DC-05): handshake, 16 DTMF digits, kissoff; a message
        with a bad checksum is dropped and the panel, hearing no kissoff, sends it again."""
        deadline = min(self.clock() + c.timeout, s.deadline)
        self._play(s, Prompt("play", source=handshake_tone()), False)
        digits = ""
        while True:
            before = self.clock()
            left = deadline - before
            digit = s.call.read_digit(min(left, 1.25)) if left > 0 else None
            if digit is None:
                # A call that answers "no key" without waiting (no media) has nothing more.
                if left <= 0 or self.clock() - before < 0.01:
                    s.log.info("line %d: no Contact ID message within %g s", c.line,
                               c.timeout)
                    return
                digits = ""   # a pause longer than a digit gap: start again
                continue
            digits += digit
            if len(digits) < 16:
                continue
            message = ContactId.parse(digits)
            digits = ""
            if message is None:
                s.log.warning("line %d: Contact ID message failed its checksum; waiting for "
                              "the panel to repeat it", c.line)
                continue
            self._play(s, Prompt("play", source=kissoff_tone()), False)
            s.log.info("line %d: Contact ID %s", c.line, message)
            s.variables.update(message.variables())
            self._execute(s, c.received, depth)
            return

    def _play_file(self, s: _Session, c: v.Play, barge_in: bool) -> bool:
        # A relative path stays relative: like Ozeki's ContentStorage/Static, the voice side
        # resolves it against [audio] sounds_dir (and refuses names that leave it).
        source = expand_text(c.source, s.variables)
        if is_url(source) and self.url_policy is not None:
            refused = self.url_policy.check(source, fresh=True)
            if refused:
                s.log.error("line %d: <Play> %s refused by the URL policy: %s", c.line,
                            source, refused)
                return True
        started = self.clock()
        played = 0
        while c.repeat == v.UNLIMITED or played < c.repeat:
            left = self._remaining(s)
            if c.timeout:
                left = min(left, c.timeout - (self.clock() - started))
                if left <= 0:
                    break
            before = self.clock()
            if not self._play(s, Prompt("play", source=source,
                                        seconds=left if c.timeout else 0.0), barge_in):
                return False
            played += 1
            if c.repeat == v.UNLIMITED and self.clock() - before < 0.05:
                # Nothing audible was played (a missing file, a simulated call): repeating
                # it would spin, not entertain the caller.
                s.log.warning("line %d: <Play Repeat=\"true\"> %s took no time; not "
                              "repeating it", c.line, source)
                break
        return True

    def _send_sms(self, s: _Session, c: v.SendSms) -> None:
        """One SMS per number the recipient stands for (a contact or list name: each of
        its numbers); ``$smsid`` holds their ids, space-separated, in the list's order."""
        recipient = expand_text(c.recipient, s.variables) or s.call.caller
        ids: list[str] = []
        try:
            numbers = self.address_book.resolve(recipient) if self.address_book else [recipient]
            for number in numbers:
                ids.append(self.sms.submit_sms(SmsRequest(
                    recipient=number, body=expand_text(c.text, s.variables),
                    sender=expand_text(c.sender, s.variables),
                    callback_url=expand_url(c.delivery_report_url, s.variables),
                    callback_method=self.settings.delivery_report_method,
                    callback_format="ozeki", source=f"ozml:{s.call.call_id}")))
                s.log.info("SMS %s to %s accepted", ids[-1], number)
        except IvrError as exc:  # a bad number must not end the call
            s.log.warning("line %d: SendSms to %s not accepted: %s", c.line, recipient, exc)
        s.variables["smsid"] = " ".join(ids)

    def _record(self, s: _Session, c: v.Record) -> None:
        result = s.call.record(RecordSpec(max_seconds=c.duration, silence_timeout=c.inactivity,
                                          finish_digits=c.finish_digits, format=c.format,
                                          beep=c.beep))
        if c.record_path:
            try:
                target = confine(expand_text(c.record_path, s.variables), self.file_roots,
                                 what="RecordPath")
                target.parent.mkdir(parents=True, exist_ok=True)
                moved = Path(result.path).replace(target)
                result = dataclasses.replace(result, path=str(moved),
                                             url=Path(moved).resolve().as_uri())
            except IvrError as exc:
                s.log.error("line %d: RecordPath refused: %s; kept %s", c.line, exc,
                            result.path)
            except OSError as exc:
                s.log.warning("line %d: RecordPath: %s; kept %s", c.line, exc, result.path)
        s.variables.update({"recordurl": result.url, "recordduration": f"{result.duration:.1f}"})
        s.log.info("recorded %.1f s to %s (%s)", result.duration, result.path, result.reason)
        if c.finished_url:
            url = resolve(expand_url(c.finished_url, s.variables), s.location)
            script = self._fetch(s, url, "RecordCompleted", {
                "RecordURL": result.url, "Duration": f"{result.duration:.1f}",
                "Reason": result.reason, "FinishDigit": result.digit}, allow_empty=True)
            if script is not None:
                raise _Jump(script)

    def _call_out(self, s: _Session, c: v.CallOut) -> None:
        number = expand_text(c.dialled, s.variables)
        url = resolve(expand_url(c.url, s.variables), s.location)
        error_url = resolve(expand_url(c.error_url, s.variables), s.location) \
            if c.error_url else ""

        def failed(reason: str) -> None:
            """The call was placed but refused or not answered: tell the ErrorUrl."""
            s.log.warning("call to %s failed: %s", number, reason)
            if error_url:
                form = s.form("Error", {"Dialled": number, "ErrorMessage": reason})
                try:
                    self.fetcher.fetch(error_url, form, "POST")
                except OzmlError as fetch_error:
                    s.log.warning("ErrorUrl failed: %s", fetch_error)

        try:
            if self.originator is None:
                raise IvrError("outbound calls are not available here")
            call_id = self.originator.originate(
                self._one_number(number), url, expand_text(c.caller_id, s.variables),
                on_failure=failed if error_url else None)
            s.log.info("originated call %s to %s", call_id, number)
        except IvrError as exc:
            s.log.warning("line %d: call to %s failed: %s", c.line, number, exc)
            if error_url:
                try:
                    self._fetch(s, error_url, "Error", {"Dialled": number,
                                                         "ErrorMessage": str(exc)},
                                allow_empty=True)
                except OzmlError as fetch_error:
                    s.log.warning("ErrorUrl failed: %s", fetch_error)

    def _one_number(self, dialled: str) -> str:
        """A contact's number for its name; a list name is refused (a call has one callee),
        as the HTTP Call command refuses it."""
        book = self.address_book
        if book is None:
            return dialled
        if book.is_list(dialled):
            raise IvrError(f"{dialled!r} is an address book list; dial one contact")
        return book.resolve(dialled)[0]

    # -- menus ---------------------------------------------------------------------------
    def _collect(self, s: _Session, ui: v.UserInput, depth: int) -> str | None:
        """Play the prompt (barge-in) and collect digits; None when BackKey was pressed."""
        self._execute(s, ui.prompt, depth, barge_in=ui.barge_in)
        digits = ""
        while len(digits) < ui.digits:
            left = self._remaining(s)
            # Timeout 0 is Ozeki's "wait for the caller", bounded by max_call_seconds.
            wait = ui.inter_digit_timeout if digits else (ui.timeout or left)
            digit = s.call.read_digit(min(wait, left))
            if digit is None and not digits and not ui.timeout:
                raise _Limit
            if digit is None:
                break
            if ui.finish_on_key and digit == ui.finish_on_key:
                break
            if ui.back_key and digit == ui.back_key and not digits:
                return None
            digits += digit
        return digits

    def _user_input(self, s: _Session, ui: v.UserInput, depth: int) -> None:
        repeats_left = ui.max_repeats if ui.repeat else 0
        while True:
            digits = self._collect(s, ui, depth)
            if digits is None:
                if depth > 0:
                    raise _Back
                return  # Ozeki: BackKey on the top-level menu continues after it
            s.variables["digits"] = digits
            s.log.info("line %d: input %r", ui.line, digits)
            if digits == "":
                if repeats_left != 0:
                    repeats_left -= 1 if repeats_left > 0 else 0
                    continue
                if ui.no_input is not None:
                    self._execute(s, ui.no_input, depth)
                return
            match = None if len(digits) < ui.min_digits else next(
                (i for i in ui.inputs if i.key == digits), None)
            if match is not None:
                try:
                    self._execute(s, match.commands, depth + 1)
                except _Back:
                    continue
                return
            if ui.forward_to_url:
                url = resolve(expand_url(ui.forward_to_url, s.variables), s.location)
                script = self._fetch(s, url, "DtmfEntered", {"Digits": digits},
                                     allow_empty=True)
                if script is not None:
                    raise _Jump(script)
                return
            if ui.invalid is not None:
                self._execute(s, ui.invalid, depth)
            if repeats_left != 0:
                repeats_left -= 1 if repeats_left > 0 else 0
                continue
            return
