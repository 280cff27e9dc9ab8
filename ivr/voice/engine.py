"""The voice engine: a SIP endpoint whose every call, incoming or placed, runs an OzML script."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr import metrics
from ivr.config import Settings
from ivr.errors import IvrError
from ivr.outbound import Vetter
from ivr.voice.calls import CallControl, SipCall
from ivr.voice.dialplan import Dialplan, header_variables
from ivr.voice.history import CallHistory, CallRecord
from ivr.voice.leg import SipLeg
from ivr.voice.sip import InboundLeg, SipEndpoint
from ivr.voice.tts import Tts
from ivr.voice.uac import OutboundLeg, dial_target

__all__ = ["VoiceEngine"]

log = logging.getLogger(__name__)


class VoiceEngine:
    def __init__(self, settings: Settings, interpreter: Any,
                 notify: Callable[[str, dict[str, str]], None] | None = None,
                 history: CallHistory | None = None,
                 url_policy: Vetter | None = None) -> None:
        self.settings = settings
        self.interpreter = interpreter
        self.dialplan = Dialplan(settings.sip.dialplan, settings.sip.default_script)
        self.tts = Tts(settings.audio.cache_dir, settings.audio.tts_voice,
                       settings.audio.tts_rate)
        self.calls = CallControl(originate=self.originate, place=self.originate)
        self.calls.post = self._post
        self.endpoint = SipEndpoint(settings.sip, self._on_invite)
        self.endpoint.on_message = self.calls.deliver_out_of_dialog
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._notify = notify
        self.calls.notify = notify
        self.history = history
        self.calls.history = history
        self._url_policy = url_policy

    def start(self) -> None:
        self.endpoint.start()
        metrics.role_up("voice")

    def stop(self, timeout: float = 5.0) -> None:
        """Hang up every call while the socket is still open (BYE, CANCEL), let the scripts
        and dialling threads see it, then close the endpoint."""
        for leg in self.endpoint.legs():
            leg.hangup("shutting down")
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.endpoint.stop()
        if self.history is not None:    # after the calls' ends are written
            self.history.close()

    # -- incoming calls ------------------------------------------------------------------
    def _on_invite(self, leg: InboundLeg) -> None:
        script = self.dialplan.script_for(leg.callee)
        call = SipCall(leg, self.tts, self.settings.audio, header_variables(leg.invite.headers),
                       self._url_policy)
        self._track(call, script, "inbound")
        self._spawn(call, lambda: self._run(call, script, "IncomingCall"))

    # -- outgoing calls ------------------------------------------------------------------
    def originate(self, number: str, url: str, caller_id: str = "",
                  on_failure: Callable[[str], None] | None = None, *,
                  display_name: str = "", error_url: str = "") -> str:
        """Call ``number`` and run the OzML at ``url`` once it answers; the Call-ID at once.

        Raises IvrError only when the call cannot even be dialled (no destination for the
        number, bad CallerId, no free RTP port, SIP not running). A call that is refused or
        not answered ends with CallEnded (Reason ``busy (486 Busy Here)``, …) and
        ``on_failure(reason)``.
        """
        try:
            if not self.endpoint.running:
                raise IvrError("the SIP side is not running")
            leg = OutboundLeg(self.endpoint, dial_target(number, self.settings.sip),
                              caller_id, display_name)
        except IvrError as exc:
            self._report_error(error_url, "", number, str(exc), 0)
            raise
        if error_url:
            chained = on_failure

            def on_failure(reason: str) -> None:
                self._report_error(error_url, leg.call_id, number, reason, leg.final_status)
                if chained is not None:
                    chained(reason)

        call = SipCall(leg, self.tts, self.settings.audio, {"dialled": number}, self._url_policy)
        self._track(call, url, "outbound")
        self.endpoint.add(leg)

        def dial_and_run() -> None:
            if leg.dial():
                self._run(call, url, "CallConnected")
            elif on_failure is not None:
                on_failure(leg.end_reason)

        self._spawn(call, dial_and_run)
        return leg.call_id

    def _post(self, url: str, form: dict[str, str]) -> None:
        """POST a notification form to a web app's URL the way scripts' fetches go (the
        interpreter's fetcher: its timeouts and URL policy); failures are logged."""
        fetcher = getattr(self.interpreter, "fetcher", None)
        if fetcher is None:
            log.warning("[call %s] no fetcher to request %s", form.get("CallId", "-"), url)
            return
        try:
            fetcher.fetch(url, form, "POST")
        except IvrError as exc:
            log.warning("[call %s] %s failed: %s", form.get("CallId", "-"), url, exc)

    def _report_error(self, url: str, call_id: str, number: str, reason: str,
                      status: int) -> None:
        """Request ``ErrorUrl`` for a call that could not be placed or was refused or not
        answered (Ozeki p_4571), with the SIP status that ended it (0: none came)."""
        if not url:
            return
        self._post(url, {"NotificationName": "Error", "CallId": call_id, "Dialled": number,
                         "ErrorMessage": reason, "SipStatus": str(status or "")})

    # -- shared --------------------------------------------------------------------------
    def _track(self, call: SipCall, script: str, direction: str) -> None:
        """List the call (ListActiveCalls), write its history when it ends (before anything
        announces the end), and send its CallConnected/CallEnded."""
        call.script = script
        self.calls.add(call)
        notify = self._notify
        if notify is not None:
            call.leg.on_answer = lambda answered: notify("CallConnected",
                                                         _call_params(answered))

        def ended(leg: SipLeg) -> None:
            self._remember(call, script, direction)
            if notify is not None:
                notify("CallEnded", {
                    **_call_params(leg), "Reason": leg.end_reason,
                    "TalkDuration": f"{max(0.0, time.time() - leg.answered_at):.0f}"
                    if leg.answered_at else "0"})

        call.leg.on_end = ended

    def _remember(self, call: SipCall, script: str, direction: str) -> None:
        if self.history is None:
            return
        leg = call.leg
        try:
            self.history.add(CallRecord(
                call.call_id, direction, leg.caller, leg.callee, script, leg.created,
                leg.answered_at, time.time(), leg.end_reason, tuple(call.recordings)))
        except Exception:  # a full disk must not break the call's end
            log.exception("[call %s] could not write the call history", call.call_id)

    def _spawn(self, call: SipCall, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception:  # a thread must never die silently with the call listed
                log.exception("[call %s] call thread failed", call.call_id)
                call.leg.hangup("internal error")
            finally:
                self.calls.remove(call.call_id)
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"call-{call.call_id[:8]}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, call: SipCall, script: str, notification: str) -> None:
        log.info("[call %s] running %s", call.call_id, script)
        self.interpreter.run(call, script, notification=notification)


def _call_params(leg: SipLeg) -> dict[str, str]:
    return {"CallId": leg.call_id, "Caller": leg.caller, "Callee": leg.callee}
