"""RFC 3428 SIP MESSAGE sender: text to a registered SIP client through the SIP server.

Restcomm (seed 003) delivers a message whose ``To`` is ``client:alice`` as a SIP MESSAGE to the
registered client ``alice`` rather than as an SMS. We do the same through the configured SIP
server (registrar/proxy such as Kamailio): the request goes to the server with Request-URI
``sip:alice@<domain>``, the server looks up the registration and relays it.

pyVoIP 1.6.8 has no MESSAGE support, so this is a small independent UDP client:

* :func:`build_message` / :func:`parse_response` are pure; the digest answer is
  :func:`ivr.voice.sipmsg.digest_response`, shared with calls and REGISTER.
* :class:`SipMessageSender` sends one MESSAGE per call, with RFC 3261 §17.1.2 non-INVITE
  retransmissions (timer E from T1 = 0.5 s doubling to T2 = 4 s) until a final response or the
  timeout, and answers one 401/407 digest challenge (RFC 3261 §22, RFC 2617 MD5, qop=auth).
* :class:`SipMessageTransport` wraps it as an SMS :class:`~ivr.sms.transports.base.Transport`,
  so a route ``client: -> <name>`` sends Restcomm ``client:`` recipients this way;
  :func:`from_url` builds one from ``sip://user:password@server:5060?domain=…``.

Errors: a timeout, 408, 480, 486 and 5xx are transient (the dispatcher retries); 404, 604 and
the other 4xx/6xx answers are permanent (the client is not registered or refuses).
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
import urllib.parse
from dataclasses import dataclass, field

from ivr.errors import ConfigError, TransportError
from ivr.sms.message import Message, Status
from ivr.sms.transports.base import DeliveryReport, SubmitResult, TransportEvents
from ivr.voice.sipmsg import digest_response

__all__ = [
    "SipMessageSender",
    "SipMessageTransport",
    "SipResponse",
    "build_message",
    "digest_response",
    "from_url",
    "parse_response",
]

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0                     # RFC 3261 §17.1.1.1 timer defaults
TRANSIENT = frozenset({408, 480, 486, 500, 503, 504, 600})
MAX_DATAGRAM = 65535


@dataclass(frozen=True)
class SipResponse:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)   # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower()) or [""]
        return values[0]


# RFC 3261 §7.3.3 compact header forms we may meet in responses
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type"}


def parse_response(data: bytes) -> SipResponse:
    """Parse a SIP response datagram; ValueError when it is not one."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("SIP/2.0"):
        raise ValueError(f"not a SIP response: {lines[0][:60]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return SipResponse(int(status_line[1]), status_line[2] if len(status_line) > 2 else "",
                       headers, body)


def build_message(*, request_uri: str, from_uri: str, to_uri: str, call_id: str, cseq: int,
                  branch: str, from_tag: str, via_host: str, via_port: int, body: str,
                  content_type: str = "text/plain;charset=UTF-8",
                  authorization: str = "", user_agent: str = "ivr") -> bytes:
    """One MESSAGE request (RFC 3428 §4: no Contact, body in the request, 1300-byte advice)."""
    payload = body.encode("utf-8")
    lines = [
        f"MESSAGE {request_uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {via_host}:{via_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <{from_uri}>;tag={from_tag}",
        f"To: <{to_uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} MESSAGE",
        f"User-Agent: {user_agent}",
    ]
    if authorization:
        lines.append(authorization)
    lines += [f"Content-Type: {content_type}", f"Content-Length: {len(payload)}", "", ""]
    return "\r\n".join(lines).encode("utf-8") + payload


class SipMessageSender:
    """Sends MESSAGE requests to ``server:port`` over UDP from ``bind_host``."""

    def __init__(self, server: str, port: int = 5060, *, bind_host: str = "127.0.0.1",
                 domain: str = "", from_user: str = "ivr", username: str = "",
                 password: str = "", timeout: float = 8.0) -> None:
        if not server:
            raise ConfigError("sip message: a SIP server (registrar/proxy) is required")
        self.server, self.port = server, port
        self.bind_host = bind_host
        self.domain = domain or server
        self.from_user = from_user
        self.username, self.password = username, password
        self.timeout = timeout

    def send(self, to_user: str, body: str, *, from_user: str = "",
             ref: str = "") -> tuple[str, int]:
        """Deliver ``body`` to the client ``to_user``; return the Call-ID and the 2xx status.

        Raises TransportError with the SIP status (``SIP 404``) on a final failure and a
        retryable one on timeout or 408/480/486/5xx.
        """
        user = urllib.parse.quote(to_user, safe="-_.!~*'()&=+$,;?/")
        request_uri = f"sip:{user}@{self.domain}"
        from_uri = f"sip:{from_user or self.from_user}@{self.domain}"
        call_id = f"{secrets.token_hex(12)}@{self.bind_host}"
        from_tag = secrets.token_hex(6)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.bind_host, 0))
            local_port = sock.getsockname()[1]
            authorization = ""
            for cseq in (1, 2):
                branch = "z9hG4bK" + secrets.token_hex(8)
                packet = build_message(request_uri=request_uri, from_uri=from_uri,
                                       to_uri=request_uri, call_id=call_id, cseq=cseq,
                                       branch=branch, from_tag=from_tag,
                                       via_host=self.bind_host, via_port=local_port, body=body,
                                       authorization=authorization)
                log.debug("message %s: MESSAGE -> %s:%d\n%s", ref, self.server, self.port,
                          packet[:600].decode("utf-8", errors="replace"))
                response = self._transaction(sock, packet, branch, ref)
                if response.status in (401, 407) and cseq == 1 and self.username:
                    name = "www-authenticate" if response.status == 401 else "proxy-authenticate"
                    header = "Authorization" if response.status == 401 else "Proxy-Authorization"
                    try:
                        credentials = digest_response(response.header(name), method="MESSAGE",
                                                      uri=request_uri, username=self.username,
                                                      password=self.password)
                    except ValueError as exc:
                        raise TransportError(f"SIP {response.status}: {exc}",
                                             code=f"SIP {response.status}",
                                             retryable=False) from None
                    authorization = f"{header}: {credentials}"
                    continue
                if 200 <= response.status < 300:
                    log.info("message %s: SIP MESSAGE to %s accepted (%d %s)", ref, to_user,
                             response.status, response.reason)
                    return call_id, response.status
                log.warning("message %s: SIP MESSAGE to %s refused: %d %s", ref, to_user,
                            response.status, response.reason)
                raise TransportError(f"SIP {response.status} {response.reason}".strip(),
                                     code=f"SIP {response.status}",
                                     retryable=response.status in TRANSIENT
                                     or response.status >= 500,
                                     error_code=30003 if response.status in (404, 480, 604)
                                     else 30008)
        raise TransportError("SIP authentication failed", code="SIP 401", retryable=False)

    def _transaction(self, sock: socket.socket, packet: bytes, branch: str,
                     ref: str) -> SipResponse:
        """Send with timer-E retransmissions until a final response for ``branch``."""
        deadline = time.monotonic() + self.timeout
        interval = T1
        next_send = time.monotonic()
        provisional = False
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TransportError(f"no final SIP response within {self.timeout:g} s",
                                     code="SIP timeout", retryable=True)
            if now >= next_send:
                sock.sendto(packet, (self.server, self.port))
                next_send = now + interval
                # timer E doubles up to T2; after a provisional answer it stays at T2 (§17.1.2.2)
                interval = T2 if provisional else min(interval * 2, T2)
            sock.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
            try:
                data, _ = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            try:
                response = parse_response(data)
            except ValueError:
                log.debug("message %s: ignoring non-response datagram", ref)
                continue
            if f"branch={branch}" not in response.header("via"):
                continue   # a late answer to an earlier attempt
            if response.status < 200:
                provisional = True
                continue
            return response


class SipMessageTransport:
    """SMS transport for ``client:<name>`` recipients (Restcomm semantics, seed 003)."""

    def __init__(self, name: str, sender: SipMessageSender) -> None:
        self.name = name
        self.sender = sender
        self.max_in_flight = 4
        self.rate_limit = 0.0
        self._stopped = False
        self._events: TransportEvents | None = None

    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def healthy(self) -> bool:
        return not self._stopped

    def send(self, message: Message) -> SubmitResult:
        if self._stopped:
            raise TransportError("transport stopped", code="stopped", retryable=True)
        recipient = message.recipient
        user = recipient.removeprefix("client:").removeprefix("sip:").split("@", 1)[0]
        if not user:
            raise TransportError(f"no client name in {recipient!r}", code="SIP address",
                                 retryable=False, error_code=30005)
        sender = message.sender.removeprefix("client:") or self.sender.from_user
        call_id, status = self.sender.send(user, message.body, from_user=sender, ref=message.id)
        if status == 200 and self._events is not None:
            # RFC 3428 §7: 200 means the user agent itself took the message (delivered); 202
            # means a store-and-forward hop accepted it, so we stay at "sent".
            for _ in range(max(1, len(message.parts))):
                self._events.on_delivery_report(DeliveryReport(
                    transport=self.name, status=Status.DELIVERED, provider_id=call_id,
                    recipient=recipient, raw="SIP/2.0 200"))
        return SubmitResult(provider_ids=[call_id] * max(1, len(message.parts)))


def from_url(name: str, url: str) -> SipMessageTransport:
    """``sip://[user:password@]server[:port]?domain=…&bind_host=…&from=…&timeout=…``

    (``sipmessage://`` is accepted as a synonym.)
    """
    split = urllib.parse.urlsplit(url)
    if split.scheme not in ("sip", "sipmessage") or not split.hostname:
        raise ConfigError(f"transport {name!r}: expected sip://server[:port], got {url!r}")
    options = dict(urllib.parse.parse_qsl(split.query))
    unknown = set(options) - {"domain", "bind_host", "from", "timeout"}
    if unknown:
        raise ConfigError(f"transport {name!r}: unknown option {sorted(unknown)[0]!r}")
    try:
        timeout = float(options.get("timeout", "8"))
    except ValueError:
        raise ConfigError(f"transport {name!r}: timeout must be a number") from None
    sender = SipMessageSender(
        split.hostname, split.port or 5060, bind_host=options.get("bind_host", "127.0.0.1"),
        domain=options.get("domain", ""), from_user=options.get("from", "ivr"),
        username=urllib.parse.unquote(split.username or ""),
        password=urllib.parse.unquote(split.password or ""), timeout=timeout)
    return SipMessageTransport(name, sender)
