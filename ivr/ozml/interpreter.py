"""Runs OzML documents on a :class:`~ivr.call.Call`.

The interpreter knows only the Call and SmsSubmitter seams, a Fetcher for the next documents
and an optional Originator for ``<Call>``, so one script behaves the same on a SIP call, in
``ivr simulate`` and in tests. Whatever goes wrong in a script — a broken fetched document, a
web app that is down, a GoTo loop — the caller hears an apology and the call is hung up; the
call is never left open and silent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.call import Call, CallEnded, PlayOutcome, Prompt, RecordSpec, SmsRequest, SmsSubmitter
from ivr.errors import IvrError, OzmlError, OzmlFetchError
from ivr.ozml import callverbs
from ivr.ozml import verbs as v
from ivr.ozml.expand import expand_text, expand_url
from ivr.ozml.fetch import Fetcher, HttpFetcher, is_url, resolve
from ivr.ozml.parser import parse_document
from ivr.ozml.settings import OzmlSettings

__all__ = ["Interpreter", "Originator", "load_script"]

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


@dataclass
class _Session:
    call: Call
    location: str
    variables: dict[str, str] = field(default_factory=dict)
    hops: int = 0
    log: logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.LoggerAdapter(log, {}))

    def form(self, notification: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        form = {"NotificationName": notification, "CallId": self.call.call_id,
                "Caller": self.call.caller, "Callee": self.call.callee}
        form.update(extra or {})
        return form


class _CallLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[call {self.extra['call_id'] if self.extra else '?'}] {msg}", kwargs


def load_script(data: bytes, source: str, max_bytes: int = 1_000_000) -> v.Script:
    """Parse + validate + build one document (raises OzmlError)."""
    return v.build_script(parse_document(data, source, max_bytes))


class Interpreter:
    def __init__(self, settings: OzmlSettings, sms: SmsSubmitter, *,
                 fetcher: Fetcher | None = None, originator: Originator | None = None,
                 base_dir: str = ".") -> None:
        self.settings = settings
        self.sms = sms
        self.fetcher = fetcher or HttpFetcher(settings.fetch_connect_timeout,
                                              settings.fetch_total_timeout,
                                              settings.max_document_bytes)
        self.originator = originator
        self.base_dir = base_dir

    # -- entry point ---------------------------------------------------------------------
    def run(self, call: Call, script: str, notification: str = "IncomingCall") -> None:
        """Run ``script`` (file path or URL) on ``call`` until it ends; never raises for
        script problems. ``notification`` names the first request: Ozeki posts
        ``CallConnected`` to the Url of a call it placed, ``IncomingCall`` otherwise."""
        location = script if is_url(script) else resolve(script, self.base_dir + "/")
        session = _Session(call=call, location=location,
                           log=_CallLog(log, {"call_id": call.call_id}))
        session.variables.update({k.lower(): str(val) for k, val in call.variables.items()})
        session.variables.update({"caller": call.caller, "callee": call.callee,
                                  "callid": call.call_id, "digits": ""})
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
        except OzmlError as exc:
            session.log.error("script stopped: %s", exc)
            self._apologise(session)
        except Exception:
            session.log.exception("interpreter failure")
            self._apologise(session)
        finally:
            try:
                call.hangup()
            except CallEnded:
                pass

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
        fetched = self.fetcher.fetch(location, form, method)
        if allow_empty and not fetched.body.strip():
            return None
        script = load_script(fetched.body, fetched.location, self.settings.max_document_bytes)
        for warning in script.warnings:
            session.log.warning("%s", warning)
        session.log.info("running %s", fetched.location)
        return script

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

    def _command(self, s: _Session, c: v.Command, depth: int, barge_in: bool) -> bool:
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
        elif isinstance(c, callverbs.CallVerb):
            s.variables.update(callverbs.execute(s.call, c, s.log, text))
        return True

    def _play_file(self, s: _Session, c: v.Play, barge_in: bool) -> bool:
        # A relative path stays relative: like Ozeki's ContentStorage/Static, the voice side
        # resolves it against [audio] sounds_dir, wherever the script itself came from.
        source = expand_text(c.source, s.variables)
        started = time.monotonic()
        for _ in range(c.repeat):
            remaining = c.timeout - (time.monotonic() - started) if c.timeout else 0.0
            if c.timeout and remaining <= 0:
                break
            if not self._play(s, Prompt("play", source=source, seconds=remaining), barge_in):
                return False
        return True

    def _send_sms(self, s: _Session, c: v.SendSms) -> None:
        recipient = expand_text(c.recipient, s.variables) or s.call.caller
        request = SmsRequest(
            recipient=recipient, body=expand_text(c.text, s.variables),
            sender=expand_text(c.sender, s.variables),
            callback_url=expand_url(c.delivery_report_url, s.variables),
            callback_format="ozeki", source=f"ozml:{s.call.call_id}")
        try:
            sms_id = self.sms.submit_sms(request)
        except IvrError as exc:  # a bad number must not end the call
            s.log.warning("line %d: SendSms to %s not accepted: %s", c.line, recipient, exc)
            s.variables["smsid"] = ""
            return
        s.variables["smsid"] = sms_id
        s.log.info("SMS %s to %s accepted", sms_id, recipient)

    def _record(self, s: _Session, c: v.Record) -> None:
        if c.format != "wav":
            s.log.warning("line %d: Format %s is not supported; recording WAV", c.line, c.format)
        result = s.call.record(RecordSpec(max_seconds=c.duration, silence_timeout=c.inactivity,
                                          finish_digits=c.finish_digits, beep=c.beep))
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
                number, url, expand_text(c.caller_id, s.variables),
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

    # -- menus ---------------------------------------------------------------------------
    def _collect(self, s: _Session, ui: v.UserInput, depth: int) -> str | None:
        """Play the prompt (barge-in) and collect digits; None when BackKey was pressed."""
        self._execute(s, ui.prompt, depth, barge_in=ui.barge_in)
        digits = ""
        while len(digits) < ui.digits:
            digit = s.call.read_digit(ui.inter_digit_timeout if digits else ui.timeout)
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
                continue  # BackKey on the top menu: hear it again
            s.variables["digits"] = digits
            s.log.info("line %d: input %r", ui.line, digits)
            if digits == "":
                if repeats_left > 0:
                    repeats_left -= 1
                    continue
                if ui.no_input is not None:
                    self._execute(s, ui.no_input, depth)
                return
            match = next((i for i in ui.inputs if i.key == digits), None)
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
            if repeats_left > 0:
                repeats_left -= 1
                continue
            return
