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
from typing import TYPE_CHECKING, Any

from ivr.errors import VoiceError
from ivr.voice import sipmsg

if TYPE_CHECKING:
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
        self.rtp: object | None = None
        self.rtp_port = 0
        self.event_pt: int | None = None
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
        """PCMU (+ telephone-event) to the far end's SDP address, paced by the shared clock."""
        from pyVoIP.RTP import PayloadType, TransmitType

        from ivr.voice.media import PacedRTPClient

        assoc = {0: PayloadType.PCMU}
        if self.event_pt is not None:
            assoc[self.event_pt] = PayloadType.EVENT
        rtp = PacedRTPClient(assoc, self.endpoint.settings.bind_host, self.rtp_port, address,
                             port, TransmitType.SENDRECV, dtmf=self._digit,
                             clock=self.endpoint.media_clock)
        try:
            rtp.start()
        except OSError as exc:
            raise VoiceError(f"cannot open RTP port {self.rtp_port}: {exc.strerror}") from None
        self.rtp = rtp

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
                rtp.stop()  # type: ignore[attr-defined]
            except OSError:
                pass
        self.endpoint.ports.give(self.rtp_port)
        self.endpoint.forget(self)
        log.info("[call %s] ended: %s", self.call_id, why)
        if self.on_end is not None:
            self.on_end(self)

    # -- events from the endpoint --------------------------------------------------------
    def on_request(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A request in this dialog: a re-INVITE keeps the session; BYE ends the call;
        INFO, NOTIFY (REFER progress) and OPTIONS get 200 OK; ACK needs no answer."""
        if message.method == "INVITE":
            self._reinvite(message, source)
            return
        if message.method == "ACK":
            return
        self.endpoint.send(sipmsg.response(message, 200, "OK").encode(), source)
        if message.method == "BYE":
            self._finish(f"{self.remote_role} hung up")

    def local_sdp(self) -> bytes:
        """The session description we gave (offer or answer); re-INVITEs get it unchanged."""
        return sipmsg.answer_sdp(self.endpoint.settings.bind_host, self.rtp_port,
                                 self.event_pt, int(self.created) % 10**9)

    def _reinvite(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A re-INVITE (RFC 3261 §14.2): a PBX refreshing the session, putting us on hold, or
        moving its media. We keep our side as it is and answer with the same SDP (same
        o= version, RFC 3264 §8); a new address for the far end's media is followed. An offer
        without PCMU is refused with 488 and the call goes on as before (§14.2)."""
        number = message.cseq[0]
        with self._lock:
            answered = self._reinvites.get(number)
            if answered is None and self.state != "ended":
                answer = self._answer_reinvite(message)
                answered = self._reinvites[number] = answer
        if answered is not None:
            self.endpoint.send(answered, source)

    def _answer_reinvite(self, message: sipmsg.SipMessage) -> bytes:
        if message.body:
            try:
                offer = sipmsg.parse_sdp(message.body)
            except sipmsg.SipParseError as exc:
                log.warning("[call %s] re-INVITE refused: %s", self.call_id, exc)
                return sipmsg.response(message, 488, "Not Acceptable Here").encode()
            if 0 not in offer.formats:
                log.warning("[call %s] re-INVITE refused: no PCMU in %s", self.call_id,
                            offer.formats)
                return sipmsg.response(message, 488, "Not Acceptable Here").encode()
            rtp: Any = self.rtp
            moved = offer.port and offer.address not in ("", "0.0.0.0") and rtp is not None \
                and (rtp.outIP, rtp.outPort) != (offer.address, offer.port)
            if moved:
                log.info("[call %s] re-INVITE moves the far end's media to %s:%d",
                         self.call_id, offer.address, offer.port)
                rtp.outIP, rtp.outPort = offer.address, offer.port
            else:
                log.info("[call %s] re-INVITE: session unchanged", self.call_id)
        return sipmsg.response(message, 200, "OK", headers=[
            ("Contact", self.endpoint.contact), ("Allow", ALLOW),
            ("Content-Type", "application/sdp")], body=self.local_sdp()).encode()

    def on_response(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A response no transaction waits for (outgoing calls take their INVITE's here)."""
        log.debug("[call %s] ignored %d %s to %s", self.call_id, message.status,
                  message.reason, message.cseq[1])
