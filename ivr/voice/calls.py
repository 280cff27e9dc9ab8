"""Our :class:`~ivr.call.Call` on a SIP leg, and the registry of active calls.

``SipCall.play`` writes the prompt into pyVoIP's RTP buffer and waits until it has been
sent (pyVoIP's write returns at once), watching for the caller hanging up and, with
barge-in, for a digit: then the rest of the prompt is flushed and the digit stays queued.
Digits pressed while a prompt plays without barge-in are queued as well, never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr import metrics
from ivr.call import CallEnded, PlayOutcome, Prompt, RecordResult, RecordSpec
from ivr.errors import IvrError, VoiceError
from ivr.outbound import Vetter
from ivr.voice import audio
from ivr.voice.history import CallHistory, CallQuery, CallRecord
from ivr.voice.leg import SipLeg
from ivr.voice.settings import AudioSettings
from ivr.voice.tts import Tts

__all__ = ["SipCall", "CallInfo", "CallControl"]

log = logging.getLogger(__name__)
_POLL = 0.01


class SipCall:
    def __init__(self, leg: SipLeg, tts: Tts, settings: AudioSettings,
                 variables: dict[str, str] | None = None,
                 url_policy: Vetter | None = None) -> None:
        self.leg = leg
        self.tts = tts
        self.settings = settings
        self.url_policy = url_policy     # where Play may download from (docs/security.md)
        self._variables = dict(variables or {})
        self._digits: queue.Queue[str] = queue.Queue()
        self._play_lock = threading.Lock()
        self._hold_lock = threading.Lock()
        self._stashed = b""          # the prompt audio a hold interrupted
        self.recordings: list[str] = []   # files recorded on this call (call history)
        self.script = ""                   # the OzML it runs: set by the engine that tracks it
        self._messages: queue.Queue[str] = queue.Queue(maxsize=100)
        leg.on_dtmf = self._on_digit
        leg.on_message = self.deliver_message

    def _on_digit(self, digit: str) -> None:
        log.info("[call %s] DTMF %s", self.call_id, digit)
        self._digits.put(digit)

    @property
    def call_id(self) -> str:
        return self.leg.call_id

    @property
    def caller(self) -> str:
        return self.leg.caller

    @property
    def callee(self) -> str:
        return self.leg.callee

    @property
    def variables(self) -> dict[str, str]:
        return self._variables

    def _alive(self) -> None:
        if self.leg.ended:
            raise CallEnded(self.call_id)

    def answer(self) -> None:
        self._alive()
        self.leg.answer()

    def reject(self) -> None:
        self.leg.reject(603, "Decline")

    def hangup(self) -> None:
        self.leg.hangup("script ended")

    # -- audio ---------------------------------------------------------------------------
    def render(self, prompt: Prompt) -> bytes:
        """The u8 audio for a prompt; TTS/file problems are logged and give silence."""
        try:
            if prompt.kind == "speak":
                voice = prompt.voice or prompt.language
                return self.tts.speak(prompt.text, voice, prompt.rate)
            if prompt.kind == "play":
                return audio.fetch_audio(prompt.source, self.settings.sounds_dir,
                                         self.settings.cache_dir, policy=self.url_policy)
            if prompt.kind == "beep":
                return audio.tone(prompt.seconds or 0.5)
            return audio.silence(prompt.seconds)
        except VoiceError as exc:
            log.error("[call %s] %s; continuing with the next command", self.call_id, exc)
            return b""

    def play(self, prompt: Prompt, *, barge_in: bool = False) -> PlayOutcome:
        self._alive()
        if barge_in and not self._digits.empty():
            return PlayOutcome.INTERRUPTED
        data = self.render(prompt)
        rtp = self.leg.rtp
        if rtp is None:
            # Rendering a long prompt takes time (espeak-ng, a download). A caller who hung
            # up meanwhile took the media with the call (both under the leg's lock): the
            # script ends here instead of "completed" running the next verb (a SendSms after
            # the prompt) on a call that is gone.
            self._alive()
            return PlayOutcome.COMPLETED
        if not data:
            return PlayOutcome.COMPLETED
        limit = prompt.seconds if prompt.kind == "play" and prompt.seconds else 0.0
        with self._play_lock:
            rtp.write(data)
            started = time.monotonic()
            while True:
                self._wait_while_held()
                if self.leg.ended:
                    raise CallEnded(self.call_id)
                if barge_in and not self._digits.empty():
                    rtp.flush()
                    return PlayOutcome.INTERRUPTED
                if rtp.pending() == 0:
                    return PlayOutcome.COMPLETED
                if limit and time.monotonic() - started >= limit:
                    rtp.flush()
                    return PlayOutcome.COMPLETED
                time.sleep(_POLL)

    def read_digit(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            if self._wait_while_held():
                deadline = time.monotonic() + timeout      # the wait starts again
            try:
                return self._digits.get(timeout=min(0.05, max(0.0, deadline -
                                                             time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return None

    def record(self, spec: RecordSpec) -> RecordResult:
        self._alive()
        if spec.beep:
            self.play(Prompt("beep", seconds=0.3))
        rtp = self.leg.rtp
        path = Path(self.settings.recordings_dir) / f"{uuid.uuid4().hex}.{spec.format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        chunks: list[bytes] = []
        started = time.monotonic()
        heard_speech, quiet_since, reason, digit = False, time.monotonic(), "max-length", ""
        while time.monotonic() - started < spec.max_seconds:
            self._wait_while_held()
            if self.leg.ended:
                reason = "hangup"
                break
            try:
                pressed = self._digits.get_nowait()
            except queue.Empty:
                pressed = ""
            if pressed and pressed in spec.finish_digits:
                reason, digit = "finish-key", pressed
                break
            chunk = rtp.read(160) if rtp is not None else b""
            if chunk and chunk != b"\x80" * len(chunk):
                chunks.append(chunk)
                if audio.rms_u8(chunk) > 4:
                    heard_speech, quiet_since = True, time.monotonic()
            # Inactivity counts only after the caller started speaking (users' bug #11).
            if heard_speech and spec.silence_timeout and \
                    time.monotonic() - quiet_since >= spec.silence_timeout:
                reason = "silence"
                break
            time.sleep(0.02)
        data = b"".join(chunks)
        path.write_bytes(audio.encode_recording(data, spec.format))
        self.recordings.append(str(path))
        duration = len(data) / audio.RATE
        log.info("[call %s] recorded %.1f s to %s (%s)", self.call_id, duration, path, reason)
        return RecordResult(path=str(path), url=path.resolve().as_uri(), duration=duration,
                            reason=reason, digit=digit)

    def send_dtmf(self, keys: str) -> None:
        """RFC 4733 telephone-events on the call's RTP stream."""
        self._alive()
        rtp = self.leg.rtp
        if rtp is None or not rtp.send_dtmf(keys):
            log.warning("[call %s] the caller did not offer telephone-event; cannot send "
                        "DTMF %s", self.call_id, keys)

    # -- chat in the call (RFC 3428) ----------------------------------------------------
    def deliver_message(self, content_type: str, text: str) -> None:
        """A MESSAGE from the caller's UA (in the dialog, or matched to this call)."""
        if not content_type.lower().startswith("text/"):
            log.info("[call %s] MESSAGE of type %s ignored", self.call_id, content_type)
            return
        try:
            self._messages.put_nowait(text.rstrip("\r\n"))
        except queue.Full:
            log.warning("[call %s] 100 unread messages; dropping the new one", self.call_id)

    def send_message(self, text: str) -> bool:
        self._alive()
        return self.leg.send_message(text)

    def wait_message(self, timeout: float) -> str | None:
        """The caller's next message, waiting up to ``timeout`` s; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            try:
                return self._messages.get(timeout=min(0.1, max(0.0, deadline -
                                                                 time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return None

    # -- hold ----------------------------------------------------------------------------
    def hold(self) -> bool:
        """Put the far end on hold (re-INVITE a=sendonly) with music on hold ([audio]
        music_on_hold, looped by the media clock; silence when unset). The script pauses at
        its next step until :meth:`unhold`; the prompt that was playing resumes where it
        stopped. False when the far end refused the re-INVITE (the call goes on)."""
        self._alive()
        with self._hold_lock:
            if self.leg.holding:
                return True
            if not self.leg.set_hold(True):
                return False
            rtp = self.leg.rtp
            if rtp is not None:
                self._stashed = rtp.take_pending()
                rtp.set_filler(self._music_on_hold())
        log.info("[call %s] on hold", self.call_id)
        return True

    def unhold(self) -> bool:
        """Take the far end off hold (re-INVITE a=sendrecv); the paused script goes on."""
        self._alive()
        with self._hold_lock:
            if not self.leg.holding:
                return True
            if not self.leg.set_hold(False):
                return False
            rtp = self.leg.rtp
            if rtp is not None:
                rtp.set_filler(None)
                rtp.write(self._stashed)
            self._stashed = b""
        log.info("[call %s] off hold", self.call_id)
        return True

    @property
    def held(self) -> bool:
        return self.leg.holding

    def wait_while_held(self, timeout: float = 0.0) -> None:
        """Block while we hold the call (``timeout`` > 0: then take it off hold)."""
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while self.leg.holding and not self.leg.ended:
            if deadline is not None and time.monotonic() >= deadline:
                self.unhold()
                return
            time.sleep(_POLL * 5)
        self._alive()

    def _wait_while_held(self) -> bool:
        """The interpreter's pause: True when it had to wait."""
        if not self.leg.holding:
            return False
        self.wait_while_held()
        return True

    def _music_on_hold(self) -> bytes:
        source = self.settings.music_on_hold
        if not source:
            return b""
        return self.render(Prompt("play", source=source))

    def forward(self, target: str) -> bool:
        """Forward the still-ringing call (302 with ``target`` in Contact, or the INVITE
        proxied to it with ``[sip] forward_mode = proxy``); False when it is answered
        already or ``target`` cannot be dialled."""
        from ivr.voice.sip import InboundLeg
        from ivr.voice.uac import dial_target

        if not isinstance(self.leg, InboundLeg):
            return False
        try:
            dialled = dial_target(target, self.leg.endpoint.settings)
        except VoiceError as exc:
            log.warning("[call %s] cannot forward: %s", self.call_id, exc)
            return False
        return self.leg.forward(dialled.uri, dialled.address)

    def attended_transfer(self, target: str) -> str:
        """Consult ``target``, then REFER the caller to it with Replaces
        (:mod:`ivr.voice.transfer`); "transferred to …" or "failed: …" (then the call goes
        on, off hold)."""
        from ivr.voice.transfer import attended_transfer

        self._alive()
        return attended_transfer(self, target).reason

    def transfer(self, target: str) -> bool:
        self._alive()
        if self.leg.refer(target):
            self.leg.hangup(f"transferred to {target}")
            return True
        return False


@dataclass(frozen=True)
class CallInfo:
    call_id: str
    state: str
    source: str
    caller_id: str
    destination: str
    start_time: dt.datetime
    ring_seconds: float
    talk_seconds: float
    script: str = ""             # the OzML the call runs (dialplan, or the API's Url)


class CallControl:
    """Active calls for the HTTP API (Ozeki's ListActiveCalls, Hangup, SendDTMF, ...)."""

    def __init__(self, originate: Callable[[str, str, str], str] | None = None,
                 place: Callable[..., str] | None = None) -> None:
        self._calls: dict[str, SipCall] = {}
        self._lock = threading.Lock()
        self._originate = originate
        self._place = place
        self.history: CallHistory | None = None   # set by the engine that owns the calls
        # POSTs a form to a web app (RecordCompleted to FinishedUrl); set by the engine
        self.post: Callable[[str, dict[str, str]], None] | None = None
        # Ozeki notifications (RecordCompleted) of the process owning the calls; set by it
        self.notify: Callable[[str, dict[str, str]], None] | None = None

    def add(self, call: SipCall) -> None:
        with self._lock:
            self._calls[call.call_id] = call
        metrics.call_started()

    def remove(self, call_id: str) -> None:
        with self._lock:
            call = self._calls.pop(call_id, None)
        if call is not None:
            metrics.call_ended(call.leg)

    def _get(self, call_id: str) -> SipCall:
        with self._lock:
            return self._calls[call_id]

    def list_calls(self) -> list[CallInfo]:
        with self._lock:
            calls = list(self._calls.values())
        now = time.time()
        infos = []
        for call in calls:
            leg = call.leg
            answered = leg.answered_at or 0.0
            infos.append(CallInfo(
                call_id=call.call_id, state="InCall" if leg.state == "answered" else "Ringing",
                source=f"{leg.source[0]}:{leg.source[1]}", caller_id=call.caller,
                destination=call.callee,
                start_time=dt.datetime.fromtimestamp(leg.created, dt.UTC),
                ring_seconds=(answered or now) - leg.created,
                talk_seconds=now - answered if answered else 0.0, script=call.script))
        return infos

    def hangup(self, call_id: str) -> bool:
        self._get(call_id).leg.hangup("hung up over the HTTP API")
        return True

    def send_dtmf(self, call_id: str, keys: str) -> bool:
        call = self._get(call_id)
        try:
            call.send_dtmf(keys)
        except CallEnded:
            return False
        return True

    def _queue_audio(self, call_id: str, prompt: Prompt) -> bool:
        call = self._get(call_id)
        data = call.render(prompt)
        rtp = call.leg.rtp
        if not data or rtp is None:
            return False
        rtp.write(data)
        return True

    def speak(self, call_id: str, text: str) -> bool:
        return self._queue_audio(call_id, Prompt("speak", text=text))

    def play(self, call_id: str, source: str) -> bool:
        return self._queue_audio(call_id, Prompt("play", source=source))

    # -- call control a PBX user expects (issue 15); new methods, the ones above unchanged
    def hold(self, call_id: str) -> bool:
        """Hold with music; the call's script pauses until :meth:`unhold`."""
        try:
            return self._get(call_id).hold()
        except CallEnded:
            return False

    def unhold(self, call_id: str) -> bool:
        try:
            return self._get(call_id).unhold()
        except CallEnded:
            return False

    def blind_transfer(self, call_id: str, target: str) -> bool:
        """REFER the far end to ``target``; on success our side of the call ends."""
        try:
            return self._get(call_id).transfer(target)
        except CallEnded:
            return False

    def attended_transfer(self, call_id: str, target: str) -> str:
        """Consultation call, then REFER with Replaces; "transferred to …" or "failed: …"."""
        try:
            return self._get(call_id).attended_transfer(target)
        except CallEnded:
            return "failed: the call has ended"

    def send_message(self, call_id: str, text: str) -> bool:
        """SIP MESSAGE to the caller's UA in the call's dialog; True once accepted."""
        try:
            return self._get(call_id).send_message(text)
        except CallEnded:
            return False

    def receive_message(self, call_id: str, timeout: float) -> str | None:
        """The caller's next MESSAGE text (shared with the script's WaitForMsg)."""
        try:
            return self._get(call_id).wait_message(timeout)
        except CallEnded:
            return None

    def deliver_out_of_dialog(self, sender: str, host: str, content_type: str,
                              text: str) -> bool:
        """A MESSAGE outside any dialog (softphone chat) from ``sender`` at ``host``: given
        to that caller's active call; False when there is none."""
        with self._lock:
            calls = [c for c in self._calls.values()
                     if c.caller == sender and c.leg.source[0] == host and not c.leg.ended]
        if not calls:
            return False
        calls[-1].deliver_message(content_type, text)
        return True

    def forward(self, call_id: str, destination: str) -> bool:
        """302 a call that still rings to ``destination``; False once answered."""
        return self._get(call_id).forward(destination)

    def record(self, call_id: str, seconds: float,
               on_done: Callable[[RecordResult], None] | None = None) -> str:
        """Record what the far end says for up to ``seconds`` (or until it hangs up) into a
        new WAV, alongside whatever the script does; the file's URL at once, ``on_done``
        with the result when it is written."""
        call = self._get(call_id)
        rtp = call.leg.rtp
        if rtp is None or call.leg.ended:
            raise CallEnded(call_id)
        path = Path(call.settings.recordings_dir) / f"{uuid.uuid4().hex}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        chunks: list[bytes] = []
        rtp.add_tap(chunks.append)

        def finish() -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not call.leg.ended:
                time.sleep(0.05)
            rtp.remove_tap(chunks.append)
            data = b"".join(chunks)
            path.write_bytes(audio.u8_to_wav(data))
            call.recordings.append(str(path))
            result = RecordResult(path=str(path), url=path.resolve().as_uri(),
                                  duration=len(data) / audio.RATE,
                                  reason="hangup" if call.leg.ended else "max-length")
            log.info("[call %s] HTTP recording: %.1f s to %s (%s)", call_id, result.duration,
                     path, result.reason)
            if on_done is not None:
                on_done(result)

        threading.Thread(target=finish, name=f"record-{call_id[:8]}", daemon=True).start()
        return path.resolve().as_uri()

    def record_to(self, call_id: str, seconds: float, finished_url: str = "") -> str:
        """HTTP Record: :meth:`record`, and when the file is written, RecordCompleted to the
        notification URL and (as OzML's ``<Record FinishedUrl>``) to ``finished_url``.
        Everything happens in the process that owns the call, so it works over the control
        socket too."""
        def done(result: RecordResult) -> None:
            form = {"CallId": call_id, "RecordURL": result.url,
                    "Duration": f"{result.duration:.1f}", "Reason": result.reason}
            if self.notify is not None:
                self.notify("RecordCompleted", form)
            if finished_url and self.post is not None:
                self.post(finished_url, {"NotificationName": "RecordCompleted", **form})

        return self.record(call_id, seconds, done)

    def call(self, number: str, script: str, caller_id: str = "", display_name: str = "",
             error_url: str = "") -> str:
        """:meth:`originate` with Ozeki's other Call parameters: ``display_name`` goes into
        From, ``error_url`` is requested for every failure (cannot dial, busy, no answer,
        rejected, unreachable) with the SIP status."""
        if self._place is None:
            return self.originate(number, script, caller_id)
        return self._place(number, script, caller_id, display_name=display_name,
                           error_url=error_url)

    def list_history(self, query: CallQuery) -> tuple[list[CallRecord], int]:
        """Finished calls, newest first, and how many match (ListCallHistory)."""
        if self.history is None:
            raise IvrError("call history is not kept in this process (an engine built "
                           "without one)")
        return self.history.query(query)

    def history_record(self, call_id: str) -> CallRecord | None:
        if self.history is None:
            raise IvrError("call history is not kept in this process")
        return self.history.get(call_id)

    def originate(self, number: str, script: str, caller_id: str = "") -> str:
        """Place a call that runs ``script`` once answered; its Call-ID, before it rings."""
        if self._originate is None:
            raise IvrError("outbound calls need the voice engine (ivr serve with [sip] "
                           "enabled)")
        return self._originate(number, script, caller_id)
