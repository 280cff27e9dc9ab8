"""Outgoing calls: our user agent as the UAC (RFC 3261 §13.2, §17.1.1) on the shared endpoint.

pyVoIP 1.6.8 cannot place a call that lasts (its ACK of the 200 is wrong, #272, and callees
drop the call after ~30 s), so outgoing calls use the same small SIP stack as incoming ones:

- INVITE with a PCMU + PCMA + telephone-event offer from a port of the pool, retransmitted on timer A
  (0.5 s doubling) until a provisional answer; nothing at all within timer B (32 s) → failed;
- 100/180/183 → ringing; 2xx → ACK to its Contact (or the first Record-Route), media starts,
  and a retransmitted 2xx gets the same ACK again;
- 401/407 → ACK, then the INVITE once more with the digest answer ([sip] username/password);
- 3xx–6xx → ACK, and the call ends with a reason such as ``busy (486 Busy Here)``;
- not answered within [sip] ring_timeout, or hung up while ringing → CANCEL (only after a
  provisional answer, §9.1), then the 487 is ACKed; a 2xx racing the CANCEL gets ACK and BYE.

Once answered the leg is a :class:`~ivr.voice.leg.SipLeg` like an incoming one (BYE, DTMF,
REFER). Where a number goes is :func:`dial_target`: ``sip:<number>@<trunk>`` with ``[sip]
trunk``, else ``sip:<number>@<server>:<server_port>`` in register mode; a full ``sip:`` URI is
dialled as it is.
"""

from __future__ import annotations

import logging
import math
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from ivr.errors import VoiceError
from ivr.voice import sipmsg
from ivr.voice.leg import ALLOW, SipLeg
from ivr.voice.settings import SipSettings
from ivr.voice.sip import T1, SipEndpoint

__all__ = ["DialTarget", "OutboundLeg", "dial_target", "failure_reason"]

log = logging.getLogger(__name__)

TIMER_B = 64 * T1          # RFC 3261 §17.1.1.2: no answer at all to the INVITE in 32 s
_USER = re.compile(r"^[A-Za-z0-9+*#_.!~-]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]*$")
_CATEGORY = {486: "busy", 600: "busy", 408: "no-answer", 480: "no-answer", 487: "no-answer"}


@dataclass(frozen=True)
class DialTarget:
    uri: str                    # Request-URI and To of the INVITE
    address: tuple[str, int]    # where the INVITE is sent
    callee: str                 # the number or user dialled (Callee of notifications)


def dial_target(number: str, settings: SipSettings) -> DialTarget:
    """Where a dialled number or URI goes; VoiceError saying what is missing if nowhere."""
    text = number.strip()
    if not text:
        raise VoiceError("nothing to dial: the number is empty")
    lower = text.lower()
    if lower.startswith("sips:"):
        raise VoiceError(f"cannot dial {text}: sips: needs SIP over TLS, and ivr speaks SIP "
                         "over UDP only")
    if lower.startswith("sip:") or "@" in text:
        uri = text if lower.startswith("sip:") else f"sip:{text}"
        host, port = sipmsg.uri_host_port(uri)
        if not host:
            raise VoiceError(f"cannot dial {text}: the URI has no host")
        return DialTarget(uri, (host, port), sipmsg.uri_user(uri) or host)
    user = text[4:] if lower.startswith("tel:") else text
    if _PHONE.match(user):
        user = re.sub(r"[ ()\-./]", "", user)
    if not _USER.match(user):
        raise VoiceError(f"cannot dial {text!r}: not a phone number, extension or sip: URI")
    if settings.trunk:
        trunk = settings.trunk.strip()
        host, port = sipmsg.uri_host_port(trunk if trunk.lower().startswith("sip:")
                                          else f"sip:{trunk}")
    elif settings.mode == "register" and settings.server:
        host, port = settings.server, settings.server_port
    else:
        raise VoiceError(f"cannot dial {text}: direct mode has no destination for numbers; "
                         "set [sip] trunk = host[:port] (the PBX or SIP trunk that carries "
                         "outbound calls), use register mode, or dial a full sip: URI")
    return DialTarget(f"sip:{quote(user, safe='+*_.!~-')}@{host}:{port}", (host, port), user)


def failure_reason(status: int, reason: str) -> str:
    """``busy (486 Busy Here)``, ``no-answer (480 …)``, ``rejected (404 Not Found)``."""
    return f"{_CATEGORY.get(status, 'rejected')} ({status} {reason})"


class OutboundLeg(SipLeg):
    """A call we place; :meth:`dial` runs its INVITE transaction until answered or failed."""

    remote_role = "callee"

    def __init__(self, endpoint: SipEndpoint, target: DialTarget, caller_id: str = "",
                 display_name: str = "") -> None:
        settings = endpoint.settings
        caller = caller_id.strip() or settings.username or "ivr"
        if not _USER.match(caller):
            raise VoiceError(f"CallerId {caller_id!r} is not a number or SIP user name")
        super().__init__(endpoint, f"{secrets.token_hex(12)}@{settings.bind_host}",
                         target.address)
        self.target = target
        self.ring_timeout = settings.ring_timeout
        self._caller = caller
        self._display = display_name.strip()
        if any(ord(ch) < 32 for ch in self._display):
            raise VoiceError("CallerDisplayName must not contain control characters")
        self.final_status = 0           # the SIP status that ended a failed call (0: none)
        self.rtp_port = endpoint.ports.take()
        self._invite = self._build_invite(1)
        self._responses: queue.Queue[sipmsg.SipMessage | None] = queue.Queue()
        self._cancel_why = ""         # why we gave up on the ringing call (CANCEL sent)
        self._ack, self._ack_to = b"", target.address  # the ACK of the 2xx, for its repeats

    @property
    def caller(self) -> str:
        return self._caller

    @property
    def callee(self) -> str:
        return self.target.callee

    def answer(self) -> None:
        """Nothing to do: the callee answered before the script started."""

    def reject(self, status: int = 603, reason: str = "Decline") -> None:
        self.hangup(f"rejected by the script ({status} {reason})")

    # -- the INVITE transaction ----------------------------------------------------------
    def _build_invite(self, cseq: int, authorization: tuple[str, str] | None = None
                      ) -> sipmsg.SipMessage:
        s = self.endpoint.settings
        domain = s.server if s.mode == "register" and s.server else s.bind_host
        headers = [("Via", self.endpoint.via()), ("Max-Forwards", "70"),
                   ("From", f"{self._display_part()}<sip:{self._caller}@{domain}>"
                            f";tag={self.local_tag}"),
                   ("To", f"<{self.target.uri}>"), ("Call-ID", self.call_id),
                   ("CSeq", f"{cseq} INVITE"), ("Contact", self.endpoint.contact),
                   ("Allow", ALLOW), ("User-Agent", "ivr"),
                   ("Content-Type", "application/sdp"), *([authorization] if authorization
                                                          else [])]
        return sipmsg.request("INVITE", self.target.uri, headers, self.local_sdp())

    def _display_part(self) -> str:
        """``"Name" `` for From (RFC 3261 §25.1 quoted-string: \\ and \" escaped)."""
        if not self._display:
            return ""
        quoted = self._display.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" '

    def local_sdp(self) -> bytes:
        """Our offer while the call rings; once answered, the negotiated session (one
        codec, a new o= version, RFC 3264 §8) for re-INVITEs either way."""
        if self.state == "ringing":
            return sipmsg.offer_sdp(self.endpoint.settings.bind_host, self.rtp_port,
                                    int(self.created) % 10**9)
        return super().local_sdp()

    def dial(self) -> bool:
        """Place the call and wait for the outcome (at most ring_timeout + 32 s).

        True once answered, with media running; False when it failed or was given up, with
        ``end_reason`` saying why (``busy (486 Busy Here)``, ``no-answer (…)``, …).
        """
        host, port = self.target.address
        log.info("[call %s] calling %s via %s:%d as %s", self.call_id, self.target.uri, host,
                 port, self._caller)
        ring_deadline = time.monotonic() + self.ring_timeout
        challenged = False
        while True:
            final = self._invite_transaction(ring_deadline)
            if final is None:
                return self._fail(self._cancel_why or f"unreachable (no answer to the INVITE "
                                  f"from {host}:{port} within {TIMER_B:.0f} s)")
            if final.status < 300:
                return self._confirm(final)
            self.endpoint.send(sipmsg.ack_non_2xx(final, self._invite.uri).encode(),
                               self.target.address)
            self.final_status = final.status
            if final.status == 487 and self._cancel_why:
                return self._fail(self._cancel_why)
            if final.status in (401, 407) and not challenged and not self._cancel_why:
                authorization = self._authorization(final)
                if authorization is not None:
                    challenged = True
                    self._invite = self._build_invite(self._invite.cseq[0] + 1, authorization)
                    continue
            why = failure_reason(final.status, final.reason)
            if final.status in (401, 407):
                why += ("; the credentials were refused" if challenged else
                        "; set [sip] username and password")
            return self._fail(why)

    def _authorization(self, challenge: sipmsg.SipMessage) -> tuple[str, str] | None:
        s = self.endpoint.settings
        name = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        if not s.username or not challenge.get(name):
            return None
        log.info("[call %s] %d %s: answering the digest challenge as %s", self.call_id,
                 challenge.status, challenge.reason, s.username)
        return ("Authorization" if challenge.status == 401 else "Proxy-Authorization",
                sipmsg.digest_authorization(challenge.get(name), "INVITE", self.target.uri,
                                            s.username, s.password))

    def _invite_transaction(self, ring_deadline: float) -> sipmsg.SipMessage | None:
        """Send the INVITE and return its final response; None when none came in time."""
        data, number = self._invite.encode(), self._invite.cseq[0]
        self.endpoint.send(data, self.target.address)
        now = time.monotonic()
        interval, resend_at, give_up = T1, now + T1, now + TIMER_B
        provisional = cancelled = False
        while True:
            now = time.monotonic()
            if not self._cancel_why and now >= ring_deadline:
                self._cancel_why = f"no-answer (not answered within {self.ring_timeout:g} s)"
            if self._cancel_why and provisional and not cancelled:
                self._send_cancel()
                cancelled, give_up = True, now + TIMER_B   # wait for the 487 (or a 2xx)
            if now >= give_up or not self.endpoint.running:
                return None
            wake = min(give_up, ring_deadline if not self._cancel_why else math.inf,
                       resend_at if not provisional else math.inf)
            try:
                reply = self._responses.get(timeout=min(max(0.0, wake - now), 1.0))
            except queue.Empty:
                if not provisional and time.monotonic() >= resend_at:   # timer A
                    self.endpoint.send(data, self.target.address)
                    interval *= 2
                    resend_at = time.monotonic() + interval
                continue
            if reply is None or reply.cseq[0] != number:
                continue      # hangup() woke us up, or a late answer to a challenged INVITE
            if reply.status >= 200:
                return reply
            if not provisional:
                log.info("[call %s] %d %s", self.call_id, reply.status, reply.reason)
            if not provisional and not cancelled:
                give_up = math.inf      # proceeding: the ring timeout bounds the wait now
            provisional = True

    def _send_cancel(self) -> None:
        log.info("[call %s] %s: CANCEL", self.call_id, self._cancel_why)
        threading.Thread(target=self.endpoint.transact, name=f"cancel-{self.call_id[:8]}",
                         args=(sipmsg.cancel_for(self._invite), self.target.address, 8.0),
                         daemon=True).start()

    def _confirm(self, ok: sipmsg.SipMessage) -> bool:
        """ACK the 2xx, start media, and announce the answer (or end it if given up)."""
        dialog = sipmsg.Dialog.from_2xx(ok)
        ack_to = dialog.next_hop(self.target.address)
        ack = dialog.request("ACK", self.endpoint.via()).encode()
        self.endpoint.send(ack, ack_to)
        try:
            answer: sipmsg.Sdp | None = sipmsg.parse_sdp(ok.body)
        except sipmsg.SipParseError:
            answer = None
        with self._lock:
            self.dialog, self._ack, self._ack_to = dialog, ack, ack_to
            why = self._cancel_why
            chosen = sipmsg.choose_audio(answer) if answer is not None else None
            if not why and chosen is None:
                why = "failed (the callee's answer has no PCMU or PCMA audio)"
            if not why and answer is not None and chosen is not None:
                self.codec_pt, self.event_pt = chosen
                self.held_by_remote = answer.on_hold
                self.sdp_version = 1
                try:
                    self._start_media(answer.address, answer.port)
                    self.state, self.answered_at = "answered", time.time()
                    self.confirmed = True       # our ACK is on its way
                except VoiceError as exc:
                    why = f"failed ({exc})"
        if why:
            self._finish(why)
            self._send_bye()
            return False
        self._update_sending()
        self._answered()
        return True

    def _fail(self, why: str) -> bool:
        self._finish(why)
        return False

    # -- hanging up while it rings -------------------------------------------------------
    def _abandon(self, why: str) -> None:
        with self._lock:
            answered = self.state == "answered"
            if not answered and not self._cancel_why:
                self._cancel_why = f"cancelled ({why})"
        if answered:            # the 2xx arrived meanwhile
            self.hangup(why)
        else:
            self._responses.put(None)

    # -- events from the endpoint --------------------------------------------------------
    def on_response(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        if message.cseq[1] != "INVITE":
            return
        if 200 <= message.status < 300 and self._ack:
            self.endpoint.send(self._ack, self._ack_to)   # a repeated 2xx: our ACK was lost
            return
        self._responses.put(message)
