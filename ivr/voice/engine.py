"""The voice engine: a SIP endpoint whose every incoming call runs an OzML script."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr.config import Settings
from ivr.voice.calls import CallControl, SipCall
from ivr.voice.dialplan import Dialplan, header_variables
from ivr.voice.sip import SipEndpoint, SipLeg
from ivr.voice.tts import Tts

__all__ = ["VoiceEngine"]

log = logging.getLogger(__name__)


class VoiceEngine:
    def __init__(self, settings: Settings, interpreter: Any,
                 notify: Callable[[str, dict[str, str]], None] | None = None) -> None:
        self.settings = settings
        self.interpreter = interpreter
        self.dialplan = Dialplan(settings.sip.dialplan, settings.sip.default_script)
        self.tts = Tts(settings.audio.cache_dir, settings.audio.tts_voice,
                       settings.audio.tts_rate)
        self.calls = CallControl()
        self.endpoint = SipEndpoint(settings.sip, self._on_invite)
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._notify = notify

    def start(self) -> None:
        self.endpoint.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.endpoint.stop()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _on_invite(self, leg: SipLeg) -> None:
        script = self.dialplan.script_for(leg.callee)
        variables = header_variables(leg.invite.headers)
        call = SipCall(leg, self.tts, self.settings.audio, variables)
        if self._notify is not None:
            notify = self._notify
            leg.on_answer = lambda answered: notify("CallConnected", _call_params(answered))
            leg.on_end = lambda ended: notify("CallEnded", {
                **_call_params(ended), "Reason": ended.end_reason,
                "TalkDuration": f"{max(0.0, time.time() - ended.answered_at):.0f}"
                if ended.answered_at else "0"})
        self.calls.add(call)
        thread = threading.Thread(target=self._run, args=(call, script),
                                  name=f"call-{leg.call_id[:8]}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, call: SipCall, script: str) -> None:
        try:
            log.info("[call %s] running %s", call.call_id, script)
            self.interpreter.run(call, script)
        finally:
            self.calls.remove(call.call_id)
            with self._lock:
                self._threads.discard(threading.current_thread())


def _call_params(leg: SipLeg) -> dict[str, str]:
    return {"CallId": leg.call_id, "Caller": leg.caller, "Callee": leg.callee}
