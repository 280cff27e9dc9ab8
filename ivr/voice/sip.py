"""The SIP side: our user agent over UDP, with pyVoIP 1.6.8's RTP client for media.

pyVoIP's own SIP layer (VoIPPhone/SIPClient) cannot be used for an IVR as is; measured
defects (reference pyvoip-1.6.8-notes.md §1) and how this module avoids them:

- every message goes to the configured server, so a caller that dials us by IP never gets
  our 180/200/BYE → responses go to the request's source address (RFC 3581 rport style),
  BYE to the caller's Contact or first Record-Route;
- ``start()`` always REGISTERs and hangs 30 s without a registrar, and a bad password fails
  silently → ``direct`` mode sends no REGISTER; ``register`` mode registers synchronously
  with a bounded wait and raises VoiceError naming the registrar and the SIP status;
- the call callback fires on a fixed 1 s Timer (dead air) → the script starts at once and
  answers as soon as its first command is not <Reject> (well under 100 ms);
- 200 OK is never retransmitted → retransmitted per RFC 3261 timers G/H until the ACK, on
  one timer thread for all calls; no ACK within timer H ([sip] ack_timeout) → BYE;
- CANCEL gets no 487 and the call is still answered → 200 to the CANCEL, 487 to the INVITE,
  the script never starts (or stops at once);
- PCMA is encoded as µ-law → :mod:`ivr.voice.media` encodes PCMA and PCMU itself;
- ports of incoming calls are never released → each call returns its RTP port to the pool;
- outgoing calls are not ACKed properly (#272) and drop after ~30 s → :mod:`ivr.voice.uac`
  places them through this endpoint (its responses reach the leg via ``on_response``).

What pyVoIP still does for media lives in :mod:`ivr.voice.media` behind ``RtpSession``.

Hostile traffic (issue 17): ``100 Trying`` goes out before anything else is done; at most
``[sip] max_setup_calls`` incoming calls may be unconfirmed (ringing, or answered without ACK)
at once, later INVITEs get ``503`` with ``Retry-After``; a call costs one thread (its script);
requests of a known Call-ID whose tags do not match the dialog get 481 (RFC 3261 §12.2.2).
"""

from __future__ import annotations

import logging
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr import metrics
from ivr.errors import VoiceError
from ivr.voice import sipmsg
from ivr.voice.leg import ALLOW, SipLeg
from ivr.voice.settings import SipSettings
from ivr.voice.timers import Timer, Timers

if TYPE_CHECKING:
    from ivr.voice.proxy import ProxiedInvite

__all__ = ["SipEndpoint", "InboundLeg", "PortPool"]

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0          # RFC 3261 §17.1.1.1 timer values


class PortPool:
    """Even RTP ports from a range; each call returns its port when it ends."""

    def __init__(self, low: int, high: int) -> None:
        self._free = list(range(low + low % 2, high, 2))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            if not self._free:
                raise VoiceError("no free RTP port (raise [sip] rtp_port_high)")
            return self._free.pop(0)

    def give(self, port: int) -> None:
        with self._lock:
            if port not in self._free:
                self._free.append(port)


class InboundLeg(SipLeg):
    """An incoming call (we are the UAS): it rings until the script answers or rejects it."""

    remote_role = "caller"

    def __init__(self, endpoint: SipEndpoint, invite: sipmsg.SipMessage,
                 source: tuple[str, int]) -> None:
        super().__init__(endpoint, invite.call_id, source)
        self.invite = invite
        self.offer: sipmsg.Sdp | None = None
        self.dialog = sipmsg.Dialog.from_invite(invite, self.local_tag)
        self._final = b""
        self._acked = threading.Event()
        self._timer: Timer | None = None

    @property
    def setting_up(self) -> bool:
        """Ringing, or answered and waiting for the ACK: what [sip] max_setup_calls bounds."""
        return not self.ended and not self._acked.is_set()
    @property
    def caller(self) -> str:
        return sipmsg.uri_user(self.invite.get("From")) or sipmsg.name_addr_uri(
            self.invite.get("From"))

    @property
    def callee(self) -> str:
        return sipmsg.uri_user(self.invite.uri) or sipmsg.uri_user(self.invite.get("To"))

    # -- answering -----------------------------------------------------------------------
    def answer(self) -> None:
        with self._lock:
            if self.state != "ringing":
                return
            if self.offer is None:
                raise VoiceError("no SDP offer to answer")
            self._start_media(self.offer.address, self.offer.port)
            ok = sipmsg.response(self.invite, 200, "OK", to_tag=self.local_tag, headers=[
                ("Contact", self.endpoint.contact), ("Allow", ALLOW),
                ("Content-Type", "application/sdp")], body=self.local_sdp())
            self._final = ok.encode()
            self.state = "answered"
            self.answered_at = time.time()
        self.endpoint.send(self._final, self.source)
        self._timer = self.endpoint.timers.after(T1, lambda: self._retransmit(T1,
                                                                              time.monotonic()))
        metrics.call_answered(self.answered_at - self.created)
        self._answered()

    def _retransmit(self, interval: float, started: float) -> None:
        """Timer G: the 200 again at T1, 2·T1 … T2 until the ACK; timer H: none within
        [sip] ack_timeout (64·T1 = 32 s by default) → the session ends with a BYE that is
        sent without waiting for its answer (§13.3.1.4), so the timer thread never blocks."""
        if self._acked.is_set() or self.ended:
            return
        if time.monotonic() - started >= self.endpoint.settings.ack_timeout:
            log.warning("[call %s] no ACK for our 200 OK within %.0f s (timer H); ending it",
                        self.call_id, self.endpoint.settings.ack_timeout)
            self._finish("no ACK (timer H)")
            if self.dialog is not None:
                self.endpoint.send(self.dialog.request("BYE", self.endpoint.via()).encode(),
                                   self.dialog.next_hop(self.source))
            return
        self.endpoint.send(self._final, self.source)
        following = min(interval * 2, T2)
        self._timer = self.endpoint.timers.after(
            following, lambda: self._retransmit(following, started))

    def reject(self, status: int = 603, reason: str = "Decline") -> None:
        with self._lock:
            if self.state != "ringing":
                return
            self._final = sipmsg.response(self.invite, status, reason,
                                          to_tag=self.local_tag).encode()
        self.endpoint.send(self._final, self.source)
        self._finish(f"rejected {status}")

    def forward(self, uri: str, address: tuple[str, int] | None = None) -> bool:
        """Send the ringing call elsewhere: 302 Moved Temporarily with ``uri`` in Contact
        (RFC 3261 §21.3.3), the caller's UA or proxy placing the new call; or, with
        ``[sip] forward_mode = proxy``, the INVITE itself sent on to ``uri`` at ``address``
        (ivr.voice.proxy). False once the call is answered (then only a transfer moves it)."""
        if self.endpoint.settings.forward_mode == "proxy" and address is not None:
            return self._proxy_to(uri, address)
        with self._lock:
            if self.state != "ringing":
                return False
            self._final = sipmsg.response(self.invite, 302, "Moved Temporarily",
                                          to_tag=self.local_tag,
                                          headers=[("Contact", f"<{uri}>")]).encode()
        self.endpoint.send(self._final, self.source)
        self._finish(f"forwarded to {uri}")
        return True

    def _proxy_to(self, uri: str, address: tuple[str, int]) -> bool:
        from ivr.voice.proxy import ProxiedInvite

        with self._lock:
            if self.state != "ringing":
                return False
            proxied = ProxiedInvite(self.endpoint, self.invite, self.source, uri, address)
            self.endpoint.proxy(proxied)        # its messages go to it from now on
            if not proxied.start():
                self.endpoint.unproxy(proxied)
                log.warning("[call %s] cannot forward: Max-Forwards is used up", self.call_id)
                return False
        self._finish(f"forwarded to {uri} (proxied)")
        return True

    def _abandon(self, why: str) -> None:
        self.reject(480, "Temporarily Unavailable")

    def _finish(self, why: str) -> None:
        self._acked.set()               # stops the 200 OK retransmissions
        if self._timer is not None:
            self._timer.cancel()
        super()._finish(why)

    # -- events from the endpoint --------------------------------------------------------
    def accepts(self, message: sipmsg.SipMessage) -> bool:
        """In the dialog (both tags), or, without a To tag, a retransmission or CANCEL of the
        INVITE itself: same From tag and CSeq number (RFC 3261 §9.2, §17.2.3)."""
        if sipmsg.tag(message.get("To")):
            return super().accepts(message)
        return message.method in ("INVITE", "CANCEL") and \
            sipmsg.tag(message.get("From")) == sipmsg.tag(self.invite.get("From")) and \
            message.cseq[0] == self.invite.cseq[0]

    def on_request(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        method = message.method
        if method == "INVITE" and message.cseq[0] != self.invite.cseq[0]:
            super().on_request(message, source)     # a re-INVITE in the dialog
        elif method == "INVITE":             # retransmission: repeat what we answered
            if self._final:
                self.endpoint.send(self._final, source)
            else:
                self.endpoint.send(sipmsg.response(message, 180, "Ringing",
                                                   to_tag=self.local_tag).encode(), source)
        elif method == "ACK":
            if message.cseq[0] == self.invite.cseq[0] and self.state == "answered" \
                    and not self._acked.is_set():
                self._acked.set()
                if self._timer is not None:
                    self._timer.cancel()
                self.confirmed = True
                self.endpoint.confirmed(self)
                self._update_sending()
        elif method == "CANCEL":
            self.endpoint.send(sipmsg.response(message, 200, "OK").encode(), source)
            if self.state == "ringing":
                self.endpoint.send(sipmsg.response(self.invite, 487, "Request Terminated",
                                                   to_tag=self.local_tag).encode(), self.source)
                self._finish("cancelled by the caller")
        else:
            super().on_request(message, source)


class SipEndpoint:
    """A UDP SIP user agent: receives calls (``on_invite``), carries the legs of outgoing ones
    (``add``) and registers when asked."""

    def __init__(self, settings: SipSettings, on_invite: Callable[[InboundLeg], None]) -> None:
        self.settings = settings
        self.on_invite = on_invite
        # RFC 3428 MESSAGE outside a dialog: (sender user, host, type, text) -> delivered
        self.on_message: Callable[[str, str, str, str], bool] | None = None
        self.ports = PortPool(settings.rtp_port_low, settings.rtp_port_high)
        from ivr.voice.media import MediaClock

        self.media_clock = MediaClock()
        self.timers = Timers()
        self._sock: socket.socket | None = None
        self._legs: dict[str, SipLeg] = {}
        self._proxied: dict[str, ProxiedInvite] = {}   # forwarded calls, by Call-ID
        self._pending: dict[tuple[str, int, str], queue.Queue[sipmsg.SipMessage]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._register_call_id = f"reg-{secrets.token_hex(8)}"
        self._register_cseq = 0
        self._register_tag = sipmsg.new_tag()
        self.registered = False

    # -- addressing ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._sock.getsockname()[1] if self._sock else self.settings.bind_port

    @property
    def contact(self) -> str:
        user = self.settings.username or "ivr"
        return f"<sip:{user}@{self.settings.bind_host}:{self.port}>"

    def via(self) -> str:
        return f"SIP/2.0/UDP {self.settings.bind_host}:{self.port};branch={sipmsg.new_branch()};rport"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # A burst (a flood, or many phones re-registering at once) must queue, not drop the
        # next caller's INVITE: ask for 4 MB (Linux caps it at net.core.rmem_max).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        try:
            sock.bind((self.settings.bind_host, self.settings.bind_port))
        except OSError as exc:
            sock.close()
            raise VoiceError(f"cannot listen for SIP on {self.settings.bind_host}:"
                             f"{self.settings.bind_port}: {exc.strerror}") from None
        sock.settimeout(0.2)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._receive, name="sip", daemon=True)
        self._thread.start()
        if self.settings.mode == "register":
            try:
                self.register(self.settings.register_expires)
            except VoiceError:
                self.stop()
                raise
            threading.Thread(target=self._reregister, name="sip-register", daemon=True).start()
        elif self.settings.mode != "direct":
            self.stop()
            raise VoiceError(f"[sip] mode must be direct or register, not "
                             f"{self.settings.mode!r}")
        if self.settings.forward_mode not in ("redirect", "proxy"):
            self.stop()
            raise VoiceError(f"[sip] forward_mode must be redirect or proxy, not "
                             f"{self.settings.forward_mode!r}")
        log.info("SIP listening on %s:%d (%s mode)", self.settings.bind_host, self.port,
                 self.settings.mode)

    def stop(self) -> None:
        for leg in list(self._legs.values()):
            leg.hangup("shutting down")
        with self._lock:
            proxied, self._proxied = list(self._proxied.values()), {}
        for forwarded in proxied:
            forwarded.close()
        if self.registered:
            try:
                self.register(0)
            except VoiceError as exc:
                log.warning("unregister failed: %s", exc)
        self._stop.set()
        self.media_clock.stop()
        self.timers.stop()
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def running(self) -> bool:
        return self._sock is not None

    def legs(self) -> list[SipLeg]:
        with self._lock:
            return list(self._legs.values())

    def add(self, leg: SipLeg) -> None:
        """Route the requests and responses of ``leg``'s Call-ID to it until it ends."""
        with self._lock:
            self._legs[leg.call_id] = leg

    def confirmed(self, leg: SipLeg) -> None:
        """The ACK arrived: the leg no longer counts against [sip] max_setup_calls."""
        log.debug("[call %s] dialog confirmed", leg.call_id)

    def _setting_up(self) -> int:
        with self._lock:
            return sum(1 for leg in self._legs.values()
                       if isinstance(leg, InboundLeg) and leg.setting_up)

    def proxy(self, forwarded: ProxiedInvite) -> None:
        """Route every message of ``forwarded``'s Call-ID to it (a proxied Forward)."""
        with self._lock:
            self._proxied[forwarded.call_id] = forwarded

    def unproxy(self, forwarded: ProxiedInvite) -> None:
        with self._lock:
            if self._proxied.get(forwarded.call_id) is forwarded:
                del self._proxied[forwarded.call_id]
        forwarded.close()

    def forget(self, leg: SipLeg) -> None:
        with self._lock:
            if self._legs.get(leg.call_id) is leg:
                del self._legs[leg.call_id]

    # -- wire ----------------------------------------------------------------------------
    def send(self, data: bytes, address: tuple[str, int]) -> None:
        if self._sock is None:
            return
        log.debug("SIP >> %s:%d\n%s", address[0], address[1], data.decode("utf-8", "replace"))
        try:
            self._sock.sendto(data, address)
        except OSError as exc:
            log.warning("cannot send SIP to %s:%d: %s", address[0], address[1], exc)

    def transact(self, message: sipmsg.SipMessage, address: tuple[str, int],
                 timeout: float = 8.0) -> sipmsg.SipMessage | None:
        """Send a request, retransmitting (timer E), and wait for its final response."""
        number, method = message.cseq
        key = (message.call_id, number, method)
        replies: queue.Queue[sipmsg.SipMessage] = queue.Queue()
        with self._lock:
            self._pending[key] = replies
        data, interval = message.encode(), T1
        deadline = time.monotonic() + timeout
        try:
            self.send(data, address)
            while time.monotonic() < deadline and not self._stop.is_set():
                try:
                    reply = replies.get(timeout=min(interval, max(0.0, deadline -
                                                                  time.monotonic())))
                except queue.Empty:
                    self.send(data, address)
                    interval = min(interval * 2, T2)
                    continue
                if reply.status >= 200:
                    return reply
                interval = T2  # provisional: stop retransmitting fast
            return None
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _receive(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, source = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data.strip():
                continue  # keep-alive CRLF
            try:
                message = sipmsg.parse(data)
                self._dispatch(message, source)
            except sipmsg.SipParseError as exc:
                log.warning("unparsable SIP from %s:%d: %s", source[0], source[1], exc)
            except Exception:
                log.exception("error handling SIP from %s:%d", *source)

    def _dispatch(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        log.debug("SIP << %s:%d %s", source[0], source[1], message.method or message.status)
        with self._lock:
            leg = self._legs.get(message.call_id)
            proxied = self._proxied.get(message.call_id)
        if proxied is not None:
            if message.is_request:
                proxied.on_request(message, source)
            else:
                proxied.on_response(message, source)
            return
        if not message.is_request:
            number, method = message.cseq
            with self._lock:
                waiting = self._pending.get((message.call_id, number, method))
            if waiting is not None:
                waiting.put(message)
            elif leg is not None:
                leg.on_response(message, source)
            elif method == "INVITE" and message.status >= 200:
                self._stray_invite_answer(message, source)
            return
        if leg is not None:
            if leg.accepts(message):
                leg.on_request(message, source)
            elif message.method != "ACK":
                log.warning("[call %s] %s from %s:%d does not match the dialog's tags; 481",
                            message.call_id, message.method, source[0], source[1])
                self.send(sipmsg.response(message, 481, "Call/Transaction Does Not Exist"
                                          ).encode(), source)
            return
        if message.method == "INVITE":
            self._new_call(message, source)
        elif message.method == "OPTIONS":
            self.send(sipmsg.response(message, 200, "OK", to_tag=sipmsg.new_tag(), headers=[
                ("Allow", ALLOW), ("Contact", self.contact)]).encode(), source)
        elif message.method == "ACK":
            pass  # ACK for a response of a call that has already ended
        elif message.method == "MESSAGE" and self.on_message is not None:
            delivered = self.on_message(sipmsg.uri_user(message.get("From")), source[0],
                                        message.get("Content-Type", "text/plain"),
                                        message.body.decode("utf-8", "replace"))
            self.send(sipmsg.response(message, 200 if delivered else 480,
                                      "OK" if delivered else "Temporarily Unavailable",
                                      to_tag=sipmsg.new_tag()).encode(), source)
        elif message.method in ("BYE", "CANCEL"):
            self.send(sipmsg.response(message, 481, "Call/Transaction Does Not Exist"
                                      ).encode(), source)
        else:
            self.send(sipmsg.response(message, 501, "Not Implemented",
                                      to_tag=sipmsg.new_tag()).encode(), source)

    def _stray_invite_answer(self, final: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """A final answer to an INVITE of ours whose call is already over: a retransmission
        (our ACK was lost) or a 2xx after we gave up. ACK it, and end an answered one with
        BYE, so the far end is never left in a call nobody is in (RFC 3261 §13.2.2.4)."""
        if final.status >= 300:
            self.send(sipmsg.ack_non_2xx(final, sipmsg.name_addr_uri(final.get("To"))).encode(),
                      source)
            return
        dialog = sipmsg.Dialog.from_2xx(final)
        hop = dialog.next_hop(source)
        log.warning("[call %s] %d %s for a call already ended; ACK and BYE", final.call_id,
                    final.status, final.reason)
        self.send(dialog.request("ACK", self.via()).encode(), hop)
        self.send(dialog.request("BYE", self.via()).encode(), hop)

    def _new_call(self, invite: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        self.send(sipmsg.response(invite, 100, "Trying").encode(), source)
        limit = self.settings.max_setup_calls
        if self._setting_up() >= limit:
            log.warning("[call %s] refused: %d calls are being set up ([sip] "
                        "max_setup_calls); 503, retry after %d s", invite.call_id, limit,
                        self.settings.retry_after)
            self.send(sipmsg.response(invite, 503, "Service Unavailable",
                                      to_tag=sipmsg.new_tag(), headers=[
                                          ("Retry-After", str(self.settings.retry_after))]
                                      ).encode(), source)
            return
        leg = InboundLeg(self, invite, source)
        try:
            leg.offer = sipmsg.parse_sdp(invite.body)
        except sipmsg.SipParseError as exc:
            log.warning("[call %s] refused: %s", invite.call_id, exc)
            self.send(sipmsg.response(invite, 488, "Not Acceptable Here",
                                      to_tag=leg.local_tag).encode(), source)
            return
        chosen = sipmsg.choose_audio(leg.offer)
        if chosen is None:
            log.warning("[call %s] refused: the caller offers neither PCMU nor PCMA (offer %s)",
                        invite.call_id, leg.offer.formats)
            self.send(sipmsg.response(invite, 488, "Not Acceptable Here",
                                      to_tag=leg.local_tag).encode(), source)
            return
        leg.codec_pt, leg.event_pt = chosen
        leg.held_by_remote = leg.offer.on_hold
        leg.remote_direction = "inactive" if leg.offer.address == "0.0.0.0" \
            else leg.offer.direction
        leg.local_direction = sipmsg.answer_direction(leg.remote_direction)
        try:
            leg.rtp_port = self.ports.take()
        except VoiceError as exc:
            log.error("[call %s] refused: %s", invite.call_id, exc)
            self.send(sipmsg.response(invite, 503, "Service Unavailable",
                                      to_tag=leg.local_tag).encode(), source)
            return
        self.add(leg)
        self.send(sipmsg.response(invite, 180, "Ringing", to_tag=leg.local_tag,
                                  headers=[("Contact", self.contact)]).encode(), source)
        log.info("[call %s] incoming from %s to %s (%s:%d)", leg.call_id, leg.caller,
                 leg.callee, source[0], source[1])
        self.on_invite(leg)

    # -- registration --------------------------------------------------------------------
    def _registrar(self) -> tuple[str, int]:
        return self.settings.server, self.settings.server_port

    def register(self, expires: int) -> None:
        """REGISTER with digest authentication (RFC 2617); VoiceError on failure."""
        s = self.settings
        if not s.server or not s.username:
            raise VoiceError("[sip] mode = register needs server and username")
        uri = f"sip:{s.server}:{s.server_port}"
        authorization: tuple[str, str] | None = None
        for _ in range(3):
            self._register_cseq += 1
            headers = [("Via", self.via()), ("Max-Forwards", "70"),
                       ("From", f"<sip:{s.username}@{s.server}>;tag={self._register_tag}"),
                       ("To", f"<sip:{s.username}@{s.server}>"),
                       ("Call-ID", self._register_call_id),
                       ("CSeq", f"{self._register_cseq} REGISTER"),
                       ("Contact", self.contact), ("Expires", str(expires)),
                       ("User-Agent", "ivr")]
            if authorization:
                headers.append(authorization)
            reply = self.transact(sipmsg.request("REGISTER", uri, headers), self._registrar(),
                                  timeout=8.0)
            if reply is None:
                raise VoiceError(f"registrar {s.server}:{s.server_port} did not answer the "
                                 "REGISTER within 8 s")
            if 200 <= reply.status < 300:
                self.registered = expires > 0
                log.info("registered %s@%s:%d (expires %d)", s.username, s.server,
                         s.server_port, expires)
                return
            if reply.status in (401, 407) and authorization is None:
                challenge_name = "WWW-Authenticate" if reply.status == 401 else \
                    "Proxy-Authenticate"
                answer_name = "Authorization" if reply.status == 401 else "Proxy-Authorization"
                authorization = (answer_name, sipmsg.digest_authorization(
                    reply.get(challenge_name), "REGISTER", uri, s.username, s.password))
                continue
            raise VoiceError(f"registration of {s.username} at {s.server}:{s.server_port} "
                             f"failed: {reply.status} {reply.reason}"
                             + (" (wrong password?)" if reply.status in (401, 403, 407)
                                else ""))
        raise VoiceError(f"registration of {s.username} at {s.server} failed: repeated "
                         "authentication challenges")

    def _reregister(self) -> None:
        interval = max(10.0, self.settings.register_expires * 0.8)
        while not self._stop.wait(interval):
            try:
                self.register(self.settings.register_expires)
            except VoiceError as exc:
                log.error("re-registration failed: %s; retrying in 10 s", exc)
                interval = 10.0
                continue
            interval = max(10.0, self.settings.register_expires * 0.8)

