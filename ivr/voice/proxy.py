"""Forward of a ringing call as a proxied INVITE (``[sip] forward_mode = proxy``).

Instead of answering ``302 Moved Temporarily`` (the default, ``redirect``), the IVR becomes
a proxy for this one call (RFC 3261 §16): it sends the caller's INVITE on to the target
with its own Via on top and a Record-Route, relays every response back, and stays in the
signalling path of the dialog that results, so ACK, re-INVITEs and BYE cross it too. The
media flows between caller and target (the SDP is untouched): no RTP port, no codec, no
thread is held for a forwarded call. This is what a deployment asks for when callers'
trunks do not act on 302, or when only the IVR can reach the target (a private PBX).

Why a proxy and not a back-to-back user agent: the caller and the target negotiate their
own session (codecs, hold, DTMF, re-INVITEs) end to end, exactly as if the IVR were a
Kamailio in the path, so nothing the IVR does not understand can break the call, and
the IVR keeps no media and no per-call thread. The cost is that the IVR cannot hang up
the forwarded call itself; it is no longer its call (its history ends with
``forwarded to <target> (proxied)``).

The INVITE transaction is stateful (§16.6–16.7: our client transaction retransmits the
INVITE, absorbs 100, ACKs a failure hop by hop, relays CANCEL, gives up after timer B or
``[sip] ring_timeout``); requests inside the dialog are forwarded statelessly (§16.11, a
branch derived from the incoming one, responses routed back by their Via).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TYPE_CHECKING

from ivr.voice import sipmsg
from ivr.voice.timers import Timer

if TYPE_CHECKING:
    from ivr.voice.sip import SipEndpoint

__all__ = ["ProxiedInvite", "forwarded_request", "relayed_response", "server_response",
           "via_address", "stateless_branch", "BRANCH_PREFIX"]

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0
TIMER_B = 64 * T1               # no answer at all from the target
LINGER = 32.0                   # after the dialog or the transaction ends: late retransmissions
BRANCH_PREFIX = "z9hG4bK-ivrp-"


# -- pure: the message transforms of a proxy ---------------------------------------------
def via_address(via: str) -> tuple[str, int]:
    """Where a response for this Via goes: ``received``/``rport`` when the hop stamped them,
    else its sent-by (RFC 3261 §18.2.2, RFC 3581 §4)."""
    parts = via.split(None, 1)
    sent_by = (parts[1] if len(parts) > 1 else "").split(";")[0].strip()
    host, port = sipmsg.uri_host_port(f"sip:{sent_by}")
    rport = sipmsg.param(via, "rport")
    return sipmsg.param(via, "received") or host, int(rport) if rport.isdigit() else port


def _stamped(via: str, source: tuple[str, int]) -> str:
    """The Via a request arrived with, with where it really came from (RFC 3581 §4)."""
    host, _ = via_address(via.split(";")[0])
    out = ";".join(p for p in via.split(";") if p.strip().lower() not in ("rport",)
                   and not p.strip().lower().startswith(("rport=", "received=")))
    if host != source[0]:
        out += f";received={source[0]}"
    return out + f";rport={source[1]}"


def forwarded_request(message: sipmsg.SipMessage, *, via: str, source: tuple[str, int],
                      request_uri: str = "", record_route: str = "",
                      own_route: str = "") -> sipmsg.SipMessage | None:
    """``message`` as a proxy sends it on (§16.6): ``via`` on top, the previous top Via
    stamped with ``source``, Max-Forwards decremented (None when it is used up: answer
    483), the Request-URI replaced when ``request_uri`` is given, ``record_route`` inserted
    above any other Record-Route, and the top Route dropped when it is ``own_route``'s
    (loose routing, §16.4)."""
    forwards = message.get("Max-Forwards", "70").strip()
    remaining = int(forwards) - 1 if forwards.isdigit() else 69
    if remaining < 0:
        return None
    headers: list[tuple[str, str]] = []
    seen_via = seen_route = seen_record_route = False
    for name, value in message.headers:
        if name == "Via" and not seen_via:
            headers.append(("Via", via))
            value, seen_via = _stamped(value, source), True
        elif name == "Route" and not seen_route:
            seen_route = True
            if own_route and _same_hop(value, own_route):
                continue
        elif name == "Record-Route" and not seen_record_route and record_route:
            headers.append(("Record-Route", record_route))
            seen_record_route = True
        elif name == "Max-Forwards":
            value = str(remaining)
        headers.append((name, value))
    if record_route and not seen_record_route:
        at = next((i for i, (n, _) in enumerate(headers) if n in ("From", "To")), len(headers))
        headers.insert(at, ("Record-Route", record_route))
    if message.get("Max-Forwards") == "":
        headers.append(("Max-Forwards", str(remaining)))
    return sipmsg.SipMessage(method=message.method, uri=request_uri or message.uri,
                             headers=headers, body=message.body)


def relayed_response(message: sipmsg.SipMessage
                     ) -> tuple[sipmsg.SipMessage, tuple[str, int]] | None:
    """A response with our top Via removed, and where it goes: the next Via (§16.7 step 9);
    None when there is no Via left (it was meant for us)."""
    vias = message.all("Via")
    if len(vias) < 2:
        return None
    headers = list(message.headers)
    del headers[next(i for i, (n, _) in enumerate(headers) if n == "Via")]
    return (sipmsg.SipMessage(status=message.status, reason=message.reason, headers=headers,
                              body=message.body), via_address(vias[1]))


def server_response(message: sipmsg.SipMessage, invite: sipmsg.SipMessage
                    ) -> sipmsg.SipMessage:
    """A response of our INVITE transaction as the caller's server transaction sends it:
    with the Vias the caller's INVITE arrived with (§16.7 step 9 removes only ours; taking
    the INVITE's own also copes with a UAS that echoes the Via of its last request, a
    CANCEL, in its 487)."""
    headers = [(n, v) for n, v in message.headers if n != "Via"]
    at = next((i for i, (n, _) in enumerate(message.headers) if n == "Via"), 0)
    headers[at:at] = [("Via", v) for v in invite.all("Via")]
    return sipmsg.SipMessage(status=message.status, reason=message.reason, headers=headers,
                             body=message.body)


def _same_hop(route: str, own: str) -> bool:
    return sipmsg.uri_host_port(sipmsg.name_addr_uri(route)) == \
        sipmsg.uri_host_port(sipmsg.name_addr_uri(own))


def stateless_branch(message: sipmsg.SipMessage, salt: str) -> str:
    """A branch for a request forwarded statelessly: the same for its retransmissions,
    different from the incoming one (§16.11)."""
    top = message.all("Via")[0] if message.all("Via") else ""
    digest = hashlib.sha256(f"{salt}|{top}|{message.method}".encode()).hexdigest()[:16]
    return BRANCH_PREFIX + digest


# -- the proxied call ------------------------------------------------------------------------
class ProxiedInvite:
    """One forwarded call: the INVITE transaction to the target (stateful) and the dialog's
    later requests and responses (stateless), until the dialog or the attempt ends."""

    def __init__(self, endpoint: SipEndpoint, invite: sipmsg.SipMessage,
                 source: tuple[str, int], target_uri: str,
                 target: tuple[str, int]) -> None:
        self.endpoint = endpoint
        self.invite = invite
        self.caller = source
        self.call_id = invite.call_id
        self.target_uri = target_uri
        self.target = target
        self.branch = BRANCH_PREFIX + sipmsg.new_branch()[7:]
        self.record_route = f"<sip:{endpoint.settings.bind_host}:{endpoint.port};lr>"
        self.forwarded: sipmsg.SipMessage | None = None
        self.final = 0                    # the target's final status, once known
        self._relayed = b""               # the last response relayed to the caller
        self._heard = False               # the target answered something: no more timer A
        self._caller_tag = sipmsg.tag(invite.get("From"))
        self._target_tags: set[str] = set()   # To tags of the target's 1xx/2xx (forking)
        self._lock = threading.Lock()
        self._timer: Timer | None = None
        self._deadline: Timer | None = None
        self._done = False

    @property
    def own(self) -> tuple[str, int]:
        return self.endpoint.settings.bind_host, self.endpoint.port

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.own[0]}:{self.own[1]};branch={branch};rport"

    def start(self) -> bool:
        """Send the INVITE on; False (nothing sent) when Max-Forwards is used up."""
        forwarded = forwarded_request(self.invite, via=self._via(self.branch),
                                      source=self.caller, request_uri=self.target_uri,
                                      record_route=self.record_route,
                                      own_route=self.record_route)   # a preloaded Route
        if forwarded is None:
            return False
        self.forwarded = forwarded
        data = forwarded.encode()
        self.endpoint.send(data, self.target)
        self._timer = self.endpoint.timers.after(T1, lambda: self._retransmit(data, T1, T1))
        ring = min(self.endpoint.settings.ring_timeout, 180.0)   # timer C's 3 minutes at most
        self._deadline = self.endpoint.timers.after(ring, self._ring_timeout)
        log.info("[call %s] forwarded as a proxied INVITE to %s (%s:%d)", self.call_id,
                 self.target_uri, *self.target)
        return True

    def _retransmit(self, data: bytes, interval: float, waited: float) -> None:
        """Timer A (T1, 2·T1 … T2) until the target answers anything; timer B (64·T1)
        without a word from it: 408 to the caller."""
        with self._lock:
            if self._done or self._heard:
                return
        if waited >= TIMER_B:
            log.warning("[call %s] the forward target %s did not answer; 408", self.call_id,
                        self.target_uri)
            self._answer_caller(408, "Request Timeout")
            return
        self.endpoint.send(data, self.target)
        following = min(interval * 2, T2)
        self._timer = self.endpoint.timers.after(
            following, lambda: self._retransmit(data, following, waited + following))

    def _ring_timeout(self) -> None:
        with self._lock:
            if self.final or self._done or self.forwarded is None:
                return
        log.info("[call %s] the forward target %s rang for [sip] ring_timeout; CANCEL",
                 self.call_id, self.target_uri)
        self._cancel_target()

    def _cancel_target(self) -> None:
        if self.forwarded is not None:
            self.endpoint.send(sipmsg.cancel_for(self.forwarded).encode(), self.target)

    def _answer_caller(self, status: int, reason: str) -> None:
        """A final answer of our own (the target never answered)."""
        data = sipmsg.response(self.invite, status, reason, to_tag=sipmsg.new_tag()).encode()
        with self._lock:
            self.final, self._relayed = status, data
        self.endpoint.send(data, self.caller)
        self._linger()

    def _linger(self) -> None:
        """Keep answering retransmissions for a while, then forget the call."""
        self.endpoint.timers.after(LINGER, lambda: self.endpoint.unproxy(self))

    def close(self) -> None:
        with self._lock:
            self._done = True
        for timer in (self._timer, self._deadline):
            if timer is not None:
                timer.cancel()

    # -- from the endpoint -----------------------------------------------------------------
    def on_response(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        vias = message.all("Via")
        top = vias[0] if vias else ""
        if sipmsg.param(top, "branch") != self.branch:
            self._relay_response(message)           # of a request forwarded statelessly
            if message.cseq[1] == "BYE" and 200 <= message.status < 300:
                self._linger()                       # the dialog is over
            return
        if message.cseq[1] == "CANCEL":
            return                                   # our CANCEL's 200: nothing to relay
        with self._lock:
            self._heard = True
            if 100 < message.status < 300 and sipmsg.tag(message.get("To")):
                self._target_tags.add(sipmsg.tag(message.get("To")))
        if message.status == 100:
            return                                   # hop by hop (§16.7 step 5)
        if message.status >= 300:
            # §16.7 step 5 / §17.1.1.3: the ACK of a failure is ours to send, not relayed.
            self.endpoint.send(sipmsg.ack_non_2xx(message, self.target_uri).encode(), source)
            with self._lock:
                first = not self.final
                self.final = message.status
            if not first:
                return                               # a retransmission, already relayed
            if self._deadline is not None:
                self._deadline.cancel()
            self._linger()
        elif message.status >= 200:
            with self._lock:
                self.final = self.final or message.status
            if self._deadline is not None:
                self._deadline.cancel()
        relayed = server_response(message, self.invite).encode()
        self.endpoint.send(relayed, self.caller)
        with self._lock:
            self._relayed = relayed

    def _relay_response(self, message: sipmsg.SipMessage) -> None:
        out = relayed_response(message)
        if out is None:
            log.warning("[call %s] a %d with no Via left to relay it to; dropped",
                        self.call_id, message.status)
            return
        response, address = out
        self.endpoint.send(response.encode(), address)

    def on_request(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        initial = not sipmsg.tag(message.get("To"))
        if initial and message.method == "INVITE":
            with self._lock:
                relayed = self._relayed
            if relayed:                              # the caller retransmits its INVITE
                self.endpoint.send(relayed, source)
            return
        if initial and message.method == "CANCEL":
            self.endpoint.send(sipmsg.response(message, 200, "OK").encode(), source)
            with self._lock:
                pending = not self.final
            if pending:                              # the target's 487 is relayed back
                self._cancel_target()
            return
        if message.method == "ACK" and message.cseq[0] == self.invite.cseq[0] and \
                self.final >= 300 and not message.all("Route"):
            return                                   # the caller's ACK of a relayed failure
        self._forward_in_dialog(message, source)

    def _in_dialog(self, message: sipmsg.SipMessage) -> bool:
        """Both tags are the dialog's, in either direction: a Call-ID alone, which anyone
        who saw one packet knows, must not make us relay a request anywhere (RFC 3261
        §12.2.2; the same rule as our own legs')."""
        tags = {sipmsg.tag(message.get("From")), sipmsg.tag(message.get("To"))}
        with self._lock:
            return any(tags == {self._caller_tag, target} for target in self._target_tags)

    def _forward_in_dialog(self, message: sipmsg.SipMessage, source: tuple[str, int]) -> None:
        """Loose routing (§16.12): drop our Route, send to the next Route or the
        Request-URI, with a stateless branch. Only requests of the dialog (its tags)."""
        if not self._in_dialog(message):
            log.warning("[call %s] %s from %s:%d does not match the forwarded dialog's tags; "
                        "481", self.call_id, message.method, *source)
            if message.method != "ACK":
                self.endpoint.send(sipmsg.response(
                    message, 481, "Call/Transaction Does Not Exist").encode(), source)
            return
        via = self._via(stateless_branch(message, self.branch))
        forwarded = forwarded_request(message, via=via, source=source,
                                      own_route=self.record_route)
        if forwarded is None:
            if message.method != "ACK":
                self.endpoint.send(sipmsg.response(message, 483, "Too Many Hops").encode(),
                                   source)
            return
        routes = forwarded.all("Route")
        hop = sipmsg.name_addr_uri(routes[0]) if routes else forwarded.uri
        self.endpoint.send(forwarded.encode(), sipmsg.uri_host_port(hop))
