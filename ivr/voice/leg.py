"""What every call leg is once it exists, whichever side sent the INVITE.

An incoming call (:class:`ivr.voice.sip.InboundLeg`, we are the UAS) and an outgoing one
(:class:`ivr.voice.uac.OutboundLeg`, we are the UAC) differ only in how the dialog comes to
be. After that both are the same thing: a dialog (RFC 3261 §12, :class:`sipmsg.Dialog`) with
one PCMU stream that either side ends with BYE. :class:`SipLeg` is that shared part, so media
start, BYE, REFER, in-dialog requests from the far end, DTMF and the end callbacks are written
once. Subclasses say how a ringing leg is answered, refused or abandoned.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.errors import VoiceError
from ivr.voice import sipmsg

if TYPE_CHECKING:
    from ivr.voice.media import RtpSession
    from ivr.voice.sip import SipEndpoint

__all__ = ["SipLeg", "ALLOW"]

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, MESSAGE"


class SipLeg(abc.ABC):
    """One call's dialog and media, as seen from our side."""

    remote_role = "far end"     # "caller" / "callee": who hung up, in end reasons

    def __init__(self, endpoint: SipEndpoint, call_id: str, source: tuple[str, int]) -> None:
        self.endpoint = endpoint
        self.call_id = call_id
        self.source = source            # the far end's SIP address (or the next hop to it)
        self.local_tag = sipmsg.new_tag()
        self.state = "ringing"          # ringing | answered | ended
        self.end_reason = ""
        self.rtp: RtpSession | None = None
        self.rtp_port = 0
        self.codec_pt = 0                   # G.711 type in use: 0 PCMU, 8 PCMA
        self.event_pt: int | None = None    # the far end's 8000 Hz telephone-event type
        self.confirmed = False              # the ACK (ours or theirs) confirmed the dialog
        self.local_direction = "sendrecv"   # the a= of our current SDP
        self.sdp_version = 0                # o= version offset, raised on every change
        self.held_by_remote = False         # the far end's last offer was sendonly/inactive
        self.remote_direction = "sendrecv"  # the a= of the far end's last offer
        self.holding = False                # we put the far end on hold
        self.on_hold_change: Callable[[SipLeg], None] | None = None
        self.on_message: Callable[[str, str], None] | None = None   # MESSAGE in the dialog
        self.on_refer_progress: Callable[[int], None] | None = None  # NOTIFY sipfrag status
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_end: Callable[[SipLeg], None] | None = None
        self.on_answer: Callable[[SipLeg], None] | None = None
        self.created = time.time()
        self.answered_at = 0.0
        self.dialog: sipmsg.Dialog | None = None   # set once the dialog exists
        self._reinvites: dict[int, bytes] = {}     # CSeq -> our answer (retransmissions)
        self._lock = threading.Lock()

    @property
    @abc.abstractmethod
    def caller(self) -> str: ...

    @property
    @abc.abstractmethod
    def callee(self) -> str: ...

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    @abc.abstractmethod
    def answer(self) -> None:
        """Take the call off hook (incoming calls); idempotent."""

    @abc.abstractmethod
    def reject(self, status: int = 603, reason: str = "Decline") -> None:
        """Refuse the call instead of answering it."""

    @abc.abstractmethod
    def _abandon(self, why: str) -> None:
        """End the leg while it still rings (a final answer to it, or a CANCEL)."""

    # -- media ---------------------------------------------------------------------------
    def _start_media(self, address: str, port: int) -> None:
        """Open our RTP port towards the far end's SDP address. Nothing is sent yet: an
        incoming call sends once the ACK confirms the dialog (issue 17 item 5: no audio to an
        address a forged INVITE names), an outgoing one once it has sent its ACK."""
        from ivr.voice.media import CODECS, RtpSession

        rtp = RtpSession(self.call_id, (self.endpoint.settings.bind_host, self.rtp_port),
                         (address, port), CODECS[self.codec_pt], self.event_pt, self._digit,
                         self.endpoint.media_clock, signalling=self.source[0])
        try:
            rtp.start()
        except OSError as exc:
            raise VoiceError(f"cannot open RTP port {self.rtp_port}: {exc.strerror}") from None
        self.rtp = rtp

    def _update_sending(self) -> None:
        """Send while the dialog is confirmed, our direction sends, and the far end listens."""
        rtp = self.rtp
        if rtp is not None:
            rtp.set_sending(self.confirmed and not self.held_by_remote
                            and self.local_direction in ("sendrecv", "sendonly"))

    def _digit(self, digit: str) -> None:
        if self.on_dtmf is not None and digit:
            self.on_dtmf(digit)

    def _answered(self) -> None:
        """Announce the answer (outside the lock): log, then the on_answer callback."""
        log.info("[call %s] answered (%.0f ms after the INVITE)", self.call_id,
                 (self.answered_at - self.created) * 1000)
        if self.on_answer is not None:
            self.on_answer(self)

    # -- ending --------------------------------------------------------------------------
    def hangup(self, why: str = "hangup") -> None:
        """End the call from our side: BYE once answered, else whatever ends a ringing leg."""
        with self._lock:
            state = self.state
        if state == "ringing":
            self._abandon(why)
        elif state == "answered":
            self._finish(why)
            self._send_bye()

    def _send_bye(self) -> None:
        if self.dialog is None:
            return
        bye = self.dialog.request("BYE", self.endpoint.via())
        self.endpoint.transact(bye, self.dialog.next_hop(self.source), timeout=4.0)

    def refer(self, target: str) -> bool:
        """Blind transfer (RFC 3515): True when the far end accepted the REFER."""
        if self.state != "answered" or self.dialog is None:
            return False
        server = self.endpoint.settings.server or self.endpoint.settings.bind_host
        refer_to = target if target.startswith("sip:") else f"sip:{target}@{server}"
        reply = self.endpoint.transact(self.dialog.request("REFER", self.endpoint.via(), [
            ("Refer-To", f"<{refer_to}>"), ("Referred-By", self.endpoint.contact),
            ("Contact", self.endpoint.contact)]), self.dialog.next_hop(self.source), timeout=4.0)
        return reply is not None and 200 <= reply.status < 300

    def _finish(self, why: str) -> None:
        """Mark the leg ended (once): stop media, return the RTP port, tell on_end."""
        with self._lock:
            if self.state == "ended":
                return
            self.state, self.end_reason = "ended", why
            rtp, self.rtp = self.rtp, None
        if rtp is not None:
            try:
                rtp.stop()
            except OSError:
                pass
        self.endpoint.ports.give(self.rtp_port)
        self.endpoint.forget(self)
        log.info("[call %s] ended: %s", self.call_id, why)
        if self.on_end is not None:
            self.on_end(self)

    # -- events from the endpoint --------------------------------------------------------
    def accepts(self, message: sipmsg.SipMessage) -> bool:
        """RFC 3261 §12.2.2: a request is in this dialog only when its Call-ID, its From tag
        (the far end's) and its To tag (ours) all match. A Call-ID alone, which anyone who
        saw one packet knows, must not move the audio or end the call (issue 17 item 5)."""
        dialog = self.dialog
        return dialog is not None and \
            sipmsg.tag(message.get("To")) == sipmsg.tag(dialog.local) and \
            sipmsg.tag(message.get("From")) == sipmsg.tag(dialog.remote)

    def on_request(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A request in this dialog: a re-INVITE renegotiates the session; BYE ends the call;
        MESSAGE goes to the script; INFO, NOTIFY (REFER progress) and OPTIONS get 200 OK;
        ACK needs no answer."""
        if message.method == "INVITE":
            self._reinvite(message, source)
            return
        if message.method == "ACK":
            return
        self.endpoint.send(sipmsg.response(message, 200, "OK").encode(), source)
        if message.method == "BYE":
            self._finish(f"{self.remote_role} hung up")
        elif message.method == "MESSAGE" and self.on_message is not None:
            self.on_message(message.get("Content-Type", "text/plain"),
                            message.body.decode("utf-8", "replace"))
        elif message.method == "NOTIFY" and self.on_refer_progress is not None and \
                message.get("Event").lower().startswith("refer"):
            status = sipmsg.sipfrag_status(message.body)
            if status:
                self.on_refer_progress(status)

    def local_sdp(self) -> bytes:
        """The session description we give now (RFC 3264 §8: a new o= version whenever it
        changes, the same one for a refresh)."""
        return sipmsg.answer_sdp(self.endpoint.settings.bind_host, self.rtp_port,
                                 self.event_pt, int(self.created) % 10**9,
                                 codecs=(self.codec_pt,), version=self.sdp_version,
                                 direction=self.local_direction)

    def _set_direction(self, direction: str) -> None:
        if direction != self.local_direction:
            self.local_direction = direction
            self.sdp_version += 1

    def _reinvite(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A re-INVITE (RFC 3261 §14.2): a PBX refreshing the session, a phone putting us on
        hold (sendonly → we answer recvonly and stop sending; the script's prompts wait), or
        moving its media within the dialog. An offer without G.711 is refused with 488 and
        the call goes on as before (§14.2). Answers are kept per CSeq for retransmissions."""
        number = message.cseq[0]
        with self._lock:
            answered = self._reinvites.get(number)
            changed = False
            if answered is None and self.state != "ended":
                held_before = self.held_by_remote
                answered = self._answer_reinvite(message)
                self._reinvites[number] = answered
                while len(self._reinvites) > 8:      # retransmissions come within 32 s
                    del self._reinvites[min(self._reinvites)]
                changed = held_before != self.held_by_remote
        if answered is not None:
            self.endpoint.send(answered, source)
        self._update_sending()
        if changed and self.on_hold_change is not None:
            self.on_hold_change(self)

    def _answer_reinvite(self, message: sipmsg.SipMessage) -> bytes:
        if message.body:
            try:
                offer = sipmsg.parse_sdp(message.body)
            except sipmsg.SipParseError as exc:
                log.warning("[call %s] re-INVITE refused: %s", self.call_id, exc)
                return sipmsg.response(message, 488, "Not Acceptable Here").encode()
            chosen = sipmsg.choose_audio(offer)
            if chosen is None:
                log.warning("[call %s] re-INVITE refused: no G.711 (PCMU/PCMA) in %s",
                            self.call_id, offer.formats)
                return sipmsg.response(message, 488, "Not Acceptable Here").encode()
            rtp = self.rtp
            if rtp is not None and chosen[0] != self.codec_pt:
                from ivr.voice.media import CODECS

                log.info("[call %s] re-INVITE switches to %s", self.call_id,
                         CODECS[chosen[0]].name)
                self.codec_pt = chosen[0]
                rtp.set_codec(CODECS[chosen[0]])
                self.sdp_version += 1
            moved = offer.port and offer.address != "0.0.0.0" and rtp is not None \
                and rtp.remote != (offer.address, offer.port)
            if moved and rtp is not None:
                log.info("[call %s] re-INVITE moves the far end's media to %s:%d",
                         self.call_id, offer.address, offer.port)
                rtp.retarget(offer.address, offer.port)
            self.held_by_remote = offer.on_hold
            self.remote_direction = "inactive" if offer.address == "0.0.0.0" \
                else offer.direction
            self._set_direction(sipmsg.answer_direction(self.remote_direction, self.holding))
            log.info("[call %s] re-INVITE: %s, we answer %s", self.call_id,
                     f"the {self.remote_role} holds the call" if offer.on_hold
                     else "media " + ("moved" if moved else "unchanged"),
                     self.local_direction)
        return sipmsg.response(message, 200, "OK", headers=[
            ("Contact", self.endpoint.contact), ("Allow", ALLOW),
            ("Content-Type", "application/sdp")], body=self.local_sdp()).encode()

    def send_message(self, text: str) -> bool:
        """A SIP MESSAGE (RFC 3428) to the far end's UA in this dialog; True on 2xx."""
        if self.state != "answered" or self.dialog is None:
            return False
        reply = self.endpoint.transact(self.dialog.request(
            "MESSAGE", self.endpoint.via(), [("Content-Type", "text/plain;charset=UTF-8")],
            text.encode("utf-8")), self.dialog.next_hop(self.source), timeout=8.0)
        return reply is not None and 200 <= reply.status < 300

    # -- our own re-INVITEs (hold / unhold) -------------------------------------------------
    def set_hold(self, hold: bool) -> bool:
        """Put the far end on hold (a=sendonly, RFC 3264 §8.4) or take it off (sendrecv);
        True once the far end accepted the re-INVITE. On refusal nothing changes."""
        if self.state != "answered" or self.dialog is None or self.holding == hold:
            return self.holding == hold and self.state == "answered"
        with self._lock:
            previous = (self.holding, self.local_direction, self.sdp_version)
            self.holding = hold
            self._set_direction(sipmsg.answer_direction(self.remote_direction, hold))
            invite = self.dialog.request("INVITE", self.endpoint.via(), [
                ("Contact", self.endpoint.contact), ("Allow", ALLOW),
                ("Content-Type", "application/sdp")], self.local_sdp())
        reply = self.endpoint.transact(invite, self.dialog.next_hop(self.source), timeout=8.0)
        if reply is not None and 200 <= reply.status < 300:
            self.endpoint.send(self.dialog.request("ACK", self.endpoint.via()).encode(),
                               self.dialog.next_hop(self.source))
            log.info("[call %s] %s the %s", self.call_id, "holding" if hold else "resumed",
                     self.remote_role)
            self._update_sending()
            return True
        with self._lock:
            self.holding, self.local_direction, self.sdp_version = previous
        log.warning("[call %s] %s refused: %s", self.call_id, "hold" if hold else "unhold",
                    f"{reply.status} {reply.reason}" if reply else "no answer")
        return False

    def on_response(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A response no transaction waits for (outgoing calls take their INVITE's here)."""
        log.debug("[call %s] ignored %d %s to %s", self.call_id, message.status,
                  message.reason, message.cseq[1])
